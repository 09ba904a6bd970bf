#include "graft/backend/cuda/check.hpp"
#include "graft/backend/cuda/loss.hpp"
#include "graft/backend/cuda/memory.hpp"
#include "graft/loss/dssim.hpp"
#include "graft/loss/ssim_pixel.hpp"
#include "graft/loss/dssim_tiles.hpp"
#include "graft/loss/l1.hpp"
#include "graft/loss/mse.hpp"
#include "launch.cuh"

namespace graft::cuda {
namespace {

using launch::blocks_for;
using launch::threads;
using Taps = graft::loss::tiles::Window;  // by value into every kernel

// The four quantities whose local means SSIM needs, at one pixel: x, y, x^2 + y^2, x y (x = p m, y = t m).
__device__ void moments_at(const float* p, const float* t, const float* m, std::int64_t i, float (&q)[4]) {
  const float x = m ? p[i] * m[i] : p[i], y = m ? t[i] * m[i] : t[i];
  q[0] = x, q[1] = y, q[2] = x * x + y * y, q[3] = x * y;
}

// rows[q][plane][y][xo] = sum_k tap_k * quantity_q(plane, y, xo + first + k)
__global__ void row_pass(const float* pred, const float* target, const float* mask, ImageShape s, std::int64_t wo, Taps taps,
                         float* rows) {
  const std::int64_t planes = s.batch * s.channels, count = planes * s.height * wo;
  launch::grid_stride(count, [&](std::int64_t i) {
    const std::int64_t xo = i % wo, y = (i / wo) % s.height, plane = i / (wo * s.height);
    const float* p = pred + plane * s.height * s.width + y * s.width;
    const float* t = target + plane * s.height * s.width + y * s.width;
    const float* m = mask ? mask + (plane / s.channels) * s.height * s.width + y * s.width : nullptr;
    float sum[4] = {0, 0, 0, 0};
    for (int k = 0; k < taps.count; ++k) {
      float q[4];
      moments_at(p, t, m, xo + taps.first + k, q);
      for (int j = 0; j < 4; ++j) sum[j] += taps.w[k] * q[j];
    }
    for (int j = 0; j < 4; ++j) rows[j * count + i] = sum[j];
  });
}

// The column pass gives the four means at (yo, xo); SSIM there, and (for the
// gradient) its partials scaled by `per_pixel`, into three maps.
__global__ void column_pass(const float* rows, ImageShape s, std::int64_t ho, std::int64_t wo, Taps taps, double c1, double c2,
                            double per_pixel_scale, double* ssim, float* grads) {
  const std::int64_t planes = s.batch * s.channels, row_count = planes * s.height * wo, count = planes * ho * wo;
  launch::grid_stride(count, [&](std::int64_t i) {
    const std::int64_t xo = i % wo, yo = (i / wo) % ho, plane = i / (wo * ho);
    float mean[4] = {0, 0, 0, 0};
    for (int k = 0; k < taps.count; ++k) {
      const std::int64_t r = (plane * s.height + yo + taps.first + k) * wo + xo;
      for (int j = 0; j < 4; ++j) mean[j] += taps.w[k] * rows[j * row_count + r];
    }
    const graft::loss::detail::SsimPixel px = graft::loss::detail::ssim_pixel(mean[0], mean[1], mean[2], mean[3], c1, c2);
    ssim[i] = px.value;
    if (grads) {
      grads[i] = float(per_pixel_scale * px.d_mx);
      grads[count + i] = float(per_pixel_scale * px.d_sq);
      grads[2 * count + i] = float(per_pixel_scale * px.d_xy);
    }
  });
}

// Sum of `per_plane` doubles for each plane, one block per plane, in a fixed order.
__global__ void plane_sums(const double* values, std::int64_t per_plane, double* sums) {
  const double* v = values + blockIdx.x * per_plane;
  double s = 0;
  for (std::int64_t i = threadIdx.x; i < per_plane; i += blockDim.x) s += v[i];
  s = launch::block_sum(s);
  if (threadIdx.x == 0) sums[blockIdx.x] = s;
}

// values[b] = mean over channels of (1 - ssim_sum / n) / 2
__global__ void dssim_values(const double* ssim_sums, std::int64_t batch, std::int64_t channels, double n_out, double* values) {
  launch::grid_stride(batch, [&](std::int64_t b) {
    double v = 0;
    for (std::int64_t c = 0; c < channels; ++c) v += (1.0 - ssim_sums[b * channels + c] / n_out) / 2.0;
    values[b] = v / double(channels);
  });
}

// The adjoint of the column pass: rows_g[q][plane][y][xo] = sum over taps reaching y.
__global__ void column_adjoint(const float* grads, ImageShape s, std::int64_t ho, std::int64_t wo, Taps taps, float* rows_g) {
  const std::int64_t planes = s.batch * s.channels, count = planes * s.height * wo, g_count = planes * ho * wo;
  launch::grid_stride(count, [&](std::int64_t i) {
    const std::int64_t xo = i % wo, y = (i / wo) % s.height, plane = i / (wo * s.height);
    float sum[3] = {0, 0, 0};
    for (int k = 0; k < taps.count; ++k) {
      const std::int64_t yo = y - taps.first - k;
      if (yo < 0 || yo >= ho) continue;
      const std::int64_t g = (plane * ho + yo) * wo + xo;
      for (int j = 0; j < 3; ++j) sum[j] += taps.w[k] * grads[j * g_count + g];
    }
    for (int j = 0; j < 3; ++j) rows_g[j * count + i] = sum[j];
  });
}

// The adjoint of the row pass, then through x = p m, x^2 + y^2 and x y to dpred.
__global__ void row_adjoint(const float* rows_g, const float* pred, const float* target, const float* mask, ImageShape s,
                            std::int64_t wo, Taps taps, float* dpred) {
  const std::int64_t planes = s.batch * s.channels, count = planes * s.height * s.width, r_count = planes * s.height * wo;
  launch::grid_stride(count, [&](std::int64_t i) {
    const std::int64_t x = i % s.width, y = (i / s.width) % s.height, plane = i / (s.width * s.height);
    float a[3] = {0, 0, 0};
    for (int k = 0; k < taps.count; ++k) {
      const std::int64_t xo = x - taps.first - k;
      if (xo < 0 || xo >= wo) continue;
      const std::int64_t r = (plane * s.height + y) * wo + xo;
      for (int j = 0; j < 3; ++j) a[j] += taps.w[k] * rows_g[j * r_count + r];
    }
    const float m = mask ? mask[(plane / s.channels) * s.height * s.width + y * s.width + x] : 1.0f;
    const float xv = pred[i] * m, yv = target[i] * m;
    dpred[i] += m * (a[0] + 2.0f * xv * a[1] + yv * a[2]);
  });
}

// The CPU's penalties of d = (p - t) m, in double (loss/pointwise.hpp).
using graft::loss::AbsoluteError;
using graft::loss::SquaredError;

// MSE and L1: per-plane sums of the penalty in double, and the gradient.
template <class Penalty>
__global__ void penalty_sums(const float* pred, const float* target, const float* mask, ImageShape s, double* sums) {
  const std::int64_t plane = blockIdx.x, n = s.height * s.width;
  const float* p = pred + plane * n;
  const float* t = target + plane * n;
  const float* m = mask ? mask + (plane / s.channels) * n : nullptr;
  double total = 0;
  for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    total += Penalty::value((double(p[i]) - t[i]) * (m ? double(m[i]) : 1.0));
  }
  total = launch::block_sum(total);
  if (threadIdx.x == 0) sums[plane] = total;
}

__global__ void pointwise_values(const double* sums, std::int64_t batch, std::int64_t channels, double count, double* values) {
  launch::grid_stride(batch, [&](std::int64_t b) {
    double v = 0;
    for (std::int64_t c = 0; c < channels; ++c) v += sums[b * channels + c];
    values[b] = v / count;
  });
}

template <class Penalty>
__global__ void pointwise_gradient(const float* pred, const float* target, const float* mask, ImageShape s, double scale,
                                   float* dpred) {
  const std::int64_t n = s.height * s.width, count = s.batch * s.channels * n;
  launch::grid_stride(count, [&](std::int64_t i) {
    const double m = mask ? double(mask[(i / (n * s.channels)) * n + i % n]) : 1.0;
    const double d = (double(pred[i]) - target[i]) * m;
    dpred[i] += float(scale * Penalty::slope(d) * m);
  });
}

}  // namespace

void masked_dssim(const ImageShape& s, const float* pred, const float* target, const float* mask, int filter_size, float weight,
                  double* values, float* dpred, cudaStream_t stream) {
  const Taps taps = graft::loss::tiles::window_for(s.height, s.width, filter_size, "cuda::masked_dssim");
  const std::int64_t ho = taps.ho, wo = taps.wo, planes = s.batch * s.channels;
  const double c1 = taps.c1, c2 = taps.c2, per_pixel = graft::loss::tiles::dssim_scale(s.channels, taps, weight);

  DeviceBuffer<float> rows(std::size_t(4 * planes * s.height * wo), stream);
  DeviceBuffer<double> ssim(std::size_t(planes * ho * wo), stream), sums(std::size_t(planes), stream);
  DeviceBuffer<float> grads(dpred ? std::size_t(3 * planes * ho * wo) : 0, stream);
  row_pass<<<blocks_for(planes * s.height * wo), threads, 0, stream>>>(pred, target, mask, s, wo, taps, rows.data());
  check_launch("masked_dssim (row pass)");
  column_pass<<<blocks_for(planes * ho * wo), threads, 0, stream>>>(rows.data(), s, ho, wo, taps, c1, c2, per_pixel, ssim.data(),
                                                                     dpred ? grads.data() : nullptr);
  check_launch("masked_dssim (column pass)");
  plane_sums<<<unsigned(planes), threads, 0, stream>>>(ssim.data(), ho * wo, sums.data());
  check_launch("masked_dssim (sums)");
  dssim_values<<<blocks_for(s.batch), threads, 0, stream>>>(sums.data(), s.batch, s.channels, double(ho * wo), values);
  check_launch("masked_dssim (values)");
  if (!dpred) return;
  // The rows buffer is spent; its first three quarters take the column adjoint.
  column_adjoint<<<blocks_for(planes * s.height * wo), threads, 0, stream>>>(grads.data(), s, ho, wo, taps, rows.data());
  check_launch("masked_dssim (column adjoint)");
  row_adjoint<<<blocks_for(planes * s.height * s.width), threads, 0, stream>>>(rows.data(), pred, target, mask, s, wo, taps, dpred);
  check_launch("masked_dssim (row adjoint)");
}

namespace {

template <class Penalty>
void pointwise_loss(const char* what, const ImageShape& s, const float* pred, const float* target, const float* mask, float weight,
                    double* values, float* dpred, cudaStream_t stream) {
  const std::int64_t planes = s.batch * s.channels, count = s.channels * s.height * s.width;
  DeviceBuffer<double> sums(std::size_t(planes), stream);
  penalty_sums<Penalty><<<unsigned(planes), threads, 0, stream>>>(pred, target, mask, s, sums.data());
  check_launch(what);
  pointwise_values<<<blocks_for(s.batch), threads, 0, stream>>>(sums.data(), s.batch, s.channels, double(count), values);
  check_launch(what);
  if (!dpred) return;
  pointwise_gradient<Penalty><<<blocks_for(planes * s.height * s.width), threads, 0, stream>>>(
      pred, target, mask, s, double(weight) / double(count), dpred);
  check_launch(what);
}

}  // namespace

void masked_mse(const ImageShape& s, const float* pred, const float* target, const float* mask, float weight, double* values,
                float* dpred, cudaStream_t stream) {
  pointwise_loss<SquaredError>("masked_mse", s, pred, target, mask, weight, values, dpred, stream);
}

void masked_l1(const ImageShape& s, const float* pred, const float* target, const float* mask, float weight, double* values,
               float* dpred, cudaStream_t stream) {
  pointwise_loss<AbsoluteError>("masked_l1", s, pred, target, mask, weight, values, dpred, stream);
}

}  // namespace graft::cuda
