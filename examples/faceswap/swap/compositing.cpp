#include "compositing.hpp"

#include "face/colour_transfer.hpp"
#include "face/scene_linear.hpp"

#include <algorithm>
#include <cmath>
#include <graft/core/error.hpp>
#include <limits>
#include <opencv2/imgproc.hpp>
#include <type_traits>

namespace faceswap {
namespace {

// frame = (1 - mask) frame + mask face at the frame's depth (8 or 16 bits,
// or linear float, where the face, drawn display-referred, is decoded to
// linear light first); returns the mask at that depth. Only pixels under the
// mask are touched, so the rest of the frame stays bit-identical.
template <class Pixel>
cv::Mat blend_into(cv::Mat& frame, const cv::Mat& face, const cv::Mat& mask) {
  using Channel = typename Pixel::value_type;
  constexpr bool linear = std::is_floating_point_v<Channel>;
  constexpr float full = linear ? 1.0f : float(std::numeric_limits<Channel>::max());
  for (int y = 0; y < frame.rows; ++y) {
    auto* pixel = frame.ptr<Pixel>(y);
    const auto* f = face.ptr<cv::Vec3f>(y);
    const float* a = mask.ptr<float>(y);
    for (int x = 0; x < frame.cols; ++x) {
      if (a[x] <= 0.0f) continue;
      for (int c = 0; c < 3; ++c) {
        if constexpr (linear) {
          // Where the mask is full, or the plate holds no number (Inf, NaN), the face alone: 0 Inf is NaN.
          const float drawn = srgb_decode(std::clamp(f[x][c], 0.0f, 1.0f)), was = pixel[x][c];
          pixel[x][c] = a[x] >= 1.0f || !std::isfinite(was) ? drawn : (1.0f - a[x]) * was + a[x] * drawn;
        } else {
          pixel[x][c] = cv::saturate_cast<Channel>((1.0f - a[x]) * float(pixel[x][c]) + a[x] * full * f[x][c]);
        }
      }
    }
  }
  cv::Mat out;
  mask.convertTo(out, cv::DataType<Channel>::depth, double(full));
  return out;
}

}  // namespace

CropPatch prepare_patch(cv::Mat face, cv::Mat mask, const cv::Mat& original, const BlendOptions& o) {
  if (o.erode != 0) {
    const int r = std::abs(o.erode);
    const cv::Mat kernel = cv::getStructuringElement(cv::MORPH_ELLIPSE, {2 * r + 1, 2 * r + 1});
    if (o.erode > 0)
      cv::erode(mask, mask, kernel, {-1, -1}, 1, cv::BORDER_CONSTANT, cv::Scalar(0));
    else
      cv::dilate(mask, mask, kernel);
  }
  if (o.blur > 0) cv::GaussianBlur(mask, mask, {2 * o.blur + 1, 2 * o.blur + 1}, 0, 0, cv::BORDER_CONSTANT);
  // Statistics inside the face only: the crop's background must not pull the skin colour.
  if (cv::countNonZero(mask > 0.5f) >= 16) transfer_colour(o.colour_transfer, face, original, mask > 0.5f);
  return {face, mask};
}

cv::Mat paste_patch(cv::Mat& frame, const Affine& to_crop, const CropPatch& patch) {
  graft::check(frame.type() == CV_8UC3 || frame.type() == CV_16UC3 || frame.type() == CV_32FC3,
               "composite: frames are BGR of 8 or 16 bits per channel, or linear float");
  const cv::Matx23d m(to_crop.a, to_crop.b, to_crop.c, to_crop.d, to_crop.e, to_crop.f);
  cv::Mat big_face, big_mask;
  cv::warpAffine(patch.face, big_face, m, frame.size(), cv::INTER_CUBIC | cv::WARP_INVERSE_MAP, cv::BORDER_REPLICATE);
  cv::warpAffine(patch.mask, big_mask, m, frame.size(), cv::INTER_LINEAR | cv::WARP_INVERSE_MAP, cv::BORDER_CONSTANT,
                 cv::Scalar(0));
  big_mask = cv::min(cv::max(big_mask, 0.0), 1.0);
  switch (frame.depth()) {
    case CV_16U:
      return blend_into<cv::Vec3w>(frame, big_face, big_mask);
    case CV_32F:
      return blend_into<cv::Vec3f>(frame, big_face, big_mask);
    default:
      return blend_into<cv::Vec3b>(frame, big_face, big_mask);
  }
}

cv::Mat composite(cv::Mat& frame, const Affine& to_crop, cv::Mat face, cv::Mat mask, const cv::Mat& original,
                  const BlendOptions& o) {
  return paste_patch(frame, to_crop, prepare_patch(std::move(face), std::move(mask), original, o));
}

}  // namespace faceswap
