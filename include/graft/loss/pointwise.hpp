// The kernel behind MSE and L1: the mean over (C,H,W) of a penalty of the (masked) difference.
//
// Both losses are one pass over memory, so they share one loop nest and
// differ only in the Penalty policy (value and slope of a scalar function).
// Work is split over (batch, channel) planes with OpenMP; each plane sums in
// double, so a 3x640x640 sample does not lose the small terms of its sum.
// The difference itself is formed in double, which keeps the forward value
// and the finite differences of a gradient check consistent to the last bit
// the float inputs carry.
#pragma once

#include <cmath>
#include <concepts>
#include <cstdint>
#include <vector>

#include "graft/backend/cpu/elementwise.hpp"
#include "graft/core/tensor.hpp"
#include "graft/loss/loss_value.hpp"
#include "graft/loss/masked.hpp"

namespace graft::loss {

// A penalty phi(d) of the difference d = pred - target and its slope phi'(d).
template <class P>
concept Penalty = requires(double d) {
  { P::value(d) } -> std::convertible_to<double>;
  { P::slope(d) } -> std::convertible_to<double>;
};

namespace detail {

// Per-sample mean over (C,H,W) of phi((p - t) * m); mask is nullptr or (B,1,H,W).
template <Penalty P>
LossValue pointwise_values(ConstView pred, ConstView target, const float* mask) {
  const std::int64_t batch = pred.shape[0], channels = pred.shape[1], plane = pred.shape[2] * pred.shape[3];
  std::vector<double> plane_sums(static_cast<std::size_t>(batch * channels));
#pragma omp parallel for schedule(static) if (pred.numel() > cpu::parallel_threshold)
  for (std::int64_t bc = 0; bc < batch * channels; ++bc) {
    const float* p = pred.data + bc * plane;
    const float* t = target.data + bc * plane;
    const float* m = mask ? mask + (bc / channels) * plane : nullptr;
    double total = 0.0;
    for (std::int64_t i = 0; i < plane; ++i) {
      const double weight = m ? static_cast<double>(m[i]) : 1.0;
      total += P::value((static_cast<double>(p[i]) - t[i]) * weight);
    }
    plane_sums[static_cast<std::size_t>(bc)] = total;
  }
  LossValue out{std::vector<double>(static_cast<std::size_t>(batch), 0.0)};
  for (std::int64_t bc = 0; bc < batch * channels; ++bc)
    out.per_sample[static_cast<std::size_t>(bc / channels)] += plane_sums[static_cast<std::size_t>(bc)];
  for (double& v : out.per_sample) v /= static_cast<double>(channels * plane);
  return out;
}

// dpred += w_b / (C*H*W) * phi'((p - t) * m) * m, sample by sample.
template <Penalty P>
void pointwise_gradient(ConstView pred, ConstView target, const float* mask, const SampleWeights& weights, View dpred) {
  const std::int64_t batch = pred.shape[0], channels = pred.shape[1], plane = pred.shape[2] * pred.shape[3];
  const double inverse_count = 1.0 / static_cast<double>(channels * plane);
#pragma omp parallel for schedule(static) if (pred.numel() > cpu::parallel_threshold)
  for (std::int64_t bc = 0; bc < batch * channels; ++bc) {
    const float* p = pred.data + bc * plane;
    const float* t = target.data + bc * plane;
    const float* m = mask ? mask + (bc / channels) * plane : nullptr;
    float* dp = dpred.data + bc * plane;
    const double scale = weights[bc / channels] * inverse_count;
    for (std::int64_t i = 0; i < plane; ++i) {
      const double weight = m ? static_cast<double>(m[i]) : 1.0;
      dp[i] += static_cast<float>(scale * P::slope((static_cast<double>(p[i]) - t[i]) * weight) * weight);
    }
  }
}

// The checked entry points of every pointwise loss: `mask` is null for the
// plain loss and points at a (B,1,H,W) mask for the masked one.
template <Penalty P>
LossValue pointwise_loss(const char* where, ConstView pred, ConstView target, const ConstView* mask) {
  check_images(where, pred, target);
  return pointwise_values<P>(pred, target, mask ? check_mask(where, pred, *mask) : nullptr);
}

// Adds d(sum_b w_b L_b)/dpred into dpred and returns the per-sample values.
template <Penalty P>
LossValue pointwise_loss_backward(const char* where, ConstView pred, ConstView target, const ConstView* mask,
                                  const SampleWeights& weights, View dpred) {
  check_images(where, pred, target);
  const float* m = mask ? check_mask(where, pred, *mask) : nullptr;
  check_gradient_buffer(where, pred, dpred);
  weights.check_batch(where, pred.shape);
  pointwise_gradient<P>(pred, target, m, weights, dpred);
  return pointwise_values<P>(pred, target, m);
}

}  // namespace detail
}  // namespace graft::loss
