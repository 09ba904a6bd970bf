// Channel concatenation: the ConcatBranches<Branches...> combinator and the
// concat_channels / split_channels functions for model code.
//
// ConcatBranches runs every branch on the same input and stacks their
// outputs along channels: DeepFaceLab's '-d' output head (four convolutions
// concatenated to 12 channels), or a decoder's rgb and mask heads as one
// 4-channel output. The LIAE model concatenates two codes in its step with
// concat_channels. Contract: every branch output is (C_i, H, W) with the same
// H and W (a mismatch names the shapes); the output is (sum C_i, H, W).
#pragma once

#include <algorithm>
#include <utility>

#include "graft/backend/cpu/elementwise.hpp"
#include "graft/nn/sequential.hpp"

namespace graft::nn {

// The shape of the per-sample concatenation along dimension 0 of `parts`.
inline Shape concatenated_shape(std::initializer_list<ConstView> parts) {
  check(parts.size() > 0, "concat_channels: no inputs");
  const ConstView& first = *parts.begin();
  Shape shape = first.shape;
  shape.dims[1] = 0;
  for (const auto& v : parts) {
    Shape a = v.shape, b = first.shape;
    a.dims[1] = b.dims[1] = 0;
    check(a == b, "concat_channels: cannot concatenate ", first.shape, " and ", v.shape, " along channels");
    shape.dims[1] += v.shape[1];
  }
  return shape;
}

// Writes the per-sample concatenation of `parts` into `out`.
inline void concat_channels_into(std::initializer_list<ConstView> parts, View out) {
  const Shape shape = concatenated_shape(parts);
  check(out.shape == shape, "concat_channels: the output has shape ", out.shape, ", the concatenation ", shape);
  const std::int64_t batch = shape[0], out_sample = shape.numel() / batch;
  std::int64_t at = 0;
  for (const auto& v : parts) {
    const std::int64_t sample = v.numel() / batch;
    for (std::int64_t n = 0; n < batch; ++n) std::copy_n(v.data + n * sample, sample, out.data + n * out_sample + at);
    at += sample;
  }
}

// Per-sample concatenation along dimension 0 of several batched tensors.
inline Tensor concat_channels(std::initializer_list<ConstView> parts) {
  Tensor out(concatenated_shape(parts));
  concat_channels_into(parts, out.view());
  return out;
}

// The inverse of concat_channels: the channel ranges [0, c0), [c0, c0 + c1), ...
inline std::vector<Tensor> split_channels(ConstView x, std::initializer_list<std::int64_t> channels) {
  std::int64_t total = 0;
  for (auto c : channels) total += c;
  check(total == x.shape[1], "split_channels: ", x.shape, " has ", x.shape[1], " channels, the split asks for ", total);
  const std::int64_t batch = x.shape[0], sample = x.numel() / batch, plane = sample / x.shape[1];
  std::vector<Tensor> out;
  std::int64_t at = 0;
  for (auto c : channels) {
    Shape s = x.shape;
    s.dims[1] = c;
    Tensor part(s);
    for (std::int64_t n = 0; n < batch; ++n) std::copy_n(x.data + n * sample + at, c * plane, part.data() + n * c * plane);
    at += c * plane;
    out.push_back(std::move(part));
  }
  return out;
}

namespace detail {
template <Shape In, class... Bs>
using BranchBounds = std::tuple<Bound<Bs, In>...>;

template <Shape First, Shape Other>
constexpr Shape spatial_probe() {
  Shape s = Other;
  s.dims[0] = First[0];
  return s;
}
}  // namespace detail

template <class... Branches>
struct ConcatBranches {
  static_assert(sizeof...(Branches) > 0, "ConcatBranches: needs at least one branch");

  template <Shape In>
  struct Impl {
    using Children = detail::BranchBounds<In, Branches...>;
    static constexpr std::size_t count = sizeof...(Branches);
    static constexpr Shape first = std::tuple_element_t<0, Children>::out;
    static_assert((expect_shape<first, detail::spatial_probe<first, Bound<Branches, In>::out>()> && ...),
                  "ConcatBranches: branch outputs differ in more than their channels");
    static constexpr Shape out = [] {
      Shape s = first;
      s.dims[0] = (Bound<Branches, In>::out[0] + ...);
      return s;
    }();
    static constexpr auto params = detail::collect_params<std::tuple<Branches...>, Children>(std::array<ParamSpec, 0>{}, 0);
    static constexpr auto offsets = detail::child_offsets<Children>(std::make_index_sequence<count>{});

    struct Trace {
      std::array<Tensor, count> outputs;
      detail::TracesOf<Children> children;
    };

    static void forward(const float* p, ConstView x, View y, Trace& t) {
      forward_each(p, x, t, std::make_index_sequence<count>{});
      [&]<std::size_t... I>(std::index_sequence<I...>) { concat_channels_into({t.outputs[I].view()...}, y); }
      (std::make_index_sequence<count>{});
    }

    static void backward(const float* p, float* g, ConstView x, ConstView, ConstView dy, View dx, Trace& t) {
      auto grads = [&]<std::size_t... I>(std::index_sequence<I...>) {
        return split_channels(dy, {std::int64_t{Bound<Branches, In>::out[0]}...});
      }
      (std::make_index_sequence<count>{});
      if (dx.data) std::fill_n(dx.data, dx.numel(), 0.0f);
      backward_each(p, g, x, dx, grads, t, std::make_index_sequence<count>{});
    }

   private:
    template <std::size_t... I>
    static void forward_each(const float* p, ConstView x, Trace& t, std::index_sequence<I...>) {
      ((t.outputs[I] = Tensor(batched(x.batch(), std::tuple_element_t<I, Children>::out)),
        std::tuple_element_t<I, Children>::forward(p + offsets[I], x, t.outputs[I].view(), std::get<I>(t.children))),
       ...);
    }

    template <std::size_t... I>
    static void backward_each(const float* p, float* g, ConstView x, View dx, std::vector<Tensor>& grads, Trace& t,
                              std::index_sequence<I...>) {
      (backward_one<I>(p, g, x, dx, grads[I], t), ...);
    }

    template <std::size_t I>
    static void backward_one(const float* p, float* g, ConstView x, View dx, const Tensor& dy, Trace& t) {
      using Child = std::tuple_element_t<I, Children>;
      Tensor d_in;
      if (dx.data) d_in = Tensor(x.shape);
      Child::backward(p + offsets[I], g + offsets[I], x, t.outputs[I].view(), dy.view(), d_in.view(), std::get<I>(t.children));
      if (dx.data) cpu::axpy(1.0f, d_in.data(), dx.data, x.numel());
      t.outputs[I] = Tensor();
    }
  };
};

}  // namespace graft::nn
