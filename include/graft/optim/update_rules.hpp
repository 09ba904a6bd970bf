// The per-element update of each optimizer, shared by the CPU's fused pass
// (optimizer.hpp) and the CUDA backend's fused kernel (backend/cuda/optim.hpp),
// so that the two backends run one formula.
//
// A rule is made for one step (the learning rate and any step-dependent
// factor folded in, see below) and called for every element i as
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

// Each rule is made for step t (1, 2, ...) at learning rate lr from the
// optimizer's step-independent hyper-parameters: Rule::at(hyper, lr, t). The
// CUDA kernel makes it on the device from a step counter and learning rate in
// device memory, so that a step captured in a CUDA graph is still step t + 1
// when it is replayed.

// m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) (g - m)^2;  w -= keep lr m / (sqrt(v) + eps)
struct AdaBeliefRule {
  static constexpr int slots = 2;
  struct Hyper {
    float beta1, beta2, eps;
  };
  float lr;
  Hyper h;
  GRAFT_HOST_DEVICE static AdaBeliefRule at(const Hyper& h, float lr, std::int64_t /*t*/) { return {lr, h}; }
  GRAFT_HOST_DEVICE void operator()(float& w, float g, float* s, float keep) const {
    s[0] = h.beta1 * s[0] + (1.0f - h.beta1) * g;
    const float deviation = g - s[0];
    s[1] = h.beta2 * s[1] + (1.0f - h.beta2) * (deviation * deviation);
    w -= keep * (lr * s[0] / (std::sqrt(s[1]) + h.eps));
  }
};

// Adam (l2 = weight decay, shrink = 1) or AdamW (l2 = 0, shrink = 1 - lr wd), with
// step_size = lr / (1 - beta1^t) and sqrt_correction2 = sqrt(1 - beta2^t).
struct AdamRule {
  static constexpr int slots = 2;
  struct Hyper {
    float beta1, beta2, eps, weight_decay;
    bool decoupled;
  };
  float step_size, sqrt_correction2, l2, shrink;
  Hyper h;
  GRAFT_HOST_DEVICE static AdamRule at(const Hyper& h, float lr, std::int64_t t) {
    const double steps = static_cast<double>(t);
    return {static_cast<float>(lr / (1.0 - std::pow(static_cast<double>(h.beta1), steps))),
            static_cast<float>(std::sqrt(1.0 - std::pow(static_cast<double>(h.beta2), steps))),
            h.decoupled ? 0.0f : h.weight_decay, h.decoupled ? 1.0f - lr * h.weight_decay : 1.0f, h};
  }
  GRAFT_HOST_DEVICE void operator()(float& w, float g, float* s, float /*keep*/) const {
    const float d = g + l2 * w;
    s[0] = h.beta1 * s[0] + (1.0f - h.beta1) * d;
    s[1] = h.beta2 * s[1] + (1.0f - h.beta2) * (d * d);
    w = shrink * w - step_size * (s[0] / (std::sqrt(s[1]) / sqrt_correction2 + h.eps));
  }
};

// a = rho a + (1 - rho) g^2;  w -= keep lr g / (sqrt(a) + eps)
struct RmspropRule {
  static constexpr int slots = 1;
  struct Hyper {
    float rho, eps;
  };
  float lr;
  Hyper h;
  GRAFT_HOST_DEVICE static RmspropRule at(const Hyper& h, float lr, std::int64_t /*t*/) { return {lr, h}; }
  GRAFT_HOST_DEVICE void operator()(float& w, float g, float* s, float keep) const {
    s[0] = h.rho * s[0] + (1.0f - h.rho) * (g * g);
    w -= keep * (lr * g / (std::sqrt(s[0]) + h.eps));
  }
};

// d = g + wd w;  b = d at the first step, else momentum b + (1 - dampening) d;
// w -= lr (nesterov ? d + momentum b : b), or lr d without momentum.
struct SgdRule {
  static constexpr int slots = 1;
  struct Hyper {
    float momentum, dampening, weight_decay;
    bool nesterov;
  };
  float lr;
  bool first;
  Hyper h;
  GRAFT_HOST_DEVICE static SgdRule at(const Hyper& h, float lr, std::int64_t t) { return {lr, t == 1, h}; }
  GRAFT_HOST_DEVICE void operator()(float& w, float g, float* s, float /*keep*/) const {
    const float d = g + h.weight_decay * w;
    const float b = first ? d : h.momentum * s[0] + (1.0f - h.dampening) * d;
    s[0] = b;
    w -= lr * (h.momentum == 0.0f ? d : h.nesterov ? d + h.momentum * b : b);
  }
};

}  // namespace graft::optim
