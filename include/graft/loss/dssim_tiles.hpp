// SAEHD's masked DSSIM + MSE computed a 16 x 16 tile at a time: the work of
// one block of the CUDA backend's fused loss kernels (fused_loss.cu),
// written once for the GPU and for a CPU test that runs the same code a
// tile at a time (tests/loss/dssim_tiles.cpp), so that its indexing is
// checked in CI, where there is no GPU.
//
// A tile's functions take the block's threads (`Threads`: this thread's
// rank and their count; every loop is strided by it) and a barrier
// (`sync()`: __syncthreads on the GPU; nothing on the CPU, where one thread
// runs each phase to the end before the next), and a scratch area the
// caller sizes by ValuesLayout or GradientLayout (shared memory on the GPU).
//
//   values_tile    tiles over the valid SSIM map: this thread's share of the
//                  tile's SSIM sum and of its squared error (the tile's own
//                  16 x 16 input pixels; the last row and column of tiles
//                  take the image's remaining edge, so every pixel counts once)
//   sample_values  a sample's DSSIM and MSE from the values tiles' sums (the
//                  values kernel's last block)
//   gradient_tile  tiles over the input: dpred += the DSSIM's and the MSE's
//                  gradients at the tile's pixels, from the SSIM partials at
//                  every output that reaches them
#pragma once

#include <cstdint>

#include "graft/core/error.hpp"
#include "graft/core/host_device.hpp"
#include "graft/loss/dssim.hpp"
#include "graft/loss/ssim_pixel.hpp"

namespace graft::loss::tiles {

inline constexpr int tile = 16, max_taps = 64;

// The Gaussian window (output xo reads inputs xo + first + k, k < count),
// SSIM's constants and the valid map of (height, width) images.
struct Window {
  int count, first;
  float w[max_taps];
  double c1, c2;
  std::int64_t ho, wo;
};

inline Window window_for(std::int64_t height, std::int64_t width, int filter_size, const char* what) {
  check(filter_size >= 1 && filter_size <= height && filter_size <= width, what, ": filter_size ", filter_size,
        " does not fit images of ", height, "x", width);
  const DssimOptions options;
  const auto gaussian = detail::gaussian_taps(filter_size, options.sigma);
  check(gaussian.taps.size() <= std::size_t(max_taps), what, ": ", gaussian.taps.size(), " taps, at most ", max_taps);
  Window w{int(gaussian.taps.size()),
           int(gaussian.first),
           {},
           (options.k1 * options.max_val) * (options.k1 * options.max_val),
           (options.k2 * options.max_val) * (options.k2 * options.max_val),
           height - filter_size + 1,
           width - filter_size + 1};
  for (std::size_t k = 0; k < gaussian.taps.size(); ++k) w.w[k] = gaussian.taps[k];
  return w;
}

struct Threads {
  int rank, count;
};

// Scratch, in floats: x and y over the loaded square, the row pass's four
// moments, and (gradient only) SSIM's partials and their column adjoint.
struct ValuesLayout {
  int loaded;  // the inputs the tile's outputs read: tile + taps - 1 per side
  GRAFT_HOST_DEVICE explicit ValuesLayout(int taps) : loaded(tile + taps - 1) {}
  GRAFT_HOST_DEVICE int rows_at() const { return 2 * loaded * loaded; }
  GRAFT_HOST_DEVICE int floats() const { return rows_at() + 4 * loaded * tile; }
};

struct GradientLayout {
  int loaded, outputs;  // per side: tile + 2 (taps - 1) inputs, tile + taps - 1 outputs
  GRAFT_HOST_DEVICE explicit GradientLayout(int taps) : loaded(tile + 2 * (taps - 1)), outputs(tile + taps - 1) {}
  GRAFT_HOST_DEVICE int rows_at() const { return 2 * loaded * loaded; }
  GRAFT_HOST_DEVICE int partials_at() const { return rows_at() + 4 * loaded * outputs; }
  GRAFT_HOST_DEVICE int adjoint_at() const { return partials_at() + 3 * outputs * outputs; }
  GRAFT_HOST_DEVICE int floats() const { return adjoint_at() + 3 * tile * outputs; }
};

// One (height, width) plane of pred and target and its mask (null: none).
struct Plane {
  const float *p, *t, *m;
  std::int64_t height, width;
  GRAFT_HOST_DEVICE bool inside(std::int64_t y, std::int64_t x) const { return y >= 0 && x >= 0 && y < height && x < width; }
  GRAFT_HOST_DEVICE float mask_at(std::int64_t at) const { return m ? m[at] : 1.0f; }
  // ((p - t) m)^2 in double, as the CPU's masked MSE.
  GRAFT_HOST_DEVICE double squared_error(std::int64_t at) const {
    const double d = (double(p[at]) - t[at]) * (m ? double(m[at]) : 1.0);
    return d * d;
  }
  // x = p m and y = t m over the square of `side` pixels from (y0, x0), zero outside the image.
  GRAFT_HOST_DEVICE void load(Threads th, std::int64_t y0, std::int64_t x0, int side, float* xs, float* ys) const {
    for (int i = th.rank; i < side * side; i += th.count) {
      const std::int64_t y = y0 + i / side, x = x0 + i % side;
      float xv = 0.0f, yv = 0.0f;
      if (inside(y, x)) {
        const std::int64_t at = y * width + x;
        const float mv = mask_at(at);
        xv = p[at] * mv, yv = t[at] * mv;
      }
      xs[i] = xv, ys[i] = yv;
    }
  }
};

// The row pass of the four moments (x, y, x^2 + y^2, x y) over `rows` rows of
// a loaded square of `side`, for `outputs` output columns from loaded column 0.
GRAFT_HOST_DEVICE inline void row_pass(Threads th, const Window& w, const float* xs, const float* ys, int side, int rows, int outputs,
                                       float* moments) {
  for (int i = th.rank; i < rows * outputs; i += th.count) {
    const int r = i / outputs, c = i % outputs;
    float sum[4] = {0, 0, 0, 0};
    for (int k = 0; k < w.count; ++k) {
      const int at = r * side + c + k;
      const float x = xs[at], y = ys[at], tap = w.w[k];
      sum[0] += tap * x, sum[1] += tap * y, sum[2] += tap * (x * x + y * y), sum[3] += tap * (x * y);
    }
    for (int q = 0; q < 4; ++q) moments[(q * rows + r) * outputs + c] = sum[q];
  }
}

// SSIM at output (a, c) from the row pass: its means from rows a .. a + taps - 1.
GRAFT_HOST_DEVICE inline detail::SsimPixel ssim_at(const Window& w, const float* moments, int rows, int outputs, int a, int c) {
  float mean[4] = {0, 0, 0, 0};
  for (int k = 0; k < w.count; ++k)
    for (int q = 0; q < 4; ++q) mean[q] += w.w[k] * moments[(q * rows + a + k) * outputs + c];
  return detail::ssim_pixel(mean[0], mean[1], mean[2], mean[3], w.c1, w.c2);
}

// Tile (ty, tx) of tiles_y x tiles_x over the valid map: adds this thread's
// share of the SSIM sum to `ssim` and (with_mse) of the squared error to `squares`.
template <class Sync>
GRAFT_HOST_DEVICE void values_tile(Threads th, Sync sync, const Plane& plane, const Window& w, int ty, int tx, int tiles_y,
                                   int tiles_x, bool with_mse, float* scratch, double& ssim, double& squares) {
  const ValuesLayout layout(w.count);
  const std::int64_t y0 = std::int64_t(ty) * tile, x0 = std::int64_t(tx) * tile;
  float* xs = scratch;
  float* ys = scratch + layout.loaded * layout.loaded;
  float* moments = scratch + layout.rows_at();
  // Output (y0 + a) reads inputs y0 + a + first + k: the square starts `first` past the tile's origin.
  plane.load(th, y0 + w.first, x0 + w.first, layout.loaded, xs, ys);
  if (with_mse) {  // from the planes themselves: a tile's own pixels are not all in its square
    const std::int64_t y_end = ty + 1 == tiles_y ? plane.height : y0 + tile;
    const std::int64_t x_end = tx + 1 == tiles_x ? plane.width : x0 + tile;
    const int rows = int(y_end - y0), columns = int(x_end - x0);
    for (int i = th.rank; i < rows * columns; i += th.count)
      squares += plane.squared_error((y0 + i / columns) * plane.width + x0 + i % columns);
  }
  sync();
  row_pass(th, w, xs, ys, layout.loaded, layout.loaded, tile, moments);
  sync();
  for (int i = th.rank; i < tile * tile; i += th.count) {
    const int a = i / tile, c = i % tile;
    if (y0 + a < w.ho && x0 + c < w.wo) ssim += ssim_at(w, moments, layout.loaded, tile, a, c).value;
  }
}

// Tile (ty, tx) over the input: dpred (the plane's) += dssim_scale times the
// gradient of the plane's SSIM sum, plus mse_scale times that of its squared
// error (mse_scale 0: none).
template <class Sync>
GRAFT_HOST_DEVICE void gradient_tile(Threads th, Sync sync, const Plane& plane, const Window& w, int ty, int tx, double dssim_scale,
                                     double mse_scale, float* scratch, float* dpred) {
  const GradientLayout layout(w.count);
  const int reach = w.count - 1, side = layout.loaded, outs = layout.outputs;
  const std::int64_t y0 = std::int64_t(ty) * tile, x0 = std::int64_t(tx) * tile;
  // Output (oy0 + a) reads inputs oy0 + a + first + k = (y0 - reach) + a + k: loaded row a + k.
  const std::int64_t oy0 = y0 - w.first - reach, ox0 = x0 - w.first - reach;
  float* xs = scratch;
  float* ys = scratch + side * side;
  float* moments = scratch + layout.rows_at();
  float* partials = scratch + layout.partials_at();  // [3][outs][outs]
  float* adjoint = scratch + layout.adjoint_at();    // [3][tile][outs]

  plane.load(th, y0 - reach, x0 - reach, side, xs, ys);
  sync();
  row_pass(th, w, xs, ys, side, side, outs, moments);
  sync();
  for (int i = th.rank; i < outs * outs; i += th.count) {
    const int a = i / outs, c = i % outs;
    const std::int64_t yo = oy0 + a, xo = ox0 + c;
    float g[3] = {0, 0, 0};
    if (yo >= 0 && xo >= 0 && yo < w.ho && xo < w.wo) {
      const auto px = ssim_at(w, moments, side, outs, a, c);
      g[0] = float(dssim_scale * px.d_mx), g[1] = float(dssim_scale * px.d_sq), g[2] = float(dssim_scale * px.d_xy);
    }
    for (int q = 0; q < 3; ++q) partials[(q * outs + a) * outs + c] = g[q];
  }
  sync();
  // Column adjoint: input row r of the tile is reached by output rows r + reach - k.
  for (int i = th.rank; i < tile * outs; i += th.count) {
    const int r = i / outs, c = i % outs;
    float sum[3] = {0, 0, 0};
    for (int k = 0; k < w.count; ++k)
      for (int q = 0; q < 3; ++q) sum[q] += w.w[k] * partials[(q * outs + r + reach - k) * outs + c];
    for (int q = 0; q < 3; ++q) adjoint[(q * tile + r) * outs + c] = sum[q];
  }
  sync();
  // Row adjoint, then through x = p m, x^2 + y^2 and x y; the MSE's gradient in the same pass.
  for (int i = th.rank; i < tile * tile; i += th.count) {
    const int r = i / tile, c = i % tile;
    const std::int64_t y = y0 + r, x = x0 + c;
    if (!plane.inside(y, x)) continue;
    float a[3] = {0, 0, 0};
    for (int k = 0; k < w.count; ++k)
      for (int q = 0; q < 3; ++q) a[q] += w.w[k] * adjoint[(q * tile + r) * outs + c + reach - k];
    const std::int64_t at = y * plane.width + x;
    const int loaded_at = (r + reach) * side + c + reach;
    const float m = plane.mask_at(at), xv = xs[loaded_at], yv = ys[loaded_at];
    float g = m * (a[0] + 2.0f * xv * a[1] + yv * a[2]);
    if (mse_scale != 0.0) g += float(mse_scale * 2.0 * ((double(plane.p[at]) - plane.t[at]) * double(m)) * double(m));
    dpred[at] += g;
  }
}

// Sample b's DSSIM and MSE from the values tiles' sums (`tiles` slots per
// plane, planes b C .. b C + C - 1), by a group of `lanes`: lane l adds each
// plane's slots l, l + count, ... in order, and sum(v) adds the lanes' shares
// in a fixed tree and gives the total to every lane, so the values are the
// same bits every run. On the GPU a warp does a sample (sum: shuffles); on
// the CPU one lane can (sum: v). load_ssim(i) and load_squares(i) read slot
// i (on the GPU, past L1: other blocks wrote them).
template <class Sum, class LoadSsim, class LoadSquares>
GRAFT_HOST_DEVICE void sample_values(Threads lanes, const Sum& sum, std::int64_t b, std::int64_t channels, std::int64_t pixels,
                                     int tiles, const Window& w, const LoadSsim& load_ssim, const LoadSquares& load_squares,
                                     double& dssim, double& mse) {
  double dssim_sum = 0, squared = 0;
  for (std::int64_t c = 0; c < channels; ++c) {
    const std::int64_t first = (b * channels + c) * tiles;
    double ssim = 0;
    for (int k = lanes.rank; k < tiles; k += lanes.count) {
      ssim += load_ssim(first + k);
      squared += load_squares(first + k);
    }
    dssim_sum += (1.0 - sum(ssim) / double(w.ho * w.wo)) / 2.0;
  }
  dssim = dssim_sum / double(channels);
  mse = sum(squared) / double(channels * pixels);
}

// dL_b/dssim = -weight / (2 C) per channel's mean, spread over the valid map's pixels.
inline double dssim_scale(std::int64_t channels, const Window& w, float weight) {
  return -double(weight) / (2.0 * double(channels)) / double(w.ho * w.wo);
}

inline int tiles_over(std::int64_t n) { return int((n + tile - 1) / tile); }

}  // namespace graft::loss::tiles
