// Mean absolute error per sample: mean over (C,H,W) of |pred - target|, plain and masked.
//
// SAEHD's eyes-and-mouth priority term is 300 * masked_l1(P, T, EM) with the
// eyes/mouth mask EM, not the face mask (reference §3.3). At pred == target
// the subgradient 0 is used, as tf.abs does. Backward functions ADD
// d(sum_b w_b L_b)/dpred into dpred and return the per-sample values.
#pragma once

#include "graft/core/host_device.hpp"
#include "graft/core/tensor.hpp"
#include "graft/loss/loss_value.hpp"
#include "graft/loss/masked.hpp"
#include "graft/loss/pointwise.hpp"

namespace graft::loss {

struct AbsoluteError {  // also the CUDA backend's (loss.cu)
  GRAFT_HOST_DEVICE static double value(double d) { return d < 0.0 ? -d : d; }
  GRAFT_HOST_DEVICE static double slope(double d) { return static_cast<double>((d > 0.0) - (d < 0.0)); }
};
static_assert(Penalty<AbsoluteError>);

// pred, target: (B,C,H,W) -> (B,)
inline LossValue l1(ConstView pred, ConstView target) {
  return detail::pointwise_loss<AbsoluteError>("graft::loss::l1", pred, target, nullptr);
}

inline LossValue l1_backward(ConstView pred, ConstView target, const SampleWeights& weights, View dpred) {
  return detail::pointwise_loss_backward<AbsoluteError>("graft::loss::l1_backward", pred, target, nullptr, weights, dpred);
}

// l1(pred * mask, target * mask); mask: (B,1,H,W), broadcast over C.
inline LossValue masked_l1(ConstView pred, ConstView target, ConstView mask) {
  return detail::pointwise_loss<AbsoluteError>("graft::loss::masked_l1", pred, target, &mask);
}

inline LossValue masked_l1_backward(ConstView pred, ConstView target, ConstView mask, const SampleWeights& weights, View dpred) {
  return detail::pointwise_loss_backward<AbsoluteError>("graft::loss::masked_l1_backward", pred, target, &mask, weights, dpred);
}

}  // namespace graft::loss
