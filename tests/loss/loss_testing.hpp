// Shared by the tests of graft/loss: random images and the gradient check of a loss.
//
// A loss is checked as the scalar sum_b w_b L_b with random per-sample
// weights, which is what its *_backward claims to differentiate; the
// weights differ per sample so that a mix-up of samples cannot pass.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "gradient_check.hpp"
#include "graft/core/tensor.hpp"
#include "graft/loss/loss_value.hpp"

namespace graft::loss::testing {

// Uniform in [0, 1), like DFL's images and masks.
inline Tensor random_image(Shape shape, std::uint64_t seed) {
  Tensor t(shape);
  graft::testing::fill_uniform(t.span(), seed, 0.0f, 1.0f);
  return t;
}

// A random target with every |pred - target| in [0.05, 0.5): L1's kink at
// pred == target is then out of reach of any finite-difference step <= 1e-2,
// so central differences of L1 are exact and its check can be tight. (One
// probe across the kink would cost ~1/sqrt(probes) of relative error.)
inline Tensor target_away_from(const Tensor& pred, std::uint64_t seed) {
  Tensor offset = random_image(pred.shape(), seed);
  Tensor target(pred.shape());
  for (std::int64_t i = 0; i < pred.numel(); ++i) {
    const float u = offset[i] * 2.0f - 1.0f;  // sign and size
    target[i] = pred[i] + (u < 0.0f ? -1.0f : 1.0f) * (0.05f + 0.45f * std::fabs(u));
  }
  return target;
}

inline std::vector<float> random_weights(std::int64_t batch, std::uint64_t seed) {
  std::vector<float> w(static_cast<std::size_t>(batch));
  graft::testing::fill_uniform(w, seed, 0.5f, 2.0f);
  return w;
}

inline double weighted_sum(const LossValue& v, const std::vector<float>& w) {
  double s = 0.0;
  for (std::size_t b = 0; b < w.size(); ++b) s += w[b] * v.per_sample[b];
  return s;
}

struct LossGradientReport {
  graft::testing::GradientReport gradient;
  double backward_value_error = 0.0;  // |backward's returned values - forward's|, the largest
};

// forward(pred) -> LossValue; backward(pred, weights, dpred) -> LossValue, accumulating into dpred.
template <class Forward, class Backward>
LossGradientReport check_loss_gradient(Tensor& pred, const std::vector<float>& weights, Forward forward, Backward backward,
                                       double h, std::int64_t max_probes = 64) {
  Tensor dpred = Tensor::zeros(pred.shape());
  const LossValue from_backward = backward(pred.view(), weights, dpred.view());
  const LossValue from_forward = forward(pred.view());
  LossGradientReport report;
  for (std::size_t b = 0; b < weights.size(); ++b)
    report.backward_value_error =
        std::max(report.backward_value_error, std::fabs(from_backward.per_sample[b] - from_forward.per_sample[b]));
  report.gradient = graft::testing::check_gradient(
      pred.span(), dpred.span(), [&] { return weighted_sum(forward(pred.view()), weights); }, max_probes, h);
  return report;
}

// The message of the graft::Error that f throws, so a test can look for both shapes in it.
template <class F>
std::string error_message(F f) {
  try {
    f();
  } catch (const graft::Error& e) {
    return e.what();
  }
  return "(no graft::Error thrown)";
}

inline bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace graft::loss::testing
