// The mask convention of the masked losses: loss(P*M, T*M) with M of shape (B,1,H,W).
//
// SAEHD's masked training compares T*M' with P*M' (reference §3.2-3.3): the
// mask multiplies both images before the loss, it is broadcast over the
// channels, and the mean still runs over all of (C,H,W), so a small face
// gives a small loss rather than being renormalised by the mask area. The
// mask is data, not a parameter: the gradient flows to P only, through the
// multiply (dP = M * dL/d(P*M)). Each loss header offers its masked_* form
// on top of the same kernel, which applies the mask as it reads the pixels
// instead of materialising P*M and T*M.
#pragma once

#include "graft/core/error.hpp"
#include "graft/core/tensor.hpp"

namespace graft::loss::detail {

// The mask's pixels, or throws when the mask is not (B, 1, H, W) for pred (B, C, H, W).
inline const float* check_mask(const char* where, ConstView pred, ConstView mask) {
  const Shape expected{pred.shape[0], 1, pred.shape[2], pred.shape[3]};
  check(mask.shape == expected, where, ": mask has shape ", mask.shape, ", expected ", expected, " for pred of shape ",
        pred.shape);
  return mask.data;
}

}  // namespace graft::loss::detail
