// Mean squared error per sample: mean over (C,H,W) of (pred - target)^2, plain and masked.
//
// SAEHD uses it twice per side (reference §3.3): 10 * masked_mse(P, T, M')
// on the RGB output, and 10 * mse(PM, M) on the mask head against the
// unblurred target mask. The forward functions return per-sample values;
// the *_backward functions ADD d(sum_b w_b L_b)/dpred into dpred and return
// the same per-sample values, so a training step needs one call per term.
#pragma once

#include "graft/core/tensor.hpp"
#include "graft/loss/loss_value.hpp"
#include "graft/loss/masked.hpp"
#include "graft/loss/pointwise.hpp"

namespace graft::loss {

struct SquaredError {
  static double value(double d) { return d * d; }
  static double slope(double d) { return 2.0 * d; }
};
static_assert(Penalty<SquaredError>);

// pred, target: (B,C,H,W) -> (B,)
inline LossValue mse(ConstView pred, ConstView target) {
  detail::check_images("graft::loss::mse", pred, target);
  return detail::pointwise_values<SquaredError>(pred, target, nullptr);
}

inline LossValue mse_backward(ConstView pred, ConstView target, const SampleWeights& weights, View dpred) {
  constexpr const char* where = "graft::loss::mse_backward";
  detail::check_images(where, pred, target);
  detail::check_gradient_buffer(where, pred, dpred);
  weights.check_batch(where, pred.shape);
  detail::pointwise_gradient<SquaredError>(pred, target, nullptr, weights, dpred);
  return detail::pointwise_values<SquaredError>(pred, target, nullptr);
}

// mse(pred * mask, target * mask); mask: (B,1,H,W), broadcast over C.
inline LossValue masked_mse(ConstView pred, ConstView target, ConstView mask) {
  constexpr const char* where = "graft::loss::masked_mse";
  detail::check_images(where, pred, target);
  return detail::pointwise_values<SquaredError>(pred, target, detail::check_mask(where, pred, mask));
}

inline LossValue masked_mse_backward(ConstView pred, ConstView target, ConstView mask, const SampleWeights& weights, View dpred) {
  constexpr const char* where = "graft::loss::masked_mse_backward";
  detail::check_images(where, pred, target);
  const float* m = detail::check_mask(where, pred, mask);
  detail::check_gradient_buffer(where, pred, dpred);
  weights.check_batch(where, pred.shape);
  detail::pointwise_gradient<SquaredError>(pred, target, m, weights, dpred);
  return detail::pointwise_values<SquaredError>(pred, target, m);
}

}  // namespace graft::loss
