// The Layer contract that every layer template and combinator fulfils.
//
// A layer spec (`Conv2d<64, 5, 2>`) is bound to a per-sample input shape by
// `Spec::Impl<In>`, which provides:
//   out                          the per-sample output Shape (constexpr)
//   params                       std::array<ParamSpec, N>, offsets relative to the layer's slice
//   Trace                        what forward keeps for backward besides x and y (often nothing)
//   forward(p, x, y, trace)      y = f(x); p points at the layer's parameters
//   backward(p, g, x, y, dy, dx, trace)
//                                g += dL/dp (accumulates: a module may run twice per step);
//                                dx = dL/dx, skipped when dx.data is null.
// x and y are the views forward saw; the caller (a combinator or Module) keeps
// them alive until backward, so leaves need not copy their inputs.
#pragma once

#include <concepts>
#include <cstdint>

#include "graft/core/tensor.hpp"
#include "graft/nn/parameter.hpp"

namespace graft::nn {

struct NoTrace {};

template <class L, Shape In>
using Bound = typename L::template Impl<In>;

template <class I>
concept BoundLayer = requires(const float* p, float* g, ConstView x, View y, typename I::Trace& t) {
  { I::out } -> std::convertible_to<Shape>;
  I::params;
  I::forward(p, x, y, t);
  I::backward(p, g, x, x, x, y, t);
};

// FusedPair<A, B>::type is a layer that computes B(A(x)) in one pass, or
// void. Layer headers specialise it (conv2d.hpp: Conv2d then LeakyReLU);
// Seq substitutes the fused layer for the pair.
template <class A, class B>
struct FusedPair {
  using type = void;
};

// The per-sample output shape of layer L on input In.
template <class L, Shape In>
inline constexpr Shape output_shape = Bound<L, In>::out;

// The number of trainable scalars of layer L on input In.
template <class L, Shape In>
inline constexpr std::int64_t parameter_count = count_of(Bound<L, In>::params);

// Floats the layer occupies in a flat buffer (parameters plus alignment).
template <class L, Shape In>
inline constexpr std::int64_t parameter_span = span_of(Bound<L, In>::params);

}  // namespace graft::nn
