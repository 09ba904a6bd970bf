// Training metrics where people look for them: a JSON-lines file for scripts
// and TensorBoard event files for the browser.
//
// TensorBoard reads TFRecord files of protobuf `Event` messages. graft writes
// the few fields a scalar needs by hand (wall_time, step, file_version and
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

// Protobuf wire format: the few encodings an Event needs.
inline void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out += char((v & 0x7F) | 0x80);
    v >>= 7;
  }
  out += char(v);
}
inline void put_key(std::string& out, int field, int wire_type) {
  put_varint(out, std::uint64_t(field) << 3 | std::uint64_t(wire_type));
}
template <class T>
void put_little_endian(std::string& out, T value) {
  const auto bits = std::bit_cast<std::conditional_t<sizeof(T) == 8, std::uint64_t, std::uint32_t>>(value);
  for (std::size_t i = 0; i < sizeof(T); ++i) out += char((bits >> (8 * i)) & 0xFF);
}
inline void put_bytes(std::string& out, int field, std::string_view bytes) {
  put_key(out, field, 2);
  put_varint(out, bytes.size());
  out += bytes;
}

// An Event: wall_time = 1 (double), step = 2 (int64), file_version = 3 or summary = 5.
inline std::string event(double wall_time, std::int64_t step) {
  std::string e;
  put_key(e, 1, 1);
  put_little_endian(e, wall_time);
  put_key(e, 2, 0);
  put_varint(e, std::uint64_t(step));
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
    detail::put_bytes(first, 3, "brain.Event:2");
    record(first);
  }

  void scalar(std::string_view tag, float value, std::int64_t step) {
    std::string value_message;
    detail::put_bytes(value_message, 1, tag);
    detail::put_key(value_message, 2, 5);
    detail::put_little_endian(value_message, value);
    std::string summary;
    detail::put_bytes(summary, 1, value_message);
    std::string e = detail::event(now(), step);
    detail::put_bytes(e, 5, summary);
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
    detail::put_little_endian(header, std::uint64_t(data.size()));
    std::string framed = header;
    detail::put_little_endian(framed, detail::masked_crc(header));
    framed += data;
    detail::put_little_endian(framed, detail::masked_crc(data));
    out_.write(framed.data(), std::streamsize(framed.size()));
  }

  std::filesystem::path path_;
  std::ofstream out_;
};

}  // namespace graft::train
