// Scene-linear plates (OpenEXR) against the display-referred images the
// detector and the model work on.
//
// Face sets are extracted from ordinary footage: sRGB-encoded 8-bit images.
// An EXR plate holds linear light (Rec.709/sRGB primaries assumed, as most
// plates delivered for compositing), so the detector and the model see it
// through the sRGB transfer function, clipped to [0, 1], and the drawn face
// goes back through the inverse before it is blended into the plate, in
// linear light. Highlights above 1 outside the face stay as they are.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <opencv2/core.hpp>

namespace faceswap {

// The sRGB transfer function (IEC 61966-2-1): linear light in [0, 1] to its encoded value.
inline float srgb_encode(float linear) {
  if (!(linear > 0.0f)) return 0.0f;  // NaN and negatives: black
  if (linear >= 1.0f) return 1.0f;
  return linear <= 0.0031308f ? 12.92f * linear : 1.055f * std::pow(linear, 1.0f / 2.4f) - 0.055f;
}

// Its inverse: an encoded value in [0, 1] to linear light.
inline float srgb_decode(float encoded) {
  return encoded <= 0.04045f ? encoded / 12.92f : std::pow((encoded + 0.055f) / 1.055f, 2.4f);
}

// A linear float BGR plate as the 8-bit BGR image the detector and the model
// see: round(255 srgb_encode(v)), found among the 255 linear values where
// the rounding steps up (a 4K plate a frame: no pow per pixel).
inline cv::Mat display_image(const cv::Mat& linear) {
  CV_Assert(linear.type() == CV_32FC3);
  static const std::array<float, 255> steps = [] {
    std::array<float, 255> s{};
    for (int k = 0; k < 255; ++k) s[std::size_t(k)] = srgb_decode((float(k) + 0.5f) / 255.0f);
    return s;
  }();
  cv::Mat out(linear.size(), CV_8UC3);
  for (int y = 0; y < linear.rows; ++y) {
    const float* in = linear.ptr<float>(y);
    uchar* o = out.ptr<uchar>(y);
    for (int i = 0; i < 3 * linear.cols; ++i) {
      const float v = in[i];  // NaN compares false: black, as negatives
      o[i] = uchar(v > 0.0f ? std::upper_bound(steps.begin(), steps.end(), v) - steps.begin() : 0);
    }
  }
  return out;
}

}  // namespace faceswap
