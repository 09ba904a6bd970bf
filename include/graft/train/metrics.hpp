// Training metrics where people look for them: a JSON-lines file for scripts
// and TensorBoard event files for the browser.
//
// TensorBoard reads TFRecord files of protobuf `Event` messages. graft writes
// the few fields a scalar needs with io/protobuf.hpp (wall_time, step, file_version and
// Summary.Value{tag, simple_value}) rather than depend on protobuf: each
// record is its length, a masked CRC-32C of the length, the bytes, and a
// masked CRC-32C of the bytes. tests/train reads the files back with the
// `tensorboard` package.
#pragma once

#include <unistd.h>

#include <bit>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "graft/core/error.hpp"
#include "graft/io/checksum.hpp"
#include "graft/io/protobuf.hpp"

namespace graft::train {

// Appends one JSON object per line; each line is flushed, so a killed run
// loses at most the line being written.
class MetricsLog {
 public:
  explicit MetricsLog(const std::filesystem::path& path) : path_(path), out_(path, std::ios::app) {
    check(bool(out_), path.string(), ": cannot open the metrics log for appending");
  }
  void write(const nlohmann::json& record) {
    out_ << record.dump() << '\n';
    out_.flush();
    check(bool(out_), path_.string(), ": write failed (disk full?)");
  }

 private:
  std::filesystem::path path_;
  std::ofstream out_;
};

namespace detail {

// An Event: wall_time = 1 (double), step = 2 (int64), file_version = 3 or summary = 5.
inline std::string event(double wall_time, std::int64_t step) {
  std::string e;
  io::protobuf::float64(e, 1, wall_time);
  io::protobuf::integer(e, 2, step);
  return e;
}

inline std::uint32_t masked_crc(std::string_view bytes) {
  const std::uint32_t crc = io::crc32c(std::as_bytes(std::span(bytes.data(), bytes.size())));
  return ((crc >> 15) | (crc << 17)) + 0xA282EAD8u;
}

}  // namespace detail

class TensorBoardWriter {
 public:
  // Creates `folder` and a new events file in it.
  explicit TensorBoardWriter(const std::filesystem::path& folder) {
    std::error_code ec;
    std::filesystem::create_directories(folder, ec);
    check(!ec, folder.string(), ": cannot create the TensorBoard folder: ", ec.message());
    char host[256] = "localhost";
    ::gethostname(host, sizeof host - 1);
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
    path_ = folder / ("events.out.tfevents." + std::to_string(seconds.count()) + "." + host + "." + std::to_string(::getpid()));
    out_.open(path_, std::ios::binary | std::ios::app);
    check(bool(out_), path_.string(), ": cannot create the TensorBoard event file");
    std::string first = detail::event(now(), 0);
    io::protobuf::bytes(first, 3, "brain.Event:2");
    record(first);
  }

  void scalar(std::string_view tag, float value, std::int64_t step) {
    std::string value_message;
    io::protobuf::bytes(value_message, 1, tag);
    io::protobuf::float32(value_message, 2, value);
    std::string summary;
    io::protobuf::bytes(summary, 1, value_message);
    std::string e = detail::event(now(), step);
    io::protobuf::bytes(e, 5, summary);
    record(e);
  }

  void flush() {
    out_.flush();
    check(bool(out_), path_.string(), ": write failed (disk full?)");
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  static double now() { return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count(); }

  void record(const std::string& data) {
    std::string header;
    io::protobuf::little_endian(header, std::uint64_t(data.size()));
    std::string framed = header;
    io::protobuf::little_endian(framed, detail::masked_crc(header));
    framed += data;
    io::protobuf::little_endian(framed, detail::masked_crc(data));
    out_.write(framed.data(), std::streamsize(framed.size()));
  }

  std::filesystem::path path_;
  std::ofstream out_;
};

}  // namespace graft::train
