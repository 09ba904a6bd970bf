// OpenEXR plates' headers (face/exr_header.hpp): what swap takes (R, G, B;
// one part; data window = display window), how the channels are stored, and
// a clear refusal, never a hang or a wrong picture, for the rest.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <graft/core/error.hpp>
#include <opencv2/imgcodecs.hpp>
#include <string>
#include <vector>

#include "face/exr_header.hpp"
#include "face/image_file.hpp"
#include "support.hpp"

namespace {

namespace fs = std::filesystem;

fs::path write_exr(const fs::path& folder, const std::string& name, const cv::Mat& image, int storage) {
  faceswap::enable_exr();
  const fs::path path = folder / name;
  REQUIRE(cv::imwrite(path.string(), image, {cv::IMWRITE_EXR_TYPE, storage}));
  return path;
}

std::vector<unsigned char> bytes_of(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const fs::path& path, const std::vector<unsigned char>& bytes) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

// Where `text` (with its terminating zero) starts in `bytes`.
std::size_t find_text(const std::vector<unsigned char>& bytes, const std::string& text) {
  const auto at = std::search(bytes.begin(), bytes.end(), text.c_str(), text.c_str() + text.size() + 1);
  REQUIRE(at != bytes.end());
  return std::size_t(at - bytes.begin());
}

}  // namespace

TEST_CASE("OpenEXR headers: half or float RGB plates are read as stored; others are refused naming the file and why") {
  faceswap::testing::Scratch scratch("exr");
  const cv::Mat rgb(6, 8, CV_32FC3, cv::Scalar(0.25, 1.5, 3.0));
  const fs::path half = write_exr(scratch.path(), "half.exr", rgb, cv::IMWRITE_EXR_TYPE_HALF);
  const fs::path full = write_exr(scratch.path(), "float.exr", rgb, cv::IMWRITE_EXR_TYPE_FLOAT);
  CHECK(faceswap::read_exr_plate_layout(half).half);
  CHECK_FALSE(faceswap::read_exr_plate_layout(full).half);
  bool stores_half = false;
  const cv::Mat plate = faceswap::read_plate(half, &stores_half);
  CHECK(stores_half);
  REQUIRE(plate.type() == CV_32FC3);
  CHECK(plate.at<cv::Vec3f>(2, 3) == cv::Vec3f(0.25f, 1.5f, 3.0f));                   // no gamma, no clipping
  CHECK(faceswap::read_image(half).at<cv::Vec3b>(0, 0) == cv::Vec3b(137, 255, 255));  // sRGB-encoded, clipped

  // Luminance only: OpenCV would give a black colour image.
  const fs::path gray =
      write_exr(scratch.path(), "gray.exr", cv::Mat(6, 8, CV_32FC1, cv::Scalar(0.5)), cv::IMWRITE_EXR_TYPE_HALF);
  CHECK_THROWS_WITH_AS(faceswap::read_plate(gray), doctest::Contains("gray.exr: no R channel (it has: Y)"), graft::Error);

  // A data window other than the display window: OpenCV would return the data window alone.
  std::vector<unsigned char> bytes = bytes_of(half);
  const std::size_t box = find_text(bytes, "dataWindow") + std::strlen("dataWindow") + 1 + std::strlen("box2i") + 1 + 4;
  bytes[box] += 1;  // xMin
  write_bytes(scratch.path() / "overscan.exr", bytes);
  CHECK_THROWS_WITH_AS(faceswap::read_plate(scratch.path() / "overscan.exr"),
                       doctest::Contains("overscan.exr: its data window differs from its display window"), graft::Error);

  // A large attribute before the channels (a preview image, say) is skipped,
  // not read; a header was read up to its first MiB once, and refused beyond.
  bytes = bytes_of(half);
  const std::string note("note\0string\0", 12);
  const std::int32_t note_size = 3 << 20;
  std::vector<unsigned char> attribute(note.begin(), note.end());
  attribute.resize(attribute.size() + 4);
  std::memcpy(attribute.data() + note.size(), &note_size, 4);
  attribute.resize(attribute.size() + std::size_t(note_size), 'n');
  bytes.insert(bytes.begin() + 8, attribute.begin(), attribute.end());
  write_bytes(scratch.path() / "large_header.exr", bytes);
  CHECK(faceswap::read_exr_plate_layout(scratch.path() / "large_header.exr").half);

  // A damaged attribute size (negative) is refused, not followed backwards for ever.
  bytes = bytes_of(half);
  const std::size_t size_at = find_text(bytes, "channels") + std::strlen("channels") + 1 + std::strlen("chlist") + 1;
  const std::int32_t negative = -8;
  std::memcpy(bytes.data() + size_at, &negative, 4);
  write_bytes(scratch.path() / "damaged.exr", bytes);
  CHECK_THROWS_WITH_AS(faceswap::read_exr_plate_layout(scratch.path() / "damaged.exr"),
                       doctest::Contains("damaged.exr: a truncated or damaged header"), graft::Error);

  // Cut inside the header, and not an EXR at all.
  write_bytes(scratch.path() / "cut.exr", std::vector<unsigned char>(bytes.begin(), bytes.begin() + 40));
  CHECK_THROWS_WITH_AS(faceswap::read_plate(scratch.path() / "cut.exr"),
                       doctest::Contains("cut.exr: a truncated or damaged header"), graft::Error);
  write_bytes(scratch.path() / "text.exr", std::vector<unsigned char>(64, 'x'));
  CHECK_THROWS_WITH_AS(faceswap::read_plate(scratch.path() / "text.exr"), doctest::Contains("text.exr: not an OpenEXR file"),
                       graft::Error);
  // Cut in the pixels: the header is whole, the decoder fails.
  bytes = bytes_of(full);
  write_bytes(scratch.path() / "short.exr", std::vector<unsigned char>(bytes.begin(), bytes.end() - 40));
  CHECK_THROWS_WITH_AS(faceswap::read_plate(scratch.path() / "short.exr"),
                       doctest::Contains("short.exr: cannot decode the OpenEXR image"), graft::Error);
}
