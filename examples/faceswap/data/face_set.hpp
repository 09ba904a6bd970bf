// FaceSet: an aligned face set decoded once into memory.
//
// Training draws every face thousands of times; decoding a JPEG each time
// would cost more than the augmentation. So the set is read once (in
// parallel), scaled to the training resolution, and kept as 8-bit BGR
// images and 8-bit masks in two contiguous buffers: 64 KiB per face at
// resolution 128 (80 KiB with the eyes-and-mouth masks). A face whose image, mask or metadata cannot be read is an
// error naming the file, or, with BadFace::skip, left out and listed.
#pragma once

#include <cstdint>
#include <filesystem>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "face/metadata.hpp"

namespace faceswap {

enum class BadFace { fail, skip };

struct FaceSetOptions {
  int resolution = 0;  // side of the faces in memory; 0 keeps the stored size
  BadFace bad_face = BadFace::fail;
  bool eyes_mouth = false;  // also build the eyes-and-mouth masks (for --eyes-mouth-priority)
};

class FaceSet {
 public:
  // Reads every <name>.json face of `folder` (as written by extract).
  static FaceSet load(const std::filesystem::path& folder, const FaceSetOptions& options = {});
  // From images already in memory (8-bit BGR, square, one size) and masks (8-bit, same size).
  static FaceSet from_images(const std::vector<cv::Mat>& images, const std::vector<cv::Mat>& masks);

  std::size_t size() const { return count_; }
  int resolution() const { return resolution_; }
  // Views into the set's memory (no copy; valid while the set lives).
  cv::Mat image(std::size_t i) const;
  cv::Mat mask(std::size_t i) const;
  // DeepFaceLab's eyes-and-mouth mask (reference §3.2), when loaded with eyes_mouth.
  bool has_eyes_mouth() const { return !eyes_mouth_.empty(); }
  cv::Mat eyes_mouth(std::size_t i) const;
  // Empty for sets made by from_images.
  const std::vector<FaceMetadata>& metadata() const { return metadata_; }
  // "<file>: <reason>" for each face left out by BadFace::skip.
  const std::vector<std::string>& skipped() const { return skipped_; }
  std::size_t bytes() const { return pixels_.size() + masks_.size(); }

 private:
  std::size_t count_ = 0;
  int resolution_ = 0;
  std::vector<std::uint8_t> pixels_, masks_, eyes_mouth_;
  std::vector<FaceMetadata> metadata_;
  std::vector<std::string> skipped_;
};

}  // namespace faceswap
