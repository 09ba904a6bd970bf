// A double-precision reference forward for every graft::nn layer and
// combinator, written as textbook loops and sharing no kernel with graft.
//
// reference::Of<L, In>::forward(p, x, batch) evaluates layer L (bound to the
// per-sample input shape In) in double, reading its parameters from a double
// copy of graft's flat buffer at the offsets graft's own layout gives. The
// gradient checker differentiates this function by central differences in
// double (step 1e-6), so a layer's float backward is compared with a numeric
// gradient that carries no float rounding and crosses no LeakyReLU kink.
#pragma once

#include <cmath>
#include <cstdint>
#include <tuple>
#include <utility>
#include <vector>

#include "graft/nn.hpp"

namespace graft::testing::reference {

using Vec = std::vector<double>;

template <class L, Shape In>
struct Of;

template <int O, int K, int S, int P, bool B, Shape In>
struct Of<nn::Conv2d<O, K, S, P, B>, In> {
  using I = nn::Bound<nn::Conv2d<O, K, S, P, B>, In>;
  static Vec forward(const double* p, const Vec& x, std::int64_t n) {
    const double* w = p + I::params[0].offset;
    const double* b = B ? p + I::params.back().offset : nullptr;
    const std::int64_t oh = I::out.h(), ow = I::out.w();
    Vec y(static_cast<std::size_t>(n * O * oh * ow));
    for (std::int64_t s = 0; s < n; ++s)
      for (std::int64_t o = 0; o < O; ++o)
        for (std::int64_t yy = 0; yy < oh; ++yy)
          for (std::int64_t xx = 0; xx < ow; ++xx) {
            double acc = b ? b[o] : 0.0;
            for (std::int64_t c = 0; c < In.c(); ++c)
              for (std::int64_t ky = 0; ky < K; ++ky)
                for (std::int64_t kx = 0; kx < K; ++kx) {
                  const std::int64_t iy = yy * S + ky - P, ix = xx * S + kx - P;
                  if (iy < 0 || iy >= In.h() || ix < 0 || ix >= In.w()) continue;
                  acc += x[static_cast<std::size_t>(((s * In.c() + c) * In.h() + iy) * In.w() + ix)] * w[((o * In.c() + c) * K + ky) * K + kx];
                }
            y[static_cast<std::size_t>(((s * O + o) * oh + yy) * ow + xx)] = acc;
          }
    return y;
  }
};

template <int Out, bool B, Shape In>
struct Of<nn::Dense<Out, B>, In> {
  using I = nn::Bound<nn::Dense<Out, B>, In>;
  static Vec forward(const double* p, const Vec& x, std::int64_t n) {
    const double* w = p + I::params[0].offset;
    Vec y(static_cast<std::size_t>(n * Out));
    for (std::int64_t s = 0; s < n; ++s)
      for (std::int64_t o = 0; o < Out; ++o) {
        double acc = B ? p[I::params.back().offset + o] : 0.0;
        for (std::int64_t i = 0; i < In[0]; ++i) acc += x[static_cast<std::size_t>(s * In[0] + i)] * w[o * In[0] + i];
        y[static_cast<std::size_t>(s * Out + o)] = acc;
      }
    return y;
  }
};

template <class F>
Vec map(Vec x, F&& f) {
  for (double& v : x) v = f(v);
  return x;
}

template <float Slope, Shape In>
struct Of<nn::LeakyReLU<Slope>, In> {
  static Vec forward(const double*, const Vec& x, std::int64_t) {
    return map(x, [](double v) { return v > 0 ? v : static_cast<double>(Slope) * v; });
  }
};

template <Shape In>
struct Of<nn::Sigmoid, In> {
  static Vec forward(const double*, const Vec& x, std::int64_t) {
    return map(x, [](double v) { return 1.0 / (1.0 + std::exp(-v)); });
  }
};

template <Shape In>
struct Of<nn::Identity, In> {
  static Vec forward(const double*, const Vec& x, std::int64_t) { return x; }
};

template <Shape In>
struct Of<nn::Flatten, In> : Of<nn::Identity, In> {};

template <int C, int H, int W, Shape In>
struct Of<nn::Reshape<C, H, W>, In> : Of<nn::Identity, In> {};

template <int Block, Shape In>
struct Of<nn::DepthToSpace<Block>, In> {
  static Vec forward(const double*, const Vec& x, std::int64_t n) {
    const std::int64_t c_out = In.c() / (Block * Block), h = In.h(), w = In.w();
    Vec y(x.size());
    for (std::int64_t s = 0; s < n; ++s)
      for (std::int64_t c = 0; c < c_out; ++c)
        for (std::int64_t oy = 0; oy < h * Block; ++oy)
          for (std::int64_t ox = 0; ox < w * Block; ++ox) {
            const std::int64_t i = oy % Block, j = ox % Block;
            y[static_cast<std::size_t>(((s * c_out + c) * h * Block + oy) * w * Block + ox)] =
                x[static_cast<std::size_t>(((s * In.c() + (i * Block + j) * c_out + c) * h + oy / Block) * w + ox / Block)];
          }
    return y;
  }
};

template <Shape In>
struct Of<nn::PixelNorm, In> {
  static Vec forward(const double*, const Vec& x, std::int64_t n) {
    const std::int64_t m = In.numel();
    Vec y(x.size());
    for (std::int64_t s = 0; s < n; ++s) {
      double ms = 0.0;
      for (std::int64_t i = 0; i < m; ++i) ms += x[static_cast<std::size_t>(s * m + i)] * x[static_cast<std::size_t>(s * m + i)];
      const double r = 1.0 / std::sqrt(ms / m + nn::PixelNorm::epsilon);
      for (std::int64_t i = 0; i < m; ++i) y[static_cast<std::size_t>(s * m + i)] = x[static_cast<std::size_t>(s * m + i)] * r;
    }
    return y;
  }
};

template <nn::FixedString N, class L, Shape In>
struct Of<nn::Named<N, L>, In> : Of<L, In> {};

template <class Conv, float Slope, Shape In>
struct Of<nn::Conv2dLeakyReLU<Conv, Slope>, In> {
  static Vec forward(const double* p, const Vec& x, std::int64_t n) {
    return Of<nn::LeakyReLU<Slope>, nn::Bound<Conv, In>::out>::forward(p, Of<Conv, In>::forward(p, x, n), n);
  }
};

template <class... Ls, Shape In>
struct Of<nn::Seq<Ls...>, In> {
  using I = nn::Bound<nn::Seq<Ls...>, In>;
  template <std::size_t K, Shape At>
  static Vec from(const double* p, const Vec& x, std::int64_t n) {
    if constexpr (K == I::count) {
      return x;
    } else {
      using Layer = typename std::tuple_element_t<K, typename I::Items>::Layer;
      const Vec y = Of<Layer, At>::forward(p + I::offsets[K], x, n);
      return from<K + 1, nn::Bound<Layer, At>::out>(p, y, n);
    }
  }
  static Vec forward(const double* p, const Vec& x, std::int64_t n) { return from<0, In>(p, x, n); }
};

template <class Body, class Post, Shape In>
struct Of<nn::Residual<Body, Post>, In> {
  using I = nn::Bound<nn::Residual<Body, Post>, In>;
  static Vec forward(const double* p, const Vec& x, std::int64_t n) {
    Vec sum = Of<Body, In>::forward(p, x, n);
    for (std::size_t i = 0; i < sum.size(); ++i) sum[i] += x[i];
    return Of<Post, In>::forward(p + I::post_offset, sum, n);
  }
};

template <class... Bs, Shape In>
struct Of<nn::ConcatBranches<Bs...>, In> {
  using I = nn::Bound<nn::ConcatBranches<Bs...>, In>;
  static Vec forward(const double* p, const Vec& x, std::int64_t n) {
    std::vector<Vec> parts;
    std::size_t k = 0;
    ((parts.push_back(Of<Bs, In>::forward(p + I::offsets[k], x, n)), ++k), ...);
    Vec y;
    y.reserve(static_cast<std::size_t>(n * I::out.numel()));
    for (std::int64_t s = 0; s < n; ++s)
      for (const Vec& part : parts) {
        const auto per_sample = static_cast<std::ptrdiff_t>(part.size() / static_cast<std::size_t>(n));
        y.insert(y.end(), part.begin() + s * per_sample, part.begin() + (s + 1) * per_sample);
      }
    return y;
  }
};

}  // namespace graft::testing::reference
