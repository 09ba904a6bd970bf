// A Gaussian blur that averages only where a weight says: blur(image * w) /
// blur(w), a normalised convolution. Colour transfer's sot smooths its colour
// change by the face mask with it (the face's change is not pulled towards
// the background's), and training's blur_out_mask the target's background
// by the mask's complement (no face colour runs into it).
#pragma once

#include <opencv2/imgproc.hpp>
#include <vector>

namespace faceswap {

// `image` float with 1 or 3 channels, `weight` float, one channel, non-negative,
// of its size; where the blurred weight vanishes the result is 0.
inline cv::Mat weighted_blur(const cv::Mat& image, const cv::Mat& weight, double sigma) {
  cv::Mat weights = weight;
  if (image.channels() == 3) cv::merge(std::vector<cv::Mat>{weight, weight, weight}, weights);
  cv::Mat weighted, total;
  cv::GaussianBlur(image.mul(weights), weighted, {0, 0}, sigma, 0, cv::BORDER_REPLICATE);
  cv::GaussianBlur(weights, total, {0, 0}, sigma, 0, cv::BORDER_REPLICATE);
  cv::divide(weighted, cv::max(total, 1e-12), weighted);
  return weighted;
}

}  // namespace faceswap
