// Mean absolute error per sample: mean over (C,H,W) of |pred - target|, plain and masked.
//
// SAEHD's eyes-and-mouth priority term is 300 * masked_l1(P, T, EM) with the
// eyes/mouth mask EM, not the face mask (reference §3.3). At pred == target
// the subgradient 0 is used, as tf.abs does. Backward functions ADD
// d(sum_b w_b L_b)/dpred into dpred and return the per-sample values.
#pragma once

#include <cmath>

#include "graft/core/tensor.hpp"
#include "graft/loss/loss_value.hpp"
#include "graft/loss/masked.hpp"
#include "graft/loss/pointwise.hpp"

namespace graft::loss {

struct AbsoluteError {
  static double value(double d) { return std::fabs(d); }
  static double slope(double d) { return static_cast<double>((d > 0.0) - (d < 0.0)); }
};
static_assert(Penalty<AbsoluteError>);

// pred, target: (B,C,H,W) -> (B,)
inline LossValue l1(ConstView pred, ConstView target) {
  detail::check_images("graft::loss::l1", pred, target);
  return detail::pointwise_values<AbsoluteError>(pred, target, nullptr);
}

inline LossValue l1_backward(ConstView pred, ConstView target, const SampleWeights& weights, View dpred) {
  constexpr const char* where = "graft::loss::l1_backward";
  detail::check_images(where, pred, target);
  detail::check_gradient_buffer(where, pred, dpred);
  weights.check_batch(where, pred.shape);
  detail::pointwise_gradient<AbsoluteError>(pred, target, nullptr, weights, dpred);
  return detail::pointwise_values<AbsoluteError>(pred, target, nullptr);
}

// l1(pred * mask, target * mask); mask: (B,1,H,W), broadcast over C.
inline LossValue masked_l1(ConstView pred, ConstView target, ConstView mask) {
  constexpr const char* where = "graft::loss::masked_l1";
  detail::check_images(where, pred, target);
  return detail::pointwise_values<AbsoluteError>(pred, target, detail::check_mask(where, pred, mask));
}

inline LossValue masked_l1_backward(ConstView pred, ConstView target, ConstView mask, const SampleWeights& weights, View dpred) {
  constexpr const char* where = "graft::loss::masked_l1_backward";
  detail::check_images(where, pred, target);
  const float* m = detail::check_mask(where, pred, mask);
  detail::check_gradient_buffer(where, pred, dpred);
  weights.check_batch(where, pred.shape);
  detail::pointwise_gradient<AbsoluteError>(pred, target, m, weights, dpred);
  return detail::pointwise_values<AbsoluteError>(pred, target, m);
}

}  // namespace graft::loss
