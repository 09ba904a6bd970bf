// PixelNorm: y = x * rsqrt(mean(x^2) + 1e-6) over each whole sample.
//
// DeepFaceLab's '-u' option applies it to the flattened encoder output.
// Contract: output shape = input shape, no parameters. Backward with
// r = rsqrt(m + eps), m = mean(x^2):  dx = r*dy - r^3 * x * <dy, x> / n.
#pragma once

#include <cmath>

#include "graft/backend/cpu/elementwise.hpp"
#include "graft/nn/layer.hpp"

namespace graft::nn {

struct PixelNorm {
  static constexpr double epsilon = 1e-6;
  template <Shape In>
  struct Impl {
    static constexpr Shape out = In;
    static constexpr std::array<ParamSpec, 0> params{};
    using Trace = NoTrace;
    static constexpr std::int64_t n = In.numel();

    static double inverse_rms(const float* x) { return 1.0 / std::sqrt(cpu::sum_of_squares(x, n) / n + epsilon); }

    static void forward(const float*, ConstView x, View y, Trace&) {
      for (std::int64_t b = 0; b < x.batch(); ++b) {
        const float* xs = x.data + b * n;
        const auto r = static_cast<float>(inverse_rms(xs));
        float* ys = y.data + b * n;
        for (std::int64_t i = 0; i < n; ++i) ys[i] = xs[i] * r;
      }
    }
    static void backward(const float*, float*, ConstView x, ConstView, ConstView dy, View dx, Trace&) {
      if (!dx.data) return;
      for (std::int64_t b = 0; b < x.batch(); ++b) {
        const float* xs = x.data + b * n;
        const float* dys = dy.data + b * n;
        const double r = inverse_rms(xs);
        const auto a = static_cast<float>(r);
        const auto c = static_cast<float>(r * r * r * cpu::dot(dys, xs, n) / n);
        float* dxs = dx.data + b * n;
        for (std::int64_t i = 0; i < n; ++i) dxs[i] = a * dys[i] - c * xs[i];
      }
    }
  };
};

}  // namespace graft::nn
