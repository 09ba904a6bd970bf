// The face mask of an aligned crop, from its landmarks.
//
// Without a segmentation model the mask is the convex hull of the 68
// landmarks, with the eyebrows first raised by their height above the eyes
// so that the hull takes in the lower forehead, as DeepFaceLab's landmark
// hull does (its eyebrows_expand_mod). 255 inside, 0 outside.
#pragma once

#include <opencv2/core.hpp>

#include "alignment.hpp"

namespace faceswap {

cv::Mat landmark_hull_mask(const Landmarks& aligned, int size);

}  // namespace faceswap
