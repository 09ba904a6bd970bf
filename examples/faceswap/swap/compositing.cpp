#include "compositing.hpp"

#include <opencv2/imgproc.hpp>

namespace faceswap {
namespace {

// Reinhard transfer in L*a*b*, with statistics taken inside the mask only
// (the background of the crop must not pull the skin colour).
void masked_colour_transfer(cv::Mat& face, const cv::Mat& original, const cv::Mat& mask) {
  cv::Mat inside = mask > 0.5f;
  if (cv::countNonZero(inside) < 16) return;
  cv::Mat lab, original_lab;
  cv::cvtColor(face, lab, cv::COLOR_BGR2Lab);
  cv::cvtColor(original, original_lab, cv::COLOR_BGR2Lab);
  cv::Scalar mean, stddev, target_mean, target_stddev;
  cv::meanStdDev(lab, mean, stddev, inside);
  cv::meanStdDev(original_lab, target_mean, target_stddev, inside);
  std::vector<cv::Mat> channels;
  cv::split(lab, channels);
  for (int c = 0; c < 3; ++c) {
    const double gain = target_stddev[c] / std::max(stddev[c], 1e-6);
    channels[std::size_t(c)].convertTo(channels[std::size_t(c)], CV_32F, gain, target_mean[c] - gain * mean[c]);
  }
  cv::merge(channels, lab);
  cv::cvtColor(lab, face, cv::COLOR_Lab2BGR);
  face = cv::min(cv::max(face, 0.0), 1.0);
}

}  // namespace

cv::Mat composite(cv::Mat& frame, const Affine& to_crop, cv::Mat face, cv::Mat mask, const cv::Mat& original,
                  const BlendOptions& o) {
  if (o.erode != 0) {
    const int r = std::abs(o.erode);
    const cv::Mat kernel = cv::getStructuringElement(cv::MORPH_ELLIPSE, {2 * r + 1, 2 * r + 1});
    if (o.erode > 0)
      cv::erode(mask, mask, kernel, {-1, -1}, 1, cv::BORDER_CONSTANT, cv::Scalar(0));
    else
      cv::dilate(mask, mask, kernel);
  }
  if (o.blur > 0) cv::GaussianBlur(mask, mask, {2 * o.blur + 1, 2 * o.blur + 1}, 0, 0, cv::BORDER_CONSTANT);
  if (o.colour_transfer) masked_colour_transfer(face, original, mask);

  const cv::Matx23d m(to_crop.a, to_crop.b, to_crop.c, to_crop.d, to_crop.e, to_crop.f);
  cv::Mat big_face, big_mask;
  cv::warpAffine(face, big_face, m, frame.size(), cv::INTER_CUBIC | cv::WARP_INVERSE_MAP, cv::BORDER_REPLICATE);
  cv::warpAffine(mask, big_mask, m, frame.size(), cv::INTER_LINEAR | cv::WARP_INVERSE_MAP, cv::BORDER_CONSTANT, cv::Scalar(0));
  big_mask = cv::min(cv::max(big_mask, 0.0), 1.0);
  // Only pixels under the mask are touched, so the rest of the frame stays bit-identical.
  for (int y = 0; y < frame.rows; ++y) {
    auto* pixel = frame.ptr<cv::Vec3b>(y);
    const auto* f = big_face.ptr<cv::Vec3f>(y);
    const float* a = big_mask.ptr<float>(y);
    for (int x = 0; x < frame.cols; ++x) {
      if (a[x] <= 0.0f) continue;
      for (int c = 0; c < 3; ++c)
        pixel[x][c] = cv::saturate_cast<std::uint8_t>((1.0f - a[x]) * float(pixel[x][c]) + a[x] * 255.0f * f[x][c]);
    }
  }
  cv::Mat out;
  big_mask.convertTo(out, CV_8U, 255.0);
  return out;
}

}  // namespace faceswap
