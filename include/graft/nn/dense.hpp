// Dense: y = x W^T + b, a fully connected layer without activation.
//
// Contract: input (In), a flat vector per sample; output (Out). The weight is
// [Out, In] (PyTorch's nn.Linear layout), Glorot-uniform; the bias is zero.
#pragma once

#include "graft/backend/cpu/gemm.hpp"
#include "graft/nn/layer.hpp"

namespace graft::nn {

template <int Out, bool Bias = true>
struct Dense {
  static_assert(Out > 0, "Dense: output size must be positive");

  template <Shape InShape>
  struct Impl {
    static_assert(expect_extent<1, InShape.rank, InShape>, "Dense: input must be a flat vector; put Flatten before it");

    static constexpr std::int64_t in_features = InShape[0];
    static constexpr Shape out{Out};
    static constexpr auto params = [] {
      if constexpr (Bias)
        return laid_out(std::array{ParamSpec{Name("weight"), Shape{Out, in_features}, 0, Init::glorot_uniform, in_features, Out},
                                   ParamSpec{Name("bias"), Shape{Out}, 0, Init::zeros}});
      else
        return laid_out(
            std::array{ParamSpec{Name("weight"), Shape{Out, in_features}, 0, Init::glorot_uniform, in_features, Out}});
    }();

    using Trace = NoTrace;

    static void forward(const float* p, ConstView x, View y, Trace&) {
      const std::int64_t n = x.batch();
      if constexpr (Bias)
        for (std::int64_t i = 0; i < n; ++i) std::copy_n(p + params[1].offset, Out, y.data + i * Out);
      cpu::gemm(cpu::Transpose::no, cpu::Transpose::yes, n, Out, in_features, 1.0f, x.data, p + params[0].offset,
                Bias ? 1.0f : 0.0f, y.data);
    }

    static void backward(const float* p, float* g, ConstView x, ConstView, ConstView dy, View dx, Trace&) {
      const std::int64_t n = x.batch();
      cpu::gemm(cpu::Transpose::yes, cpu::Transpose::no, Out, in_features, n, 1.0f, dy.data, x.data, 1.0f, g + params[0].offset);
      if constexpr (Bias) {
        float* db = g + params[1].offset;
        for (std::int64_t i = 0; i < n; ++i)
          for (std::int64_t o = 0; o < Out; ++o) db[o] += dy.data[i * Out + o];
      }
      if (dx.data)
        cpu::gemm(cpu::Transpose::no, cpu::Transpose::no, n, in_features, Out, 1.0f, dy.data, p + params[0].offset, 0.0f,
                  dx.data);
    }
  };
};

}  // namespace graft::nn
