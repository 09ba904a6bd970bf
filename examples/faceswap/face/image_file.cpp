#include "image_file.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <graft/core/error.hpp>
#include <graft/io/atomic_file.hpp>
#include <mutex>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <vector>

#include "exr_header.hpp"
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

cv::Mat decode(const std::filesystem::path& path, int flags) {
  const std::vector<unsigned char> bytes = read_bytes(path);
  graft::check(!bytes.empty(), path.string(), ": empty file");
  check_complete(path, bytes);
  cv::Mat image;
  try {
    image = cv::imdecode(bytes, flags);
  } catch (const cv::Exception& e) {
    graft::fail(path.string(), ": cannot decode the image: ", e.what());
  }
  graft::check(!image.empty(), path.string(), ": not an image OpenCV can decode (PNG, JPEG, BMP or TIFF expected)");
  return image;
}

std::vector<int> exr_parameters(const ImageEncoding& encoding) {
  return {cv::IMWRITE_EXR_TYPE, encoding.half_float ? cv::IMWRITE_EXR_TYPE_HALF : cv::IMWRITE_EXR_TYPE_FLOAT};
}

// An OpenEXR plate as linear float BGR (and how it stores its channels).
// cv::imread, not imdecode: OpenCV decodes EXR bytes through a temporary file.
cv::Mat read_exr(const std::filesystem::path& path, ExrPlateLayout* layout) {
  std::error_code ec;
  graft::check(std::filesystem::is_regular_file(path, ec), path.string(), ": no such file");
  const ExrPlateLayout found = read_exr_plate_layout(path);
  if (layout) *layout = found;
  cv::Mat image;
  try {
    image = cv::imread(path.string(), cv::IMREAD_COLOR | cv::IMREAD_ANYDEPTH);
  } catch (const cv::Exception& e) {
    graft::fail(path.string(), ": cannot decode the OpenEXR image: ", e.what());
  }
  graft::check(!image.empty(), path.string(),
               ": cannot decode the OpenEXR image (truncated or damaged, or OpenCV built without OpenEXR; faceswap sets "
               "OPENCV_IO_ENABLE_OPENEXR=1 unless it is set)");
  graft::check(image.type() == CV_32FC3, path.string(), ": an OpenEXR image with float channels was expected");
  return image;
}

}  // namespace

cv::Mat read_image(const std::filesystem::path& path, bool color) {
  if (!is_exr_path(path)) return decode(path, color ? cv::IMREAD_COLOR : cv::IMREAD_GRAYSCALE);
  cv::Mat image = display_image(read_exr(path, nullptr));
  if (!color) cv::cvtColor(image, image, cv::COLOR_BGR2GRAY);
  return image;
}

cv::Mat read_plate(const std::filesystem::path& path, bool* stores_half) {
  if (stores_half) *stores_half = false;
  if (is_exr_path(path)) {
    ExrPlateLayout layout;
    cv::Mat image = read_exr(path, &layout);
    if (stores_half) *stores_half = layout.half;
    return image;
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
  if (e == ".exr") params = exr_parameters(encoding);
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
  if (is_exr_path(path)) {  // imwrite, not imencode: OpenCV encodes EXR bytes through a temporary file
    bool written = false;
    try {
      written = cv::imwrite(path.string(), image, exr_parameters(encoding));
    } catch (const cv::Exception& e) {
      graft::fail(path.string(), ": cannot write the OpenEXR image: ", e.what());
    }
    graft::check(written, path.string(), ": cannot write the OpenEXR image (disk full, or no permission?)");
    return;
  }
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
