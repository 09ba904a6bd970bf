// SAEHD's DSSIM window as the CUDA loss kernels take it: the Gaussian taps
// that matter (loss/dssim.hpp's gaussian_taps, sigma 1.5), by value into
// every kernel, and SSIM's two constants. One definition for the separate
// kernels (loss.cu) and the fused ones (fused_loss.cu).
#pragma once

#include <cstdint>

#include "graft/backend/cuda/loss.hpp"
#include "graft/core/error.hpp"
#include "graft/loss/dssim.hpp"

namespace graft::cuda::loss_window {

inline constexpr int max_taps = 64;

// Output xo of a VALID filtering reads inputs xo + first + k, k < count.
struct Taps {
  int count, first;
  float w[max_taps];
};

struct Window {
  Taps taps;
  double c1, c2;
  std::int64_t ho, wo;  // the valid map
};

inline Window window_for(const ImageShape& s, int filter_size, const char* what) {
  graft::check(filter_size >= 1 && filter_size <= s.height && filter_size <= s.width, what, ": filter_size ", filter_size,
               " does not fit images of ", s.height, "x", s.width);
  const graft::loss::DssimOptions options;
  const auto gaussian = graft::loss::detail::gaussian_taps(filter_size, options.sigma);
  graft::check(gaussian.taps.size() <= std::size_t(max_taps), what, ": ", gaussian.taps.size(), " taps, at most ", max_taps);
  Window w{{int(gaussian.taps.size()), int(gaussian.first), {}},
           (options.k1 * options.max_val) * (options.k1 * options.max_val),
           (options.k2 * options.max_val) * (options.k2 * options.max_val),
           s.height - filter_size + 1,
           s.width - filter_size + 1};
  for (std::size_t k = 0; k < gaussian.taps.size(); ++k) w.taps.w[k] = gaussian.taps[k];
  return w;
}

// dL_b/dssim = -weight / (2 C) per channel's mean, spread over the valid map's pixels.
inline double per_pixel_scale(const ImageShape& s, const Window& w, float weight) {
  return -double(weight) / (2.0 * double(s.channels)) / double(w.ho * w.wo);
}

}  // namespace graft::cuda::loss_window
