// Pointwise activations: LeakyReLU<Slope> and Sigmoid.
//
// Contract: output shape = input shape, no parameters. Both differentiate
// from their output (LeakyReLU needs a positive slope for that), so backward
// reads y, not x.
#pragma once

#include "graft/backend/cpu/elementwise.hpp"
#include "graft/nn/layer.hpp"

namespace graft::nn {

template <float Slope>
struct LeakyReLU {
  static_assert(Slope > 0.0f && Slope < 1.0f, "LeakyReLU: slope must be in (0, 1)");
  template <Shape In>
  struct Impl {
    static constexpr Shape out = In;
    static constexpr std::array<ParamSpec, 0> params{};
    using Trace = NoTrace;
    static void forward(const float*, ConstView x, View y, Trace&) { cpu::leaky_relu_forward(x.data, y.data, x.numel(), Slope); }
    static void backward(const float*, float*, ConstView, ConstView y, ConstView dy, View dx, Trace&) {
      if (dx.data) cpu::leaky_relu_backward(y.data, dy.data, dx.data, y.numel(), Slope);
    }
  };
};

struct Sigmoid {
  template <Shape In>
  struct Impl {
    static constexpr Shape out = In;
    static constexpr std::array<ParamSpec, 0> params{};
    using Trace = NoTrace;
    static void forward(const float*, ConstView x, View y, Trace&) { cpu::sigmoid_forward(x.data, y.data, x.numel()); }
    static void backward(const float*, float*, ConstView, ConstView y, ConstView dy, View dx, Trace&) {
      if (dx.data) cpu::sigmoid_backward(y.data, dy.data, dx.data, y.numel());
    }
  };
};

}  // namespace graft::nn
