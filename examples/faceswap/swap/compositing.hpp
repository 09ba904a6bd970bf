// Putting a swapped face back into its frame.
//
// The model draws the new face and its mask in the aligned crop. The mask is
// eroded (to pull the seam inside the face) and blurred (to feather it), the
// face's colours are matched to the original crop inside the mask (rct, as
// DeepFaceLab's default, or another mode of colour_transfer.hpp), and face and mask are
// warped back with the inverse of the crop transform. Outside the warped
// mask the frame is left exactly as it was.
#pragma once

#include <opencv2/core.hpp>

#include "face/alignment.hpp"
#include "face/colour_transfer.hpp"

namespace faceswap {

struct BlendOptions {
  int erode = 0;  // pixels of the crop to erode the mask by (negative dilates)
  int blur = 0;   // pixels of the crop over which the mask edge is feathered
  ColourTransfer colour_transfer = ColourTransfer::rct;  // of the drawn face to the original, inside the mask
};

// `face` and `original` are R x R float BGR in [0, 1], `mask` R x R float in
// [0, 1]; `to_crop` maps frame pixels to crop pixels. Composites into
// `frame` (BGR, 8 or 16 bits per channel, or linear float: the face is
// decoded from sRGB and blended in linear light) and returns the frame-size
// mask used, at the frame's depth (float in [0, 1] for a float frame).
cv::Mat composite(cv::Mat& frame, const Affine& to_crop, cv::Mat face, cv::Mat mask, const cv::Mat& original,
                  const BlendOptions& options);

}  // namespace faceswap
