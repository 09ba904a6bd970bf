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

// A face ready to go back, in the crop: its colours matched, its mask eroded
// and feathered. What `swap --patches` writes, for compositors who place it
// themselves.
struct CropPatch {
  cv::Mat face;  // R x R float BGR in [0, 1], display-referred (sRGB) as the model draws
  cv::Mat mask;  // R x R float in [0, 1]
};

// `face` and `original` are R x R float BGR in [0, 1], `mask` R x R float in [0, 1].
CropPatch prepare_patch(cv::Mat face, cv::Mat mask, const cv::Mat& original, const BlendOptions& options);

// Pastes a patch into `frame` (BGR, 8 or 16 bits per channel, or linear
// float: the face is decoded from sRGB and blended in linear light) through
// the inverse of `to_crop` (frame pixels -> crop pixels), and returns the
// frame-size mask used, at the frame's depth (float in [0, 1] for a float frame).
cv::Mat paste_patch(cv::Mat& frame, const Affine& to_crop, const CropPatch& patch);

// prepare_patch, then paste_patch.
cv::Mat composite(cv::Mat& frame, const Affine& to_crop, cv::Mat face, cv::Mat mask, const cv::Mat& original,
                  const BlendOptions& options);

}  // namespace faceswap
