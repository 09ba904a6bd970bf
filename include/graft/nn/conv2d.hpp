// Conv2d: 2-D convolution with symmetric explicit zero padding and a bias.
//
// Contract: input (Cin, H, W); output (OutChannels, (H + 2P - K) / S + 1, ...).
// Weights are OIHW (PyTorch's layout, so checkpoints load there directly),
// Glorot-uniform with fan = K*K*channels as DeepFaceLab initialises them;
// the bias starts at zero. The default padding K/2 is DeepFaceLab's "SAME"
// (pad 2 for a 5x5 stride-2 convolution on every side, not TensorFlow's 1/2).
#pragma once

#include "graft/backend/cpu/conv.hpp"
#include "graft/backend/cpu/elementwise.hpp"
#include "graft/nn/activation.hpp"
#include "graft/nn/layer.hpp"

namespace graft::nn {

template <int OutChannels, int Kernel, int Stride = 1, int Padding = Kernel / 2, bool Bias = true>
struct Conv2d {
  static_assert(OutChannels > 0 && Kernel > 0 && Stride > 0 && Padding >= 0, "Conv2d: invalid hyper-parameters");

  template <Shape In>
  struct Impl {
    static_assert(expect_extent<3, In.rank, In>, "Conv2d: input must be (C, H, W)");
    static_assert(In.h() + 2 * Padding >= Kernel && In.w() + 2 * Padding >= Kernel,
                  "Conv2d: kernel larger than the padded input");

    static constexpr std::int64_t in_channels = In.c();
    static constexpr Shape out{OutChannels, (In.h() + 2 * Padding - Kernel) / Stride + 1,
                               (In.w() + 2 * Padding - Kernel) / Stride + 1};
    static constexpr std::int64_t fan_in = in_channels * Kernel * Kernel;
    static constexpr std::int64_t fan_out = std::int64_t{OutChannels} * Kernel * Kernel;

    static constexpr auto params = [] {
      if constexpr (Bias)
        return laid_out(std::array{
            ParamSpec{Name("weight"), Shape{OutChannels, in_channels, Kernel, Kernel}, 0, Init::glorot_uniform, fan_in, fan_out},
            ParamSpec{Name("bias"), Shape{OutChannels}, 0, Init::zeros}});
      else
        return laid_out(std::array{ParamSpec{Name("weight"), Shape{OutChannels, in_channels, Kernel, Kernel}, 0,
                                             Init::glorot_uniform, fan_in, fan_out}});
    }();

    using Trace = NoTrace;

    static cpu::Conv2dGeometry geometry(std::int64_t batch) {
      return {batch, in_channels, In.h(), In.w(), OutChannels, Kernel, Stride, Padding};
    }

    static void forward(const float* p, ConstView x, View y, Trace&) { forward_with(p, x, y, {}); }

    static void forward_with(const float* p, ConstView x, View y, const cpu::ConvEpilogue& epilogue) {
      cpu::conv2d_forward(geometry(x.batch()), x.data, p + params[0].offset, Bias ? p + params.back().offset : nullptr, y.data,
                          epilogue);
    }

    static void backward(const float* p, float* g, ConstView x, ConstView, ConstView dy, View dx, Trace&) {
      cpu::conv2d_backward(geometry(x.batch()), x.data, dy.data, p + params[0].offset, dx.data, g + params[0].offset,
                           Bias ? g + params.back().offset : nullptr);
    }
  };
};

// Conv2d followed by LeakyReLU<Slope>, computed in one pass: the activation
// rides in the convolution's epilogue, and backward turns dy into the
// pre-activation gradient from the output before the convolution's backward.
// Seq uses it for every adjacent (Conv2d, LeakyReLU) pair.
template <class Conv, float Slope>
struct Conv2dLeakyReLU {
  template <Shape In>
  struct Impl : Conv::template Impl<In> {
    using Base = typename Conv::template Impl<In>;
    using typename Base::Trace;

    static void forward(const float* p, ConstView x, View y, Trace&) { Base::forward_with(p, x, y, {.leaky_relu_slope = Slope}); }

    static void backward(const float* p, float* g, ConstView x, ConstView y, ConstView dy, View dx, Trace& t) {
      Tensor d_pre(y.shape);
      cpu::leaky_relu_backward(y.data, dy.data, d_pre.data(), y.numel(), Slope);
      Base::backward(p, g, x, ConstView{}, d_pre.view(), dx, t);
    }
  };
};

template <int O, int K, int S, int P, bool B, float Slope>
struct FusedPair<Conv2d<O, K, S, P, B>, LeakyReLU<Slope>> {
  using type = Conv2dLeakyReLU<Conv2d<O, K, S, P, B>, Slope>;
};

}  // namespace graft::nn
