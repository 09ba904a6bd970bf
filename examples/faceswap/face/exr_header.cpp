#include "exr_header.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <graft/core/error.hpp>
#include <string>
#include <vector>

namespace faceswap {
namespace {

// The file layout (openexr.com, "OpenEXR File Layout"): the magic number, 4
// bytes of version and flags, then attributes (name, type name, a 4-byte
// size, the value) up to an empty name. A chlist value lists channels (name,
// 4-byte pixel type: 0 uint, 1 half, 2 float; 12 more bytes) up to an empty
// name; a box2i is xMin, yMin, xMax, yMax. Integers are little-endian.
// Read from the file as it goes: a header is a few hundred bytes, a plate
// tens of megabytes, and the values of attributes not asked about are
// skipped, not read.
class HeaderReader {
 public:
  explicit HeaderReader(const std::filesystem::path& path) : path_(path), in_(path, std::ios::binary) {
    graft::check(bool(in_), path.string(), ": cannot open for reading");
    std::error_code ec;
    size_ = std::filesystem::file_size(path, ec);
    graft::check(!ec, path.string(), ": cannot read its size: ", ec.message());
  }

  ExrPlateLayout layout() {
    std::array<unsigned char, 8> start{};
    check(size_ >= start.size() && read(start.data(), start.size()) && start[0] == 0x76 && start[1] == 0x2f && start[2] == 0x31 &&
              start[3] == 0x01,
          "not an OpenEXR file");
    check((start[5] & 0x18) == 0, "a multi-part or deep OpenEXR file; single-part images are read");
    std::vector<std::pair<std::string, std::int32_t>> channels;
    std::array<std::int32_t, 4> data{}, display{};
    bool has_data = false, has_display = false;
    for (;;) {
      const std::string name = text();
      if (name.empty()) break;
      const std::string type = text();
      const std::int32_t size = int32();
      check(size >= 0 && std::uintmax_t(size) <= size_ - at_, "a truncated or damaged header");
      const std::uintmax_t end = at_ + std::uintmax_t(size);
      if (name == "channels" && type == "chlist") channels = channel_list(end);
      if (type == "box2i" && size == 16 && (name == "dataWindow" || name == "displayWindow")) {
        auto& box = name == "dataWindow" ? data : display;
        for (auto& v : box) v = int32();
        (name == "dataWindow" ? has_data : has_display) = true;
      }
      skip_to(end);
    }
    check(has_data && has_display, "no data or display window in the header");
    check(data == display,
          "its data window differs from its display window (overscan or a crop), which the plate would lose; "
          "write the plate with the data window equal to the display window");
    ExrPlateLayout out{.half = true};
    for (const char* wanted : {"R", "G", "B"}) {
      const auto found = std::ranges::find(channels, std::string(wanted), &std::pair<std::string, std::int32_t>::first);
      if (found == channels.end()) {
        std::string names;
        for (const auto& [n, t] : channels) names += (names.empty() ? "" : ", ") + n;
        graft::fail(path_.string(), ": no ", wanted, " channel (it has: ", names,
                    "); plates with R, G and B channels are read, without a layer prefix");
      }
      out.half = out.half && found->second == 1;
    }
    return out;
  }

 private:
  std::vector<std::pair<std::string, std::int32_t>> channel_list(std::uintmax_t end) {
    std::vector<std::pair<std::string, std::int32_t>> channels;
    for (;;) {
      check(at_ < end, "a truncated channel list");
      std::string name = text();
      if (name.empty()) break;
      const std::int32_t pixel_type = int32();
      check(at_ + 12 <= end, "a truncated channel list");
      skip_to(at_ + 12);  // pLinear, 3 reserved bytes, x and y sampling
      channels.emplace_back(std::move(name), pixel_type);
    }
    return channels;
  }
  bool read(unsigned char* to, std::size_t n) {
    in_.read(reinterpret_cast<char*>(to), std::streamsize(n));
    graft::check(!in_.bad(), path_.string(), ": read error");
    at_ += std::uintmax_t(in_.gcount());
    return std::size_t(in_.gcount()) == n;
  }
  // A name: at most 255 bytes and a zero (OpenEXR's long names), so a
  // damaged header fails here, not after reading the whole file.
  std::string text() {
    std::string t;
    for (unsigned char c = 0;;) {
      check(read(&c, 1) && t.size() <= 255, "a truncated or damaged header");
      if (c == 0) return t;
      t += char(c);
    }
  }
  std::int32_t int32() {
    std::array<unsigned char, 4> b{};
    check(read(b.data(), b.size()), "a truncated or damaged header");
    return std::int32_t(std::uint32_t(b[0]) | std::uint32_t(b[1]) << 8 | std::uint32_t(b[2]) << 16 | std::uint32_t(b[3]) << 24);
  }
  void skip_to(std::uintmax_t to) {
    if (to == at_) return;
    in_.seekg(std::streamoff(to));
    check(bool(in_), "a truncated or damaged header");
    at_ = to;
  }
  void check(bool ok, const char* what) const { graft::check(ok, path_.string(), ": ", what); }

  const std::filesystem::path& path_;
  std::ifstream in_;
  std::uintmax_t size_ = 0, at_ = 0;  // the file's size; bytes read or skipped
};

}  // namespace

ExrPlateLayout read_exr_plate_layout(const std::filesystem::path& path) { return HeaderReader(path).layout(); }

}  // namespace faceswap
