#include "exr_header.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
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
class HeaderReader {
 public:
  HeaderReader(std::vector<unsigned char> bytes, const std::filesystem::path& path) : b_(std::move(bytes)), path_(path) {}

  ExrPlateLayout layout() {
    check(b_.size() >= 8 && b_[0] == 0x76 && b_[1] == 0x2f && b_[2] == 0x31 && b_[3] == 0x01, "not an OpenEXR file");
    check((b_[5] & 0x18) == 0, "a multi-part or deep OpenEXR file; single-part images are read");
    at_ = 8;
    std::vector<std::pair<std::string, std::int32_t>> channels;
    std::array<std::int32_t, 4> data{}, display{};
    bool has_data = false, has_display = false;
    for (;;) {
      const std::string name = text();
      if (name.empty()) break;
      const std::string type = text();
      const std::int32_t size = int32();
      check(size >= 0 && std::size_t(size) <= b_.size() - at_, "a truncated or damaged header");
      const std::size_t end = at_ + std::size_t(size);
      if (name == "channels" && type == "chlist") channels = channel_list(end);
      if (type == "box2i" && size == 16 && (name == "dataWindow" || name == "displayWindow")) {
        auto& box = name == "dataWindow" ? data : display;
        for (auto& v : box) v = int32();
        (name == "dataWindow" ? has_data : has_display) = true;
      }
      at_ = end;
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
  std::vector<std::pair<std::string, std::int32_t>> channel_list(std::size_t end) {
    std::vector<std::pair<std::string, std::int32_t>> channels;
    while (at_ < end && b_[at_] != 0) {
      std::string name = text();
      const std::int32_t pixel_type = int32();
      check(at_ + 12 <= end, "a truncated channel list");
      at_ += 12;  // pLinear, 3 reserved bytes, x and y sampling
      channels.emplace_back(std::move(name), pixel_type);
    }
    return channels;
  }
  std::string text() {
    const auto zero = std::find(b_.begin() + std::ptrdiff_t(at_), b_.end(), 0);
    check(zero != b_.end(), "a truncated or damaged header");
    std::string t(b_.begin() + std::ptrdiff_t(at_), zero);
    at_ = std::size_t(zero - b_.begin()) + 1;
    return t;
  }
  std::int32_t int32() {
    check(at_ + 4 <= b_.size(), "a truncated or damaged header");
    const std::uint32_t v = std::uint32_t(b_[at_]) | std::uint32_t(b_[at_ + 1]) << 8 | std::uint32_t(b_[at_ + 2]) << 16 |
                            std::uint32_t(b_[at_ + 3]) << 24;
    at_ += 4;
    return std::int32_t(v);
  }
  void check(bool ok, const char* what) const { graft::check(ok, path_.string(), ": ", what); }

  std::vector<unsigned char> b_;
  const std::filesystem::path& path_;
  std::size_t at_ = 0;
};

}  // namespace

ExrPlateLayout read_exr_plate_layout(const std::filesystem::path& path) {
  constexpr std::size_t most = 1 << 20;
  std::ifstream in(path, std::ios::binary);
  graft::check(bool(in), path.string(), ": cannot open for reading");
  std::vector<unsigned char> bytes(most);
  in.read(reinterpret_cast<char*>(bytes.data()), std::streamsize(most));
  graft::check(!in.bad(), path.string(), ": read error");
  bytes.resize(std::size_t(in.gcount()));
  return HeaderReader(std::move(bytes), path).layout();
}

}  // namespace faceswap
