// The per-element update of each optimizer, shared by the CPU's fused pass
// (optimizer.hpp) and the CUDA backend's fused kernel (backend/cuda/optim.hpp),
// so that the two backends run one formula.
//
// A rule is made for one step (the learning rate and any step-dependent
// factor folded in) and called for every element i as
//   rule(w[i], g[i], s, keep)
// where s holds the optimizer's state slots at i (Rule::slots of them) and
// keep is 1, or 0 where lr_dropout leaves the weight alone this step.
#pragma once

#include <cmath>
#include <cstdint>

#include "graft/core/host_device.hpp"

namespace graft::optim {

// DeepFaceLab's lr_dropout: 1 where a weight is updated this step, 0 where
// not, from the Philox word drawn for it (24 bits as a uniform in [0, 1)).
GRAFT_HOST_DEVICE inline float lr_dropout_keep(std::uint32_t bits, float keep_probability) {
  return static_cast<float>(bits >> 8) * (1.0f / 16777216.0f) < keep_probability ? 1.0f : 0.0f;
}

// m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) (g - m)^2;  w -= keep lr m / (sqrt(v) + eps)
struct AdaBeliefRule {
  static constexpr int slots = 2;
  float lr, beta1, beta2, eps;
  GRAFT_HOST_DEVICE void operator()(float& w, float g, float* s, float keep) const {
    s[0] = beta1 * s[0] + (1.0f - beta1) * g;
    const float deviation = g - s[0];
    s[1] = beta2 * s[1] + (1.0f - beta2) * (deviation * deviation);
    w -= keep * (lr * s[0] / (std::sqrt(s[1]) + eps));
  }
};

// Adam (l2 = weight decay, shrink = 1) or AdamW (l2 = 0, shrink = 1 - lr wd), with
// step_size = lr / (1 - beta1^t) and sqrt_correction2 = sqrt(1 - beta2^t).
struct AdamRule {
  static constexpr int slots = 2;
  float step_size, sqrt_correction2, beta1, beta2, eps, l2, shrink;
  GRAFT_HOST_DEVICE void operator()(float& w, float g, float* s, float /*keep*/) const {
    const float d = g + l2 * w;
    s[0] = beta1 * s[0] + (1.0f - beta1) * d;
    s[1] = beta2 * s[1] + (1.0f - beta2) * (d * d);
    w = shrink * w - step_size * (s[0] / (std::sqrt(s[1]) / sqrt_correction2 + eps));
  }
};

// a = rho a + (1 - rho) g^2;  w -= keep lr g / (sqrt(a) + eps)
struct RmspropRule {
  static constexpr int slots = 1;
  float lr, rho, eps;
  GRAFT_HOST_DEVICE void operator()(float& w, float g, float* s, float keep) const {
    s[0] = rho * s[0] + (1.0f - rho) * (g * g);
    w -= keep * (lr * g / (std::sqrt(s[0]) + eps));
  }
};

// d = g + wd w;  b = d at the first step, else momentum b + (1 - dampening) d;
// w -= lr (nesterov ? d + momentum b : b), or lr d without momentum.
struct SgdRule {
  static constexpr int slots = 1;
  float lr, momentum, undamped, decay;
  bool first, plain, nesterov;
  GRAFT_HOST_DEVICE void operator()(float& w, float g, float* s, float /*keep*/) const {
    const float d = g + decay * w;
    const float b = first ? d : momentum * s[0] + undamped * d;
    s[0] = b;
    w -= lr * (plain ? d : nesterov ? d + momentum * b : b);
  }
};

}  // namespace graft::optim
