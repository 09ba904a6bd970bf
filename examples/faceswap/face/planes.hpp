// Images between OpenCV's interleaved layout (H x W x C floats, as cv::Mat
// holds them) and the planes of an NCHW tensor (C x H x W), which graft's
// layers read: the augmentation's batches and swap's model inputs one way,
// swap's drawn faces and masks the other.
#pragma once

#include <algorithm>
#include <cstddef>
#include <opencv2/core.hpp>

namespace faceswap {

// An H x W float image with C channels into C planes of H x W, clipped to [0, 1].
inline void to_planes(const cv::Mat& image, float* planes) {
  const int h = image.rows, w = image.cols, c = image.channels();
  for (int y = 0; y < h; ++y) {
    const float* row = image.ptr<float>(y);
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < c; ++k) planes[(std::size_t(k) * h + y) * w + x] = std::clamp(row[x * c + k], 0.0f, 1.0f);
  }
}

// The other way: planes into an allocated H x W float image with as many channels.
inline void from_planes(const float* planes, cv::Mat& image) {
  const int h = image.rows, w = image.cols, c = image.channels();
  for (int y = 0; y < h; ++y) {
    float* row = image.ptr<float>(y);
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < c; ++k) row[x * c + k] = planes[(std::size_t(k) * h + y) * w + x];
  }
}

}  // namespace faceswap
