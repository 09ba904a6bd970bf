// Reinhard colour transfer (DeepFaceLab's "rct"): match the mean and standard
// deviation of each L*a*b* channel of an image to those of a reference.
// Training uses it to bring src faces towards dst colours; swap uses it,
// with statistics taken inside the face mask, to match the new face to the
// original. Images are float BGR in [0, 1]; the result is clipped to [0, 1].
#pragma once

#include <opencv2/core.hpp>

namespace faceswap {

// `mask` (8-bit, optional) selects the pixels the statistics of both images come from.
void reinhard_transfer(cv::Mat& image, const cv::Mat& reference, const cv::Mat& mask = cv::Mat());

}  // namespace faceswap
