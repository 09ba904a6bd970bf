// The GPU implementation of graft's combinators: Named, Seq (with the CPU's
// fusion of adjacent pairs), Residual and ConcatBranches. Each takes its
// children, their shapes and their parameter offsets from the CPU's Impl,
// and runs the children's OnDevice implementations in the same order.
#pragma once

#include <tuple>
#include <utility>

#include "graft/nn/concat.hpp"
#include "graft/nn/cuda/layers.hpp"
#include "graft/nn/sequential.hpp"

namespace graft::nn::cuda {

// Each child's parameters (child I at offsets[I]) into layout `to`.
template <template <std::size_t> class Child, std::size_t N>
void convert_children(float* w, const std::array<std::int64_t, N>& offsets, Layout to) {
  [&]<std::size_t... I>(std::index_sequence<I...>) { (Child<I>::convert_layout(w + offsets[I], to), ...); }
  (std::make_index_sequence<N>{});
}

template <FixedString N, class L, Shape In>
struct OnDevice<Named<N, L>, In> : OnDevice<L, In> {};

// The block of a DepthToSpace layer (looking through Named); 0 for any other layer.
template <class L>
inline constexpr int depth_to_space_block = 0;
template <int B>
inline constexpr int depth_to_space_block<DepthToSpace<B>> = B;
template <FixedString N, class L>
inline constexpr int depth_to_space_block<Named<N, L>> = depth_to_space_block<L>;

template <class... Ls, Shape In>
struct OnDevice<Seq<Ls...>, In> {
  using Cpu = Bound<Seq<Ls...>, In>;
  using Items = typename Cpu::Items;
  static constexpr std::size_t count = Cpu::count;
  static constexpr Shape out = Cpu::out;
  static constexpr auto params = Cpu::params;
  static constexpr auto offsets = Cpu::offsets;

  template <std::size_t I>
  static constexpr Shape input_of() {
    if constexpr (I == 0)
      return In;
    else
      return std::tuple_element_t<I - 1, typename Cpu::Children>::out;
  }
  template <std::size_t I>
  using Child = OnDevice<typename std::tuple_element_t<I, Items>::Layer, input_of<I>()>;

  template <std::size_t... I>
  static auto child_traces(std::index_sequence<I...>) -> std::tuple<typename Child<I>::Trace...>;

  struct Trace {
    std::array<DeviceTensor, (count > 1 ? count - 1 : 0)> intermediate;  // output of child i, for i < count - 1
    decltype(child_traces(std::make_index_sequence<count>{})) children;
  };

  static void forward(Context& c, const bf16* p, ConstDeviceView x, DeviceView y, Trace& t) { forward_from<0>(c, p, x, y, t); }

  // A Seq that ends in a convolution without activation can end in
  // activation(conv + residual), one cuDNN graph (Residual uses it).
  static constexpr bool ends_in_plain_convolution =
      requires(Context& c, const bf16* p, ConstDeviceView x, DeviceView y, const bf16* r, std::optional<float> s) {
        Child<count - 1>::forward_with_residual(c, p, x, y, r, s);
      };
  static void forward_with_residual(Context& c, const bf16* p, ConstDeviceView x, DeviceView y, Trace& t,
                                    const bf16* residual, std::optional<float> slope)
    requires ends_in_plain_convolution
  {
    forward_from<0>(c, p, x, y, t, residual, slope);
  }

  static void backward(Context& c, const bf16* p, float* g, ConstDeviceView x, ConstDeviceView y, ConstDeviceView dy,
                       DeviceView dx, Trace& t) {
    backward_from<count - 1>(c, p, g, x, y, dy, dx, t);
  }

  // backward when the forward ended in leaky_relu(conv + residual) (Residual's
  // fused lowering): y and dy are the activation's, d_pre receives the
  // gradient before it, in the same pass as the last convolution's bias gradient.
  static constexpr bool ends_in_biased_plain_convolution =
      requires(Context& c, const bf16* p, float* g, ConstDeviceView v, DeviceView d) {
        Child<count - 1>::backward_through_leaky_relu(c, p, g, v, v, v, 0.0f, d, d);
      };
  static void backward_through_leaky_relu(Context& c, const bf16* p, float* g, ConstDeviceView x, ConstDeviceView y,
                                          ConstDeviceView dy, float slope, DeviceView d_pre, DeviceView dx, Trace& t)
    requires ends_in_biased_plain_convolution
  {
    constexpr std::size_t I = count - 1;
    backward_into<I>(c, p, g, x, y, dx, t, [&](ConstDeviceView in, DeviceView d_in) {
      Child<I>::backward_through_leaky_relu(c, p + offsets[I], g + offsets[I], in, y, dy, slope, d_pre, d_in);
    });
  }

  static void convert_layout(float* w, Layout to) { convert_children<Child>(w, offsets, to); }

 private:
  // With a residual, the last child adds it before `slope`'s activation.
  template <std::size_t I>
  static void forward_from(Context& c, const bf16* p, ConstDeviceView in, DeviceView y, Trace& t, const bf16* residual = nullptr,
                           std::optional<float> slope = std::nullopt) {
    if constexpr (I + 1 == count) {
      if constexpr (ends_in_plain_convolution) {
        if (residual) return Child<I>::forward_with_residual(c, p + offsets[I], in, y, residual, slope);
      }
      Child<I>::forward(c, p + offsets[I], in, y, std::get<I>(t.children));
    } else {
      t.intermediate[I] = DeviceTensor(c, batched(in.batch(), Child<I>::out));
      Child<I>::forward(c, p + offsets[I], in, t.intermediate[I].view(), std::get<I>(t.children));
      forward_from<I + 1>(c, p, t.intermediate[I].view(), y, t, residual, slope);
    }
  }

  // Child I is a DepthToSpace whose input comes from a convolution that can
  // take the DepthToSpace's output gradient directly (an Upscale block):
  // backward then skips DepthToSpace's own pass.
  template <std::size_t I>
  static constexpr int folded_block() {
    if constexpr (I == 0) {
      return 0;
    } else {
      constexpr int block = depth_to_space_block<typename std::tuple_element_t<I, Items>::Layer>;
      constexpr bool convolution_takes_it = requires(Context& c, const bf16* p, float* g, ConstDeviceView v, DeviceView d) {
        Child<I - 1>::backward_from_depth_to_space(c, p, g, v, v, v, d, block);
      };
      return convolution_takes_it ? block : 0;
    }
  }

  template <std::size_t I>
  static void backward_from(Context& c, const bf16* p, float* g, ConstDeviceView x, ConstDeviceView y, ConstDeviceView dy,
                            DeviceView dx, Trace& t) {
    if constexpr (constexpr int block = folded_block<I>(); block > 0) {
      constexpr std::size_t J = I - 1;  // the convolution
      if constexpr (I + 1 < count) t.intermediate[I] = DeviceTensor();  // DepthToSpace's output: no backward reads it
      const ConstDeviceView conv_out = std::as_const(t.intermediate[J]).view();
      backward_into<J>(c, p, g, x, y, dx, t, [&](ConstDeviceView in, DeviceView d_in) {
        Child<J>::backward_from_depth_to_space(c, p + offsets[J], g + offsets[J], in, conv_out, dy, d_in, block);
      });
    } else {
      const ConstDeviceView out_i = [&] {
        if constexpr (I + 1 == count)
          return y;
        else
          return std::as_const(t.intermediate[I]).view();
      }();
      backward_into<I>(c, p, g, x, y, dx, t, [&](ConstDeviceView in, DeviceView d_in) {
        Child<I>::backward(c, p + offsets[I], g + offsets[I], in, out_i, dy, d_in, std::get<I>(t.children));
      });
    }
  }

  // Child I's backward, `run(in, d_in)` on its input and where its input
  // gradient goes (the Seq's dx for the first child), then the children
  // before it on that gradient. Child I's output is no longer needed after.
  template <std::size_t I, class Run>
  static void backward_into(Context& c, const bf16* p, float* g, ConstDeviceView x, ConstDeviceView y, DeviceView dx, Trace& t,
                            Run run) {
    if constexpr (I == 0) {
      run(x, dx);
    } else {
      const ConstDeviceView in = std::as_const(t.intermediate[I - 1]).view();
      DeviceTensor d_in(c, in.shape);
      run(in, d_in.view());
      if constexpr (I + 1 < count) t.intermediate[I] = DeviceTensor();
      backward_from<I - 1>(c, p, g, x, y, std::as_const(d_in).view(), dx, t);
    }
  }
};

// The activation a Residual's Post applies, when the convolution's fused
// graph can apply it instead: LeakyReLU (its slope) or Identity (none).
template <class Post>
struct FusablePost {
  static constexpr bool fusable = false;
};
template <float Slope>
struct FusablePost<LeakyReLU<Slope>> {
  static constexpr bool fusable = true;
  static constexpr std::optional<float> slope = Slope;
};
template <>
struct FusablePost<Identity> {
  static constexpr bool fusable = true;
  static constexpr std::optional<float> slope = std::nullopt;
};

// y = Post(x + Body(x)). When Body ends in a convolution without activation
// and Post is LeakyReLU or Identity (DeepFaceLab's ResidualBlock), the add and
// the activation ride in that convolution's cuDNN graph: no body output, no
// sum written. Post's backward needs only its output, which the fused path has.
template <class Body, class Post, Shape In>
struct OnDevice<Residual<Body, Post>, In> {
  using Cpu = Bound<Residual<Body, Post>, In>;
  using B = OnDevice<Body, In>;
  using P = OnDevice<Post, In>;
  static constexpr Shape out = Cpu::out;
  static constexpr auto params = Cpu::params;
  static constexpr std::int64_t post_offset = Cpu::post_offset;

  struct Trace {
    DeviceTensor body_out, sum;
    typename B::Trace body;
    typename P::Trace post;
  };

  static constexpr bool fused = FusablePost<Post>::fusable && requires { requires B::ends_in_plain_convolution; };

  static void forward(Context& c, const bf16* p, ConstDeviceView x, DeviceView y, Trace& t) {
    if constexpr (fused) {
      B::forward_with_residual(c, p, x, y, t.body, x.data, FusablePost<Post>::slope);
      return;
    }
    t.body_out = DeviceTensor(c, x.shape);
    B::forward(c, p, x, t.body_out.view(), t.body);
    t.sum = DeviceTensor(c, x.shape);
    gpu::add(x.data, t.body_out.buffer.data(), t.sum.buffer.data(), x.numel(), c.stream);
    c.mark("residual add");
    P::forward(c, p + post_offset, std::as_const(t.sum).view(), y, t.post);
  }

  // Fused with a LeakyReLU post and a bias on the last convolution, the
  // activation's backward and that bias gradient are one pass too.
  static constexpr bool fused_backward =
      fused && requires {
        requires FusablePost<Post>::slope.has_value();
        requires B::ends_in_biased_plain_convolution;
      };

  static void backward(Context& c, const bf16* p, float* g, ConstDeviceView x, ConstDeviceView y, ConstDeviceView dy,
                       DeviceView dx, Trace& t) {
    DeviceTensor d_sum(c, x.shape);
    if constexpr (fused_backward) {
      B::backward_through_leaky_relu(c, p, g, x, y, dy, *FusablePost<Post>::slope, d_sum.view(), dx, t.body);
    } else {
      // Fused, neither the sum nor the body's output was kept: Post's backward
      // reads only y, and the body's last (plain) convolution reads no output.
      const ConstDeviceView sum = fused ? y : std::as_const(t.sum).view(), body_out = fused ? y : std::as_const(t.body_out).view();
      P::backward(c, p + post_offset, g + post_offset, sum, y, dy, d_sum.view(), t.post);
      t.sum = DeviceTensor();
      B::backward(c, p, g, x, body_out, std::as_const(d_sum).view(), dx, t.body);
      t.body_out = DeviceTensor();
    }
    if (dx.data) gpu::add(dx.data, d_sum.buffer.data(), dx.data, x.numel(), c.stream);
    c.mark("residual add");
  }

  static void convert_layout(float* w, Layout to) {
    B::convert_layout(w, to);
    P::convert_layout(w + post_offset, to);
  }
};

// Every branch on the same input, outputs stacked along channels (the last,
// contiguous dimension of a channels-last image).
template <class... Branches, Shape In>
struct OnDevice<ConcatBranches<Branches...>, In> {
  using Cpu = Bound<ConcatBranches<Branches...>, In>;
  static constexpr std::size_t count = sizeof...(Branches);
  static constexpr Shape out = Cpu::out;
  static constexpr auto params = Cpu::params;
  static constexpr auto offsets = Cpu::offsets;
  template <std::size_t I>
  using Child = OnDevice<std::tuple_element_t<I, std::tuple<Branches...>>, In>;
  static constexpr std::array<std::int64_t, count> channels{Bound<Branches, In>::out[0]...};
  static constexpr auto channel_offsets = [] {
    std::array<std::int64_t, count> at{};
    for (std::size_t i = 1; i < count; ++i) at[i] = at[i - 1] + channels[i - 1];
    return at;
  }();

  struct Trace {
    std::array<DeviceTensor, count> outputs;
    std::tuple<typename OnDevice<Branches, In>::Trace...> children;
  };

  // Pixels of the output: rows of the channels-last layout.
  static std::int64_t rows(std::int64_t batch) { return batch * (out.rank == 3 ? out.h() * out.w() : 1); }

  static void forward(Context& c, const bf16* p, ConstDeviceView x, DeviceView y, Trace& t) {
    [&]<std::size_t... I>(std::index_sequence<I...>) { (forward_one<I>(c, p, x, y, t), ...); }
    (std::make_index_sequence<count>{});
  }

  static void backward(Context& c, const bf16* p, float* g, ConstDeviceView x, ConstDeviceView, ConstDeviceView dy,
                       DeviceView dx, Trace& t) {
    [&]<std::size_t... I>(std::index_sequence<I...>) { (backward_one<I>(c, p, g, x, dy, dx, t), ...); }
    (std::make_index_sequence<count>{});
  }

  static void convert_layout(float* w, Layout to) { convert_children<Child>(w, offsets, to); }

 private:
  template <std::size_t I>
  static void forward_one(Context& c, const bf16* p, ConstDeviceView x, DeviceView y, Trace& t) {
    t.outputs[I] = DeviceTensor(c, batched(x.batch(), Child<I>::out));
    Child<I>::forward(c, p + offsets[I], x, t.outputs[I].view(), std::get<I>(t.children));
    gpu::copy_channels(t.outputs[I].buffer.data(), channels[I], 0, y.data, out[0], channel_offsets[I], rows(x.batch()),
                       channels[I], c.stream);
    c.mark("concatenation");
  }

  // Branch I's share of dy, its backward, and its input gradient added into dx (the first one writes it).
  template <std::size_t I>
  static void backward_one(Context& c, const bf16* p, float* g, ConstDeviceView x, ConstDeviceView dy, DeviceView dx,
                           Trace& t) {
    DeviceTensor d_out(c, t.outputs[I].shape);
    gpu::copy_channels(dy.data, out[0], channel_offsets[I], d_out.buffer.data(), channels[I], 0, rows(x.batch()), channels[I],
                       c.stream);
    c.mark("concatenation");
    DeviceTensor d_in;
    if (dx.data && I > 0) d_in = DeviceTensor(c, x.shape);
    const DeviceView into = dx.data ? (I == 0 ? dx : d_in.view()) : DeviceView{};
    Child<I>::backward(c, p + offsets[I], g + offsets[I], x, std::as_const(t.outputs[I]).view(), std::as_const(d_out).view(),
                       into, std::get<I>(t.children));
    if (dx.data && I > 0) gpu::add(dx.data, d_in.buffer.data(), dx.data, x.numel(), c.stream);
    c.mark("concatenation");
    t.outputs[I] = DeviceTensor();
  }
};

}  // namespace graft::nn::cuda
