// Flatten and Reshape: reinterpret a sample in C, H, W order.
//
// Contract: the element count is unchanged; the memory order is the (C, H, W)
// row-major order DeepFaceLab uses for its flatten and reshape_4D, so a
// flattened encoder output feeds a Dense layer in the same order as there.
#pragma once

#include <algorithm>

#include "graft/nn/layer.hpp"

namespace graft::nn {

namespace detail {
template <Shape In, Shape Out>
struct Reinterpret {
  static_assert(expect_extent<In.numel(), Out.numel(), In>, "Reshape: element count of the input and the target differ");
  static constexpr Shape out = Out;
  static constexpr std::array<ParamSpec, 0> params{};
  using Trace = NoTrace;
  static void forward(const float*, ConstView x, View y, Trace&) { std::copy_n(x.data, x.numel(), y.data); }
  static void backward(const float*, float*, ConstView, ConstView, ConstView dy, View dx, Trace&) {
    if (dx.data) std::copy_n(dy.data, dy.numel(), dx.data);
  }
};
}  // namespace detail

struct Flatten {
  template <Shape In>
  using Impl = detail::Reinterpret<In, Shape{In.numel()}>;
};

template <int C, int H, int W>
struct Reshape {
  template <Shape In>
  using Impl = detail::Reinterpret<In, Shape{C, H, W}>;
};

}  // namespace graft::nn
