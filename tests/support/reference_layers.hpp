// Naive double-precision references for the layers of graft::nn.
//
// Written as the textbook loops, independent of oneDNN and of the layer
// code, so that a test compares two implementations that share nothing.
#pragma once

#include <cstdint>
#include <vector>

namespace graft::testing {

// x (N, C, H, W), w (O, C, K, K), b (O) or empty -> (N, O, OH, OW)
inline std::vector<double> reference_conv2d(const float* x, const float* w, const float* b, std::int64_t n, std::int64_t c,
                                            std::int64_t h, std::int64_t wd, std::int64_t o, std::int64_t k, std::int64_t stride,
                                            std::int64_t pad) {
  const std::int64_t oh = (h + 2 * pad - k) / stride + 1, ow = (wd + 2 * pad - k) / stride + 1;
  std::vector<double> y(static_cast<std::size_t>(n * o * oh * ow));
  for (std::int64_t in = 0; in < n; ++in)
    for (std::int64_t io = 0; io < o; ++io)
      for (std::int64_t y0 = 0; y0 < oh; ++y0)
        for (std::int64_t x0 = 0; x0 < ow; ++x0) {
          double acc = b ? b[io] : 0.0;
          for (std::int64_t ic = 0; ic < c; ++ic)
            for (std::int64_t ky = 0; ky < k; ++ky)
              for (std::int64_t kx = 0; kx < k; ++kx) {
                const std::int64_t yy = y0 * stride + ky - pad, xx = x0 * stride + kx - pad;
                if (yy < 0 || yy >= h || xx < 0 || xx >= wd) continue;
                acc += static_cast<double>(x[((in * c + ic) * h + yy) * wd + xx]) * w[((io * c + ic) * k + ky) * k + kx];
              }
          y[static_cast<std::size_t>(((in * o + io) * oh + y0) * ow + x0)] = acc;
        }
  return y;
}

// x (N, I), w (O, I), b (O) -> (N, O)
inline std::vector<double> reference_dense(const float* x, const float* w, const float* b, std::int64_t n, std::int64_t in,
                                           std::int64_t out) {
  std::vector<double> y(static_cast<std::size_t>(n * out));
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t o = 0; o < out; ++o) {
      double acc = b[o];
      for (std::int64_t j = 0; j < in; ++j) acc += static_cast<double>(x[i * in + j]) * w[o * in + j];
      y[static_cast<std::size_t>(i * out + o)] = acc;
    }
  return y;
}

}  // namespace graft::testing
