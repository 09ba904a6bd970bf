// Mean squared error per sample: mean over (C,H,W) of (pred - target)^2, plain and masked.
//
// SAEHD uses it twice per side (reference §3.3): 10 * masked_mse(P, T, M')
// on the RGB output, and 10 * mse(PM, M) on the mask head against the
// unblurred target mask. The forward functions return per-sample values;
// the *_backward functions ADD d(sum_b w_b L_b)/dpred into dpred and return
// the same per-sample values, so a training step needs one call per term.
#pragma once

#include "graft/core/host_device.hpp"
#include "graft/core/tensor.hpp"
#include "graft/loss/loss_value.hpp"
#include "graft/loss/masked.hpp"
#include "graft/loss/pointwise.hpp"

namespace graft::loss {

struct SquaredError {  // also the CUDA backend's (loss.cu)
  GRAFT_HOST_DEVICE static double value(double d) { return d * d; }
  GRAFT_HOST_DEVICE static double slope(double d) { return 2.0 * d; }
};
static_assert(Penalty<SquaredError>);

// pred, target: (B,C,H,W) -> (B,)
inline LossValue mse(ConstView pred, ConstView target) {
  return detail::pointwise_loss<SquaredError>("graft::loss::mse", pred, target, nullptr);
}

inline LossValue mse_backward(ConstView pred, ConstView target, const SampleWeights& weights, View dpred) {
  return detail::pointwise_loss_backward<SquaredError>("graft::loss::mse_backward", pred, target, nullptr, weights, dpred);
}

// mse(pred * mask, target * mask); mask: (B,1,H,W), broadcast over C.
inline LossValue masked_mse(ConstView pred, ConstView target, ConstView mask) {
  return detail::pointwise_loss<SquaredError>("graft::loss::masked_mse", pred, target, &mask);
}

inline LossValue masked_mse_backward(ConstView pred, ConstView target, ConstView mask, const SampleWeights& weights, View dpred) {
  return detail::pointwise_loss_backward<SquaredError>("graft::loss::masked_mse_backward", pred, target, &mask, weights, dpred);
}

}  // namespace graft::loss
