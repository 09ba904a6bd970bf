// The GPU implementation of graft's leaf layers: the same layer types
// (Conv2d, Dense, LeakyReLU ...) and the same flat parameter layout as the
// CPU, executed with cuDNN, cuBLASLt and the backend's own kernels.
//
// OnDevice<Spec, In> is to the GPU what Spec::Impl<In> is to the CPU; it
// takes its shapes and parameter offsets from the CPU's Impl, so a model
// type written once runs on both. Its contract:
//   out, params                  as the CPU Impl's
//   Trace                        what forward keeps for backward
//   forward(c, p, x, y, t)       p: the layer's parameters in the bf16 copy
//   backward(c, p, g, x, y, dy, dx, t)
//                                g (f32 master gradients) += dL/dp; dx = dL/dx unless dx.data is null
//   convert_layout(w, to)        host, in place on the layer's slice of a flat
//                                f32 buffer, to Layout::device or back to
//                                Layout::canonical: the device keeps convolution
//                                weights as (K, R, S, C), cuDNN's layout for
//                                channels-last; checkpoints and the CPU use (K, C, R, S).
// Layers without a GPU implementation stop the compilation here, naming the layer.
#pragma once

#include <optional>
#include <vector>

#include "graft/backend/cuda/conv.hpp"
#include "graft/backend/cuda/elementwise.hpp"
#include "graft/backend/cuda/layout.hpp"
#include "graft/nn/activation.hpp"
#include "graft/nn/conv2d.hpp"
#include "graft/nn/dense.hpp"
#include "graft/nn/depth_to_space.hpp"
#include "graft/nn/pixel_norm.hpp"
#include "graft/nn/reshape.hpp"
#include "graft/nn/residual.hpp"
#include "graft/nn/cuda/context.hpp"

namespace graft::nn::cuda {

template <class Spec>
inline constexpr bool no_device_implementation = false;

// Where a flat parameter buffer's values are laid out for.
enum class Layout { canonical, device };

template <class Spec, Shape In>
struct OnDevice {
  static_assert(no_device_implementation<Spec>, "nn::cuda::OnDevice: this layer has no GPU implementation yet");
};

// Layers without parameters keep their (empty) layout as it is.
struct WithoutParameters {
  static constexpr std::array<ParamSpec, 0> params{};
  using Trace = NoTrace;
  static void convert_layout(float*, Layout) {}
};

// to = from, n bf16 values on the device.
inline void copy_on_device(const Context& c, const bf16* from, bf16* to, std::int64_t n) {
  gpu::check(cudaMemcpyAsync(to, from, std::size_t(n) * sizeof(bf16), cudaMemcpyDeviceToDevice, c.stream),
             "cudaMemcpyAsync (device to device)");
}

// (K, C, R, S) <-> (K, R, S, C) for one convolution weight, in place.
inline void permute_convolution_weight(float* w, std::int64_t k, std::int64_t c, std::int64_t rs, Layout to) {
  const std::vector<float> from(w, w + k * c * rs);
  for (std::int64_t o = 0; o < k; ++o)
    for (std::int64_t i = 0; i < c; ++i)
      for (std::int64_t s = 0; s < rs; ++s) {
        const std::int64_t canonical = (o * c + i) * rs + s, device = (o * rs + s) * c + i;
        if (to == Layout::device)
          w[device] = from[std::size_t(canonical)];
        else
          w[canonical] = from[std::size_t(device)];
      }
}

// Conv2d, and Conv2d followed by LeakyReLU<Slope> when Activated (the
// activation rides in cuDNN's fused forward graph; backward turns dy into the
// pre-activation gradient from the output, as the CPU does).
template <class ConvSpec, Shape In, bool Activated, float Slope = 0.0f>
struct ConvolutionOnDevice {
  using Cpu = Bound<ConvSpec, In>;
  static constexpr Shape out = Cpu::out;
  static constexpr auto params = Cpu::params;
  static constexpr bool has_bias = params.size() == 2;
  static constexpr std::int64_t kernel_area = params[0].shape[2] * params[0].shape[3];
  using Trace = NoTrace;

  static void forward(Context& c, const bf16* p, ConstDeviceView x, DeviceView y, Trace&) {
    c.cudnn.conv2d_forward(Cpu::geometry(x.batch()), x.data, p + params[0].offset, has_bias ? p + params[1].offset : nullptr,
                           y.data, Activated ? std::optional<float>(Slope) : std::nullopt, c.stream);
    c.mark("conv forward (+ bias, LeakyReLU)");
  }

  // y = activation(conv(x) + bias + residual) in one cuDNN graph: how a
  // residual block ends (Residual's lowering); only for a convolution without its own activation.
  static void forward_with_residual(Context& c, const bf16* p, ConstDeviceView x, DeviceView y, const bf16* residual,
                                    std::optional<float> slope)
    requires(!Activated)
  {
    c.cudnn.conv2d_forward(Cpu::geometry(x.batch()), x.data, p + params[0].offset, has_bias ? p + params[1].offset : nullptr,
                           y.data, slope, c.stream, residual);
    c.mark("conv forward (+ bias, residual, LeakyReLU)");
  }

  static void backward(Context& c, const bf16* p, float* g, ConstDeviceView x, ConstDeviceView y, ConstDeviceView dy,
                       DeviceView dx, Trace&) {
    const std::int64_t rows = x.batch() * out.h() * out.w();
    if constexpr (!Activated) {
      if constexpr (has_bias) {
        gpu::bias_gradient(dy.data, g + params[1].offset, rows, out.c(), c.stream);
        c.mark("conv bias gradient");
      }
      return weight_and_data_gradients(c, p, g, x, dy.data, dx);
    } else {
      gpu::DeviceBuffer<bf16> d_pre(static_cast<std::size_t>(dy.numel()), c.stream);
      if constexpr (has_bias) {
        gpu::leaky_relu_bias_gradient(y.data, dy.data, Slope, d_pre.data(), g + params[1].offset, rows, out.c(), c.stream);
        c.mark("LeakyReLU backward + conv bias gradient");
      } else {
        gpu::leaky_relu_backward(y.data, dy.data, d_pre.data(), dy.numel(), Slope, c.stream);
        c.mark("LeakyReLU backward");
      }
      weight_and_data_gradients(c, p, g, x, d_pre.data(), dx);
    }
  }

  // backward of leaky_relu(conv(x) + bias + ...) from that activation's
  // output y and its gradient dy (a residual block's last convolution, whose
  // activation rides in the forward graph): d_pre, the gradient before the
  // activation, is written for the caller too (the residual's skip path).
  static void backward_through_leaky_relu(Context& c, const bf16* p, float* g, ConstDeviceView x, ConstDeviceView y,
                                          ConstDeviceView dy, float slope, DeviceView d_pre, DeviceView dx)
    requires(!Activated && has_bias)
  {
    gpu::leaky_relu_bias_gradient(y.data, dy.data, slope, d_pre.data, g + params[1].offset, x.batch() * out.h() * out.w(), out.c(),
                                  c.stream);
    c.mark("LeakyReLU backward + conv bias gradient");
    weight_and_data_gradients(c, p, g, x, d_pre.data, dx);
  }

  // backward for a convolution that DepthToSpace<block> follows, dy_space
  // the gradient of that DepthToSpace's output: its backward pass is folded
  // into the LeakyReLU and bias gradient one (Seq's lowering of Upscale).
  static void backward_from_depth_to_space(Context& c, const bf16* p, float* g, ConstDeviceView x, ConstDeviceView y,
                                           ConstDeviceView dy_space, DeviceView dx, int block)
    requires(Activated && has_bias)
  {
    gpu::DeviceBuffer<bf16> d_pre(static_cast<std::size_t>(y.numel()), c.stream);
    gpu::leaky_relu_bias_gradient_from_depth_to_space(y.data, dy_space.data, Slope, d_pre.data(), g + params[1].offset, x.batch(),
                                                      out.h(), out.w(), out.c(), block, c.stream);
    c.mark("depth-to-space + LeakyReLU backward + conv bias gradient");
    weight_and_data_gradients(c, p, g, x, d_pre.data(), dx);
  }

  static void convert_layout(float* w, Layout to) { permute_convolution_weight(w + params[0].offset, out.c(), In.c(), kernel_area, to); }

 private:
  // From d_pre, the gradient before the activation: dw (accumulated into g
  // when the context asks) and dx (unless dx.data is null).
  static void weight_and_data_gradients(Context& c, const bf16* p, float* g, ConstDeviceView x, const bf16* d_pre, DeviceView dx) {
    const auto geometry = Cpu::geometry(x.batch());
    float* dw = g + params[0].offset;
    if (c.accumulate_gradients) {
      const std::int64_t n = params[0].shape.numel();
      gpu::DeviceBuffer<float> fresh(static_cast<std::size_t>(n), c.stream);
      c.cudnn.conv2d_backward_weights(geometry, x.data, d_pre, fresh.data(), c.stream);
      gpu::accumulate(fresh.data(), dw, n, c.stream);
    } else {
      c.cudnn.conv2d_backward_weights(geometry, x.data, d_pre, dw, c.stream);
    }
    c.mark("conv weight gradient");
    if (dx.data) {
      c.cudnn.conv2d_backward_data(geometry, d_pre, p + params[0].offset, dx.data, c.stream);
      c.mark("conv data gradient");
    }
  }
};

template <int O, int K, int S, int P, bool B, Shape In>
struct OnDevice<Conv2d<O, K, S, P, B>, In> : ConvolutionOnDevice<Conv2d<O, K, S, P, B>, In, false> {};

template <class Conv, float Slope, Shape In>
struct OnDevice<Conv2dLeakyReLU<Conv, Slope>, In> : ConvolutionOnDevice<Conv, In, true, Slope> {};

// Dense through cuBLASLt, the bias in the matmul's epilogue; the weights keep PyTorch's (Out, In) layout.
template <int Out, bool Bias, Shape In>
struct OnDevice<Dense<Out, Bias>, In> {
  using Cpu = Bound<Dense<Out, Bias>, In>;
  static constexpr Shape out = Cpu::out;
  static constexpr auto params = Cpu::params;
  using Trace = NoTrace;

  static gpu::DenseShape shape(std::int64_t batch) { return {batch, Cpu::in_features, Out}; }

  static void forward(Context& c, const bf16* p, ConstDeviceView x, DeviceView y, Trace&) {
    c.blas.dense_forward(shape(x.batch()), x.data, p + params[0].offset, Bias ? p + params[1].offset : nullptr, y.data, c.stream);
    c.mark("dense forward");
  }
  static void backward(Context& c, const bf16* p, float* g, ConstDeviceView x, ConstDeviceView, ConstDeviceView dy,
                       DeviceView dx, Trace&) {
    c.blas.dense_backward_weights(shape(x.batch()), x.data, dy.data, g + params[0].offset, c.stream);
    if constexpr (Bias) gpu::bias_gradient(dy.data, g + params[1].offset, x.batch(), Out, c.stream);
    if (dx.data) c.blas.dense_backward_data(shape(x.batch()), dy.data, p + params[0].offset, dx.data, c.stream);
    c.mark("dense backward");
  }
  static void convert_layout(float*, Layout) {}  // PyTorch's (Out, In) on both
};

template <float Slope, Shape In>
struct OnDevice<LeakyReLU<Slope>, In> : WithoutParameters {
  static constexpr Shape out = In;
  static void forward(Context& c, const bf16*, ConstDeviceView x, DeviceView y, Trace&) {
    gpu::leaky_relu_forward(x.data, y.data, x.numel(), Slope, c.stream);
    c.mark("LeakyReLU forward");
  }
  static void backward(Context& c, const bf16*, float*, ConstDeviceView, ConstDeviceView y, ConstDeviceView dy, DeviceView dx,
                       Trace&) {
    if (dx.data) gpu::leaky_relu_backward(y.data, dy.data, dx.data, y.numel(), Slope, c.stream);
    c.mark("LeakyReLU backward");
  }
};

template <Shape In>
struct OnDevice<Sigmoid, In> : WithoutParameters {
  static constexpr Shape out = In;
  static void forward(Context& c, const bf16*, ConstDeviceView x, DeviceView y, Trace&) {
    gpu::sigmoid_forward(x.data, y.data, x.numel(), c.stream);
    c.mark("sigmoid");
  }
  static void backward(Context& c, const bf16*, float*, ConstDeviceView, ConstDeviceView y, ConstDeviceView dy, DeviceView dx,
                       Trace&) {
    if (dx.data) gpu::sigmoid_backward(y.data, dy.data, dx.data, y.numel(), c.stream);
    c.mark("sigmoid");
  }
};

template <int Block, Shape In>
struct OnDevice<DepthToSpace<Block>, In> : WithoutParameters {
  using Cpu = Bound<DepthToSpace<Block>, In>;
  static constexpr Shape out = Cpu::out;
  static void forward(Context& c, const bf16*, ConstDeviceView x, DeviceView y, Trace&) {
    gpu::depth_to_space_forward(x.data, y.data, x.batch(), Cpu::H, Cpu::W, Cpu::C, Block, c.stream);
    c.mark("depth-to-space");
  }
  static void backward(Context& c, const bf16*, float*, ConstDeviceView x, ConstDeviceView, ConstDeviceView dy, DeviceView dx,
                       Trace&) {
    if (dx.data) gpu::depth_to_space_backward(dy.data, dx.data, x.batch(), Cpu::H, Cpu::W, Cpu::C, Block, c.stream);
    c.mark("depth-to-space");
  }
};

template <Shape In>
struct OnDevice<PixelNorm, In> : WithoutParameters {
  static constexpr Shape out = In;
  static void forward(Context& c, const bf16*, ConstDeviceView x, DeviceView y, Trace&) {
    gpu::pixel_norm_forward(x.data, y.data, x.batch(), In.numel(), c.stream);
    c.mark("pixel norm");
  }
  static void backward(Context& c, const bf16*, float*, ConstDeviceView x, ConstDeviceView, ConstDeviceView dy, DeviceView dx,
                       Trace&) {
    if (dx.data) gpu::pixel_norm_backward(x.data, dy.data, dx.data, x.batch(), In.numel(), c.stream);
    c.mark("pixel norm");
  }
};

// Flatten and Reshape reinterpret the CPU's (C, H, W) order. Images are
// channels-last here, so going to or from a vector transposes (N, H W, C) and
// (N, C, H W); a vector to a vector is a copy.
template <Shape In, Shape Out>
struct ReinterpretOnDevice : WithoutParameters {
  static_assert((In.rank == 1 || In.rank == 3) && (Out.rank == 1 || Out.rank == 3),
                "nn::cuda: Flatten and Reshape handle vectors and (C, H, W) images");
  static constexpr Shape out = Out;

  static void forward(Context& c, const bf16*, ConstDeviceView x, DeviceView y, Trace&) {
    move(c, x.data, y.data, x.batch(), In, Out);
    c.mark("flatten, reshape");
  }
  static void backward(Context& c, const bf16*, float*, ConstDeviceView x, ConstDeviceView, ConstDeviceView dy, DeviceView dx,
                       Trace&) {
    if (dx.data) move(c, dy.data, dx.data, x.batch(), Out, In);
    c.mark("flatten, reshape");
  }

 private:
  static std::int64_t plane(const Shape& s) { return s.rank == 3 ? s.h() * s.w() : 1; }
  // from (in the device layout of `a`) -> to (in that of `b`), through NCHW order.
  static void move(Context& c, const bf16* from, bf16* to, std::int64_t batch, const Shape& a, const Shape& b) {
    if (a.rank == 1 && b.rank == 1) {
      copy_on_device(c, from, to, batch * a.numel());
    } else if (a.rank == 3 && b.rank == 1) {
      gpu::transpose(from, to, batch, plane(a), a.c(), c.stream);
    } else if (a.rank == 1 && b.rank == 3) {
      gpu::transpose(from, to, batch, b.c(), plane(b), c.stream);
    } else {
      gpu::DeviceBuffer<bf16> nchw(static_cast<std::size_t>(batch * a.numel()), c.stream);
      gpu::transpose(from, nchw.data(), batch, plane(a), a.c(), c.stream);
      gpu::transpose(nchw.data(), to, batch, b.c(), plane(b), c.stream);
    }
  }
};

template <Shape In>
struct OnDevice<Flatten, In> : ReinterpretOnDevice<In, Shape{In.numel()}> {};

template <int C, int H, int W, Shape In>
struct OnDevice<Reshape<C, H, W>, In> : ReinterpretOnDevice<In, Shape{C, H, W}> {};

template <Shape In>
struct OnDevice<Identity, In> : WithoutParameters {
  static constexpr Shape out = In;
  static void forward(Context& c, const bf16*, ConstDeviceView x, DeviceView y, Trace&) {
    copy_on_device(c, x.data, y.data, x.numel());
    c.mark("copy");
  }
  static void backward(Context& c, const bf16*, float*, ConstDeviceView, ConstDeviceView, ConstDeviceView dy, DeviceView dx,
                       Trace&) {
    if (dx.data) copy_on_device(c, dy.data, dx.data, dy.numel());
    c.mark("copy");
  }
};

}  // namespace graft::nn::cuda
