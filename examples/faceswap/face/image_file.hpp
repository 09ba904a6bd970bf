// Reading and writing the images of face sets and frame folders, with errors
// that name the file.
//
// OpenEXR plates are read and written through OpenCV, whose EXR codec is off
// unless OPENCV_IO_ENABLE_OPENEXR is set: enable_exr() sets it. It must run
// before any EXR is read or written and before other threads start (setenv):
// faceswap's main() calls it first thing.
//
// OpenCV decodes a truncated JPEG without complaint (it fills the missing
// rows with grey and prints a libjpeg warning), which would put a damaged
// face into training unnoticed. So before decoding, a JPEG must end with its
// end-of-image marker and a PNG with its IEND chunk.
#pragma once

#include <filesystem>
#include <opencv2/core.hpp>
#include <string_view>
#include <vector>

namespace faceswap {

// True for the extensions read as still images (.png, .jpg, .jpeg, .bmp, .tif, .tiff, .exr; any case).
bool is_image_path(const std::filesystem::path& path);
bool is_exr_path(const std::filesystem::path& path);

// Turns on OpenCV's EXR codec for this process (unless the environment
// already says); later calls do nothing.
void enable_exr();

// How encode_image writes: JPEG's quality, and EXR's storage (half or 32-bit float channels).
struct ImageEncoding {
  int jpeg_quality = 95;
  bool half_float = false;
};

// Decodes `path` as 8-bit BGR (color) or 8-bit gray; throws graft::Error naming
// the file when it is missing, unreadable, truncated or not an image. An EXR
// (linear light) comes through the sRGB transfer function (scene_linear.hpp).
cv::Mat read_image(const std::filesystem::path& path, bool color = true);

// Decodes `path` as BGR at the file's own depth: 8 or 16 bits per channel
// (16-bit PNG and TIFF, as VFX plates come), or 32-bit float linear light
// from an EXR (half or float channels; `stores_half`, when given, says
// which); throws as read_image, and for other depths (32-bit float TIFF).
cv::Mat read_plate(const std::filesystem::path& path, bool* stores_half = nullptr);

// The file bytes of `image` in the format of `path`'s extension (.jpg at its
// quality, .png lossless, .exr with half or 32-bit float channels); throws
// naming the file when it cannot.
std::vector<unsigned char> encode_image(const std::filesystem::path& path, const cv::Mat& image,
                                        const ImageEncoding& encoding = {});

// encode_image and write; throws naming the file when that fails.
void write_image(const std::filesystem::path& path, const cv::Mat& image, const ImageEncoding& encoding = {});

// The same through a temporary file and a rename (io/atomic_file.hpp), for
// images a viewer may open while they are rewritten (previews, plots).
void write_image_atomically(const std::filesystem::path& path, const cv::Mat& image);

}  // namespace faceswap
