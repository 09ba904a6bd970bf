#include "colour_transfer.hpp"

#include <opencv2/imgproc.hpp>
#include <vector>

namespace faceswap {

void reinhard_transfer(cv::Mat& image, const cv::Mat& reference, const cv::Mat& mask) {
  cv::Mat lab, reference_lab;
  cv::cvtColor(image, lab, cv::COLOR_BGR2Lab);
  cv::cvtColor(reference, reference_lab, cv::COLOR_BGR2Lab);
  cv::Scalar mean, stddev, target_mean, target_stddev;
  cv::meanStdDev(lab, mean, stddev, mask);
  cv::meanStdDev(reference_lab, target_mean, target_stddev, mask);
  std::vector<cv::Mat> channels;
  cv::split(lab, channels);
  for (int c = 0; c < 3; ++c) {
    const double gain = target_stddev[c] / std::max(stddev[c], 1e-6);
    channels[std::size_t(c)].convertTo(channels[std::size_t(c)], CV_32F, gain, target_mean[c] - gain * mean[c]);
  }
  cv::merge(channels, lab);
  cv::cvtColor(lab, image, cv::COLOR_Lab2BGR);
  image = cv::min(cv::max(image, 0.0), 1.0);
}

}  // namespace faceswap
