// Structural dissimilarity (1 - SSIM) / 2 per sample, as DeepFaceLab's nn.dssim computes it.
//
// SAEHD's largest loss term is 10 * DSSIM of the masked images with a
// Gaussian window of int(res/11.6) pixels and sigma 1.5 (reference §3.1);
// at res >= 256 it is 5 * DSSIM(f) + 5 * DSSIM(f2), just two calls. The
// window is applied with VALID padding per channel; SSIM is averaged over
// the valid map, turned into (1 - ssim) / 2 and averaged over channels.
// The 2-D Gaussian is the outer product of a 1-D one, so filtering runs as
// rows then columns (2f instead of f^2 multiplies per pixel, f up to 55),
// and the exact gradient is the adjoint of the same passes. Work is split
// over (batch, channel) planes; maps are float, per-pixel SSIM terms and the
// map means are double.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "graft/core/error.hpp"
#include "graft/core/tensor.hpp"
#include "graft/loss/loss_value.hpp"
#include "graft/loss/masked.hpp"
#include "graft/loss/ssim_pixel.hpp"

namespace graft::loss {

struct DssimOptions {
  double sigma = 1.5;  // DFL keeps it fixed, whatever the filter size
  double k1 = 0.01;
  double k2 = 0.03;
  double max_val = 1.0;
};

// DFL's window for a face of `resolution` pixels, int(res / 11.6) (11 at 128).
constexpr int dssim_filter_size(int resolution) { return static_cast<int>(resolution / 11.6); }
// The second, smaller window DFL adds at resolution >= 256: int(res / 23.2).
constexpr int dssim_second_filter_size(int resolution) { return static_cast<int>(resolution / 23.2); }

namespace detail {

// The window's taps that matter: normalised exp(-0.5 (i - (f-1)/2)^2 / sigma^2)
// over the whole window (an even f is centred on a half pixel), less the
// tails under 2^-40 of the sum. At sigma 1.5 that keeps |i - centre| <= 10.5,
// so DFL's 55-pixel window at res 640 filters with 21 taps (44: 22). The dropped
// weight is below 1e-12 of a pixel value, far under float's rounding, and
// in float those taps would be denormals, which slow every multiply that
// touches them by two orders of magnitude.
struct GaussianTaps {
  std::int64_t first = 0;   // index in the full window of taps[0]
  std::vector<float> taps;  // symmetric
};

inline GaussianTaps gaussian_taps(int size, double sigma) {
  std::vector<double> g(static_cast<std::size_t>(size));
  const double centre = (size - 1) / 2.0;
  double total = 0.0;
  for (int i = 0; i < size; ++i)
    total += g[static_cast<std::size_t>(i)] = std::exp(-0.5 * (i - centre) * (i - centre) / (sigma * sigma));
  GaussianTaps out;
  out.first = size;
  for (int i = 0; i < size; ++i) {
    const double tap = g[static_cast<std::size_t>(i)] / total;
    if (tap < 0x1p-40) continue;
    out.first = std::min<std::int64_t>(out.first, i);
    out.taps.push_back(static_cast<float>(tap));
  }
  return out;
}

// VALID filtering of one (h, w) plane by the window (x) the window, and its
// adjoint. Holds the (h, w-f+1) row-pass scratch, so each thread owns one.
class SeparableGaussian {
 public:
  SeparableGaussian(int size, double sigma, std::int64_t height, std::int64_t width)
      : window_(gaussian_taps(size, sigma)),
        h_(height),
        w_(width),
        ho_(height - size + 1),
        wo_(width - size + 1),
        rows_(static_cast<std::size_t>(height * wo_)) {}

  std::int64_t out_height() const { return ho_; }
  std::int64_t out_width() const { return wo_; }

  // out (ho, wo) = G * in (h, w)
  void filter(const float* in, float* out) {
    std::fill(rows_.begin(), rows_.end(), 0.0f);
    for (std::int64_t y = 0; y < h_; ++y)
      for (std::int64_t k = 0; k < taps(); ++k) axpy(tap(k), in + y * w_ + offset(k), rows_.data() + y * wo_, wo_);
    std::fill_n(out, ho_ * wo_, 0.0f);
    for (std::int64_t y = 0; y < ho_; ++y)
      for (std::int64_t k = 0; k < taps(); ++k) axpy(tap(k), rows_.data() + (y + offset(k)) * wo_, out + y * wo_, wo_);
  }

  // out (h, w) = G^T * grad (ho, wo): the same passes transposed, columns first.
  void filter_adjoint(const float* grad, float* out) {
    std::fill(rows_.begin(), rows_.end(), 0.0f);
    for (std::int64_t y = 0; y < ho_; ++y)
      for (std::int64_t k = 0; k < taps(); ++k) axpy(tap(k), grad + y * wo_, rows_.data() + (y + offset(k)) * wo_, wo_);
    std::fill_n(out, h_ * w_, 0.0f);
    for (std::int64_t y = 0; y < h_; ++y)
      for (std::int64_t k = 0; k < taps(); ++k) axpy(tap(k), rows_.data() + y * wo_, out + y * w_ + offset(k), wo_);
  }

 private:
  // Inner loops run along a row, so they vectorise; x and y never overlap.
  static void axpy(float a, const float* x, float* y, std::int64_t n) {
#pragma omp simd
    for (std::int64_t i = 0; i < n; ++i) y[i] += a * x[i];
  }

  std::int64_t taps() const { return static_cast<std::int64_t>(window_.taps.size()); }
  float tap(std::int64_t k) const { return window_.taps[static_cast<std::size_t>(k)]; }
  std::int64_t offset(std::int64_t k) const { return window_.first + k; }

  GaussianTaps window_;
  std::int64_t h_, w_, ho_, wo_;
  std::vector<float> rows_;
};

// The per-thread state for SSIM of one (h, w) plane: inputs, moments and adjoints.
class SsimPlane {
 public:
  SsimPlane(int filter_size, const DssimOptions& options, std::int64_t height, std::int64_t width)
      : gauss_(filter_size, options.sigma, height, width),
        c1_((options.k1 * options.max_val) * (options.k1 * options.max_val)),
        c2_((options.k2 * options.max_val) * (options.k2 * options.max_val)),
        n_(height * width),
        n_out_(gauss_.out_height() * gauss_.out_width()),
        x_(plane(n_)),
        y_(plane(n_)),
        sq_(plane(n_)),
        xy_(plane(n_)),
        mx_(plane(n_out_)),
        my_(plane(n_out_)),
        msq_(plane(n_out_)),
        mxy_(plane(n_out_)) {}

  // Mean of lum*cs over the valid map of x = p*m against y = t*m (m may be null).
  double ssim(const float* p, const float* t, const float* m) {
    filter_moments(p, t, m);
    double total = 0.0;
    for (std::int64_t i = 0; i < n_out_; ++i) total += pixel(i).value;
    return total / static_cast<double>(n_out_);
  }

  // As ssim(), and dp += m * d(scale * ssim)/dx: the moments' adjoints pulled back through G.
  double ssim_backward(const float* p, const float* t, const float* m, double scale, float* dp) {
    filter_moments(p, t, m);
    mx_grad_.resize(static_cast<std::size_t>(n_out_));
    sq_grad_.resize(static_cast<std::size_t>(n_out_));
    xy_grad_.resize(static_cast<std::size_t>(n_out_));
    const double per_pixel = scale / static_cast<double>(n_out_);
    double total = 0.0;
    for (std::int64_t i = 0; i < n_out_; ++i) {
      const auto j = static_cast<std::size_t>(i);
      const SsimPixel s = pixel(i);
      total += s.value;
      mx_grad_[j] = static_cast<float>(per_pixel * s.d_mx);
      sq_grad_[j] = static_cast<float>(per_pixel * s.d_sq);
      xy_grad_[j] = static_cast<float>(per_pixel * s.d_xy);
    }
    // The images' squares and product are spent; their buffers take two adjoints.
    dx_.resize(static_cast<std::size_t>(n_));
    gauss_.filter_adjoint(mx_grad_.data(), dx_.data());
    gauss_.filter_adjoint(sq_grad_.data(), sq_.data());
    gauss_.filter_adjoint(xy_grad_.data(), xy_.data());
    for (std::int64_t i = 0; i < n_; ++i) {
      const auto j = static_cast<std::size_t>(i);
      const float dx = dx_[j] + 2.0f * x_[j] * sq_[j] + y_[j] * xy_[j];  // d/dx of G*x, G*(x^2+y^2), G*(x y)
      dp[i] += m ? m[i] * dx : dx;
    }
    return total / static_cast<double>(n_out_);
  }

 private:
  static std::vector<float> plane(std::int64_t n) { return std::vector<float>(static_cast<std::size_t>(n)); }

  void filter_moments(const float* p, const float* t, const float* m) {
    for (std::int64_t i = 0; i < n_; ++i) {
      const auto j = static_cast<std::size_t>(i);
      x_[j] = m ? p[i] * m[i] : p[i];
      y_[j] = m ? t[i] * m[i] : t[i];
      sq_[j] = x_[j] * x_[j] + y_[j] * y_[j];
      xy_[j] = x_[j] * y_[j];
    }
    gauss_.filter(x_.data(), mx_.data());
    gauss_.filter(y_.data(), my_.data());
    gauss_.filter(sq_.data(), msq_.data());
    gauss_.filter(xy_.data(), mxy_.data());
  }

  SsimPixel pixel(std::int64_t i) const {
    const auto j = static_cast<std::size_t>(i);
    return ssim_pixel(mx_[j], my_[j], msq_[j], mxy_[j], c1_, c2_);
  }

  SeparableGaussian gauss_;
  double c1_, c2_;
  std::int64_t n_, n_out_;
  std::vector<float> x_, y_, sq_, xy_;                   // (h, w)
  std::vector<float> mx_, my_, msq_, mxy_;               // (h-f+1, w-f+1)
  std::vector<float> mx_grad_, sq_grad_, xy_grad_, dx_;  // backward only
};

inline void check_dssim_arguments(const char* where, ConstView pred, ConstView target, int filter_size,
                                  const DssimOptions& options) {
  check_images(where, pred, target);
  check(filter_size >= 1 && filter_size <= pred.shape[2] && filter_size <= pred.shape[3], where, ": filter_size ", filter_size,
        " does not fit pred and target of shape ", pred.shape, " (needs 1 <= filter_size <= H, W)");
  check(options.sigma > 0.0 && options.max_val > 0.0, where, ": sigma ", options.sigma, " and max_val ", options.max_val,
        " must be positive");
}

// Per-sample mean over channels of (1 - ssim) / 2. With a gradient buffer,
// also dpred += d(sum_b w_b L_b)/dpred; mask is nullptr or (B,1,H,W).
inline LossValue dssim_planes(ConstView pred, ConstView target, const float* mask, int filter_size, const DssimOptions& options,
                              const SampleWeights* weights, float* dpred) {
  const std::int64_t batch = pred.shape[0], channels = pred.shape[1], h = pred.shape[2], w = pred.shape[3];
  std::vector<double> ssim(static_cast<std::size_t>(batch * channels));
#pragma omp parallel if (batch * channels > 1)
  {
    SsimPlane plane(filter_size, options, h, w);
#pragma omp for schedule(static)
    for (std::int64_t bc = 0; bc < batch * channels; ++bc) {
      const float* p = pred.data + bc * h * w;
      const float* t = target.data + bc * h * w;
      const float* m = mask ? mask + (bc / channels) * h * w : nullptr;
      // dL_b/dssim_c = -1 / (2 C)
      ssim[static_cast<std::size_t>(bc)] =
          dpred ? plane.ssim_backward(p, t, m, -(*weights)[bc / channels] / (2.0 * static_cast<double>(channels)),
                                      dpred + bc * h * w)
                : plane.ssim(p, t, m);
    }
  }
  LossValue out{std::vector<double>(static_cast<std::size_t>(batch), 0.0)};
  for (std::int64_t bc = 0; bc < batch * channels; ++bc)
    out.per_sample[static_cast<std::size_t>(bc / channels)] += (1.0 - ssim[static_cast<std::size_t>(bc)]) / 2.0;
  for (double& v : out.per_sample) v /= static_cast<double>(channels);
  return out;
}

}  // namespace detail

// pred, target: (B,C,H,W) -> (B,)
inline LossValue dssim(ConstView pred, ConstView target, int filter_size, const DssimOptions& options = {}) {
  detail::check_dssim_arguments("graft::loss::dssim", pred, target, filter_size, options);
  return detail::dssim_planes(pred, target, nullptr, filter_size, options, nullptr, nullptr);
}

// dpred += d(sum_b w_b dssim_b)/dpred; returns the per-sample values it computed on the way.
inline LossValue dssim_backward(ConstView pred, ConstView target, int filter_size, const SampleWeights& weights, View dpred,
                                const DssimOptions& options = {}) {
  constexpr const char* where = "graft::loss::dssim_backward";
  detail::check_dssim_arguments(where, pred, target, filter_size, options);
  detail::check_gradient_buffer(where, pred, dpred);
  weights.check_batch(where, pred.shape);
  return detail::dssim_planes(pred, target, nullptr, filter_size, options, &weights, dpred.data);
}

// dssim(pred * mask, target * mask); mask: (B,1,H,W), broadcast over C.
inline LossValue masked_dssim(ConstView pred, ConstView target, ConstView mask, int filter_size,
                              const DssimOptions& options = {}) {
  constexpr const char* where = "graft::loss::masked_dssim";
  detail::check_dssim_arguments(where, pred, target, filter_size, options);
  return detail::dssim_planes(pred, target, detail::check_mask(where, pred, mask), filter_size, options, nullptr, nullptr);
}

// The gradient reaches pred through the multiply by the mask; the mask gets none.
inline LossValue masked_dssim_backward(ConstView pred, ConstView target, ConstView mask, int filter_size,
                                       const SampleWeights& weights, View dpred, const DssimOptions& options = {}) {
  constexpr const char* where = "graft::loss::masked_dssim_backward";
  detail::check_dssim_arguments(where, pred, target, filter_size, options);
  const float* m = detail::check_mask(where, pred, mask);
  detail::check_gradient_buffer(where, pred, dpred);
  weights.check_batch(where, pred.shape);
  return detail::dssim_planes(pred, target, m, filter_size, options, &weights, dpred.data);
}

}  // namespace graft::loss
