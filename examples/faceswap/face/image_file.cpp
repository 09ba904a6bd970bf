#include "image_file.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <graft/core/error.hpp>
#include <graft/io/atomic_file.hpp>
#include <mutex>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <vector>

#include "scene_linear.hpp"

namespace faceswap {
namespace {

std::string lower_extension(const std::filesystem::path& p) {
  std::string e = p.extension().string();
  std::ranges::transform(e, e.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return e;
}

std::vector<unsigned char> read_bytes(const std::filesystem::path& path) {
  std::error_code ec;
  graft::check(std::filesystem::exists(path, ec), path.string(), ": no such file");
  graft::check(std::filesystem::is_regular_file(path, ec), path.string(), ": not a file");
  std::ifstream in(path, std::ios::binary);
  graft::check(bool(in), path.string(), ": cannot open for reading");
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  graft::check(!in.bad(), path.string(), ": read error");
  return bytes;
}

bool starts_with(const std::vector<unsigned char>& b, std::initializer_list<unsigned char> prefix) {
  return b.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), b.begin());
}

// The container's own end marker must be there; trailing zero bytes (some
// cameras pad files) are allowed after it.
void check_complete(const std::filesystem::path& path, const std::vector<unsigned char>& b) {
  std::size_t end = b.size();
  while (end > 0 && b[end - 1] == 0) --end;
  if (starts_with(b, {0xFF, 0xD8})) {
    graft::check(end >= 4 && b[end - 2] == 0xFF && b[end - 1] == 0xD9, path.string(),
                 ": truncated JPEG (no end-of-image marker); the file is damaged or was not written completely");
  } else if (starts_with(b, {0x89, 'P', 'N', 'G'})) {
    const unsigned char iend[] = {'I', 'E', 'N', 'D'};
    graft::check(end >= 12 && std::equal(iend, iend + 4, b.begin() + std::ptrdiff_t(end) - 8), path.string(),
                 ": truncated PNG (no IEND chunk); the file is damaged or was not written completely");
  }
}

}  // namespace

bool is_image_path(const std::filesystem::path& path) {
  const std::string e = lower_extension(path);
  return e == ".png" || e == ".jpg" || e == ".jpeg" || e == ".bmp" || e == ".tif" || e == ".tiff" || e == ".exr";
}

bool is_exr_path(const std::filesystem::path& path) { return lower_extension(path) == ".exr"; }

void enable_exr() {
  static std::once_flag once;
  std::call_once(once, [] { ::setenv("OPENCV_IO_ENABLE_OPENEXR", "1", 0); });
}

namespace {

// An OpenEXR header: the magic number, 4 bytes of version and flags, then
// attributes (name, type name, 4-byte size, value) up to an empty name. The
// "channels" attribute (a chlist) lists each channel: its name, a 4-byte
// pixel type (0 uint, 1 half, 2 float), 12 more bytes.
class ExrHeader {
 public:
  ExrHeader(const std::vector<unsigned char>& bytes, const std::filesystem::path& path) : b_(bytes), path_(path) {}

  bool all_half() {
    check(b_.size() >= 8 && b_[0] == 0x76 && b_[1] == 0x2f && b_[2] == 0x31 && b_[3] == 0x01, "not an OpenEXR file");
    check((b_[5] & 0x10) == 0, "a multi-part OpenEXR file; single-part images are read");
    at_ = 8;
    for (;;) {
      const std::string name = text();
      if (name.empty()) break;
      const std::string type = text();
      const std::size_t size = std::size_t(int32());
      check(at_ + size <= b_.size(), "a truncated header");
      if (name == "channels" && type == "chlist") return channels_all_half(at_ + size);
      at_ += size;
    }
    check(false, "no channel list in the header");
    return false;
  }

 private:
  bool channels_all_half(std::size_t end) {
    int channels = 0;
    bool half = true;
    while (at_ < end && b_[at_] != 0) {
      text();
      const std::int32_t pixel_type = int32();
      half = half && pixel_type == 1;
      check(at_ + 12 <= end, "a truncated channel list");
      at_ += 12;  // pLinear, 3 reserved bytes, x and y sampling
      ++channels;
    }
    check(channels > 0, "no channels");
    return half;
  }
  std::string text() {
    const auto zero = std::find(b_.begin() + std::ptrdiff_t(at_), b_.end(), 0);
    check(zero != b_.end(), "a truncated header");
    std::string t(b_.begin() + std::ptrdiff_t(at_), zero);
    at_ = std::size_t(zero - b_.begin()) + 1;
    return t;
  }
  std::int32_t int32() {
    check(at_ + 4 <= b_.size(), "a truncated header");
    std::int32_t v = 0;
    std::memcpy(&v, b_.data() + at_, 4);  // little-endian, as OpenEXR stores it and x86/ARM run
    at_ += 4;
    return v;
  }
  void check(bool ok, const char* what) const { graft::check(ok, path_.string(), ": ", what); }

  const std::vector<unsigned char>& b_;
  const std::filesystem::path& path_;
  std::size_t at_ = 0;
};

}  // namespace

bool exr_stores_half(const std::filesystem::path& path) { return ExrHeader(read_bytes(path), path).all_half(); }

namespace {

cv::Mat decode(const std::filesystem::path& path, const std::vector<unsigned char>& bytes, int flags) {
  graft::check(!bytes.empty(), path.string(), ": empty file");
  check_complete(path, bytes);
  if (is_exr_path(path)) enable_exr();
  cv::Mat image;
  try {
    image = cv::imdecode(bytes, flags);
  } catch (const cv::Exception& e) {
    graft::fail(path.string(), ": cannot decode the image: ", e.what());
  }
  graft::check(!image.empty(), path.string(), ": not an image OpenCV can decode (PNG, JPEG, BMP, TIFF or OpenEXR expected)");
  return image;
}

cv::Mat decode(const std::filesystem::path& path, int flags) { return decode(path, read_bytes(path), flags); }

// An EXR's bytes as linear float BGR.
cv::Mat decode_exr(const std::filesystem::path& path, const std::vector<unsigned char>& bytes) {
  cv::Mat image = decode(path, bytes, cv::IMREAD_COLOR | cv::IMREAD_ANYDEPTH);
  graft::check(image.type() == CV_32FC3, path.string(), ": an OpenEXR image with float channels was expected");
  return image;
}

}  // namespace

cv::Mat read_image(const std::filesystem::path& path, bool color) {
  if (!is_exr_path(path)) return decode(path, color ? cv::IMREAD_COLOR : cv::IMREAD_GRAYSCALE);
  cv::Mat image = display_image(decode_exr(path, read_bytes(path)));
  if (!color) cv::cvtColor(image, image, cv::COLOR_BGR2GRAY);
  return image;
}

cv::Mat read_plate(const std::filesystem::path& path, bool* stores_half) {
  if (stores_half) *stores_half = false;
  if (is_exr_path(path)) {
    const std::vector<unsigned char> bytes = read_bytes(path);
    graft::check(!bytes.empty(), path.string(), ": empty file");
    if (stores_half) *stores_half = ExrHeader(bytes, path).all_half();
    return decode_exr(path, bytes);
  }
  cv::Mat image = decode(path, cv::IMREAD_COLOR | cv::IMREAD_ANYDEPTH);
  graft::check(image.depth() == CV_8U || image.depth() == CV_16U, path.string(),
               ": frames of 8 or 16 bits per channel are supported, and OpenEXR; this one has another depth (32-bit float?): "
               "convert it to 16-bit PNG or TIFF, or to OpenEXR if it is linear light");
  return image;
}

std::vector<unsigned char> encode_image(const std::filesystem::path& path, const cv::Mat& image, const ImageEncoding& encoding) {
  const std::string e = lower_extension(path);
  std::vector<int> params;
  if (e == ".jpg" || e == ".jpeg") params = {cv::IMWRITE_JPEG_QUALITY, encoding.jpeg_quality};
  if (e == ".exr") {
    enable_exr();
    params = {cv::IMWRITE_EXR_TYPE, encoding.half_float ? cv::IMWRITE_EXR_TYPE_HALF : cv::IMWRITE_EXR_TYPE_FLOAT};
  }
  std::vector<unsigned char> bytes;
  bool encoded = false;
  try {
    encoded = cv::imencode(e, image, bytes, params);
  } catch (const cv::Exception& ex) {
    graft::fail(path.string(), ": cannot encode the image: ", ex.what());
  }
  graft::check(encoded, path.string(), ": cannot encode the image as ", e);
  return bytes;
}

void write_image(const std::filesystem::path& path, const cv::Mat& image, const ImageEncoding& encoding) {
  const std::vector<unsigned char> bytes = encode_image(path, image, encoding);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  graft::check(bool(out), path.string(), ": cannot open for writing");
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  out.flush();
  graft::check(bool(out), path.string(), ": write failed (disk full?)");
}

void write_image_atomically(const std::filesystem::path& path, const cv::Mat& image) {
  const std::vector<unsigned char> bytes = encode_image(path, image);
  graft::io::write_file_atomically(path, std::as_bytes(std::span(bytes)));
}

}  // namespace faceswap
