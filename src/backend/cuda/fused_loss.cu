// SAEHD's image loss, masked DSSIM at one window plus masked MSE, in one
// kernel per direction. A block owns a 16 x 16 tile of one plane and keeps
// everything its tile needs in shared memory: x = p m and y = t m over the
// tile and the window's reach, the row pass of the four moments, and (for the
// gradient) SSIM's partials at every output that reaches the tile and their
// column adjoint. Nothing goes through global memory between the passes.
//
// Values: tiles over the valid SSIM map. Each block writes its SSIM sum and
// its share of the squared error (its 16 x 16 input pixels; the last row and
// column of tiles take the image's remaining edge) into a slot; the last
// block to finish (a counter) adds the slots per sample in a fixed order, so
// the values are the same bits every run.
// Gradient: tiles over the input. Outputs reaching the tile span 16 + taps - 1
// per side; their means need 16 + 2 (taps - 1) input pixels per side.
#include <cuda_runtime.h>

#include <array>
#include <atomic>

#include "graft/backend/cuda/check.hpp"
#include "graft/backend/cuda/loss.hpp"
#include "graft/backend/cuda/memory.hpp"
#include "graft/loss/ssim_pixel.hpp"
#include "launch.cuh"
#include "loss_window.cuh"

namespace graft::cuda {
namespace {

using launch::threads;
using loss_window::Taps;
using loss_window::Window;

constexpr int tile = 16;

// Shared memory, in floats: x and y over the loaded square, then the row
// pass's four moments, then (gradient only) the partials and their column adjoint.
struct ValuesLayout {
  int loaded;  // side of the loaded square: the inputs the tile's outputs read, tile + taps - 1
  __host__ __device__ explicit ValuesLayout(int taps) : loaded(tile + taps - 1) {}
  __host__ __device__ int rows_at() const { return 2 * loaded * loaded; }
  __host__ __device__ int floats() const { return rows_at() + 4 * loaded * tile; }
};

struct GradientLayout {
  int loaded, outputs;  // sides: tile + 2 (taps - 1) inputs, tile + taps - 1 outputs
  __host__ __device__ explicit GradientLayout(int taps) : loaded(tile + 2 * (taps - 1)), outputs(tile + taps - 1) {}
  __host__ __device__ int rows_at() const { return 2 * loaded * loaded; }
  __host__ __device__ int partials_at() const { return rows_at() + 4 * loaded * outputs; }
  __host__ __device__ int adjoint_at() const { return partials_at() + 3 * outputs * outputs; }
  __host__ __device__ int floats() const { return adjoint_at() + 3 * tile * outputs; }
};

// x = p m, y = t m of one plane at (gy, gx), zero outside the image.
struct PlaneView {
  const float *p, *t, *m;
  std::int64_t height, width;
  __device__ PlaneView(const float* pred, const float* target, const float* mask, const ImageShape& s, int plane)
      : p(pred + std::int64_t(plane) * s.height * s.width),
        t(target + std::int64_t(plane) * s.height * s.width),
        m(mask ? mask + std::int64_t(plane / s.channels) * s.height * s.width : nullptr),
        height(s.height),
        width(s.width) {}
  __device__ bool inside(std::int64_t gy, std::int64_t gx) const { return gy >= 0 && gx >= 0 && gy < height && gx < width; }
  __device__ float mask_at(std::int64_t at) const { return m ? m[at] : 1.0f; }
  // Loads the square of `side` pixels from (y0, x0) into xs and ys.
  __device__ void load(std::int64_t y0, std::int64_t x0, int side, float* xs, float* ys) const {
    for (int i = threadIdx.x; i < side * side; i += blockDim.x) {
      const std::int64_t gy = y0 + i / side, gx = x0 + i % side;
      float x = 0.0f, y = 0.0f;
      if (inside(gy, gx)) {
        const std::int64_t at = gy * width + gx;
        const float mv = mask_at(at);
        x = p[at] * mv, y = t[at] * mv;
      }
      xs[i] = x, ys[i] = y;
    }
  }
  // ((p - t) m)^2 in double, as the CPU's masked MSE.
  __device__ double squared_error(std::int64_t at) const {
    const double d = (double(p[at]) - t[at]) * (m ? double(m[at]) : 1.0);
    return d * d;
  }
};

// The row pass of the four moments (x, y, x^2 + y^2, x y) over a square of
// `side` loaded pixels, for `outputs` output columns starting at loaded column 0.
__device__ void row_pass(const Taps& taps, const float* xs, const float* ys, int side, int rows, int outputs, float* moments) {
  for (int i = threadIdx.x; i < rows * outputs; i += blockDim.x) {
    const int r = i / outputs, c = i % outputs;
    float sum[4] = {0, 0, 0, 0};
    for (int k = 0; k < taps.count; ++k) {
      const int at = r * side + c + k;
      const float x = xs[at], y = ys[at], w = taps.w[k];
      sum[0] += w * x, sum[1] += w * y, sum[2] += w * (x * x + y * y), sum[3] += w * (x * y);
    }
    for (int q = 0; q < 4; ++q) moments[(q * rows + r) * outputs + c] = sum[q];
  }
}

// The four local means at output (a, c) from the row pass: rows a .. a + taps - 1.
__device__ graft::loss::detail::SsimPixel ssim_at(const Taps& taps, const float* moments, int rows, int outputs, int a, int c,
                                                  double c1, double c2) {
  float mean[4] = {0, 0, 0, 0};
  for (int k = 0; k < taps.count; ++k)
    for (int q = 0; q < 4; ++q) mean[q] += taps.w[k] * moments[(q * rows + a + k) * outputs + c];
  return graft::loss::detail::ssim_pixel(mean[0], mean[1], mean[2], mean[3], c1, c2);
}

__global__ void values_kernel(const float* pred, const float* target, const float* mask, ImageShape s, Window window, int tiles_x,
                              int tiles_y, bool with_mse, double* ssim_slots, double* squares_slots, unsigned* finished,
                              double* dssim_values, double* mse_values) {
  extern __shared__ float shared[];
  const ValuesLayout layout(window.taps.count);
  const int plane = blockIdx.y, t = blockIdx.x, tiles = gridDim.x;
  const std::int64_t y0 = std::int64_t(t / tiles_x) * tile, x0 = std::int64_t(t % tiles_x) * tile;
  const PlaneView view(pred, target, mask, s, plane);
  float* xs = shared;
  float* ys = shared + layout.loaded * layout.loaded;
  float* moments = shared + layout.rows_at();
  const Taps& taps = window.taps;

  // Output (y0 + a) reads inputs y0 + a + first + k: the loaded square starts `first` past the tile's origin.
  view.load(y0 + taps.first, x0 + taps.first, layout.loaded, xs, ys);
  // This tile's share of the squared error, from global memory: its own
  // 16 x 16 pixels, the image's edge for the last row and column of tiles.
  double squares = 0;
  if (with_mse) {
    const std::int64_t y_end = t / tiles_x + 1 == tiles_y ? s.height : y0 + tile;
    const std::int64_t x_end = t % tiles_x + 1 == tiles_x ? s.width : x0 + tile;
    const int rows = int(y_end - y0), columns = int(x_end - x0);
    for (int i = threadIdx.x; i < rows * columns; i += blockDim.x)
      squares += view.squared_error((y0 + i / columns) * s.width + x0 + i % columns);
  }
  __syncthreads();
  row_pass(taps, xs, ys, layout.loaded, layout.loaded, tile, moments);
  __syncthreads();
  double ssim = 0;
  for (int i = threadIdx.x; i < tile * tile; i += blockDim.x) {
    const int a = i / tile, c = i % tile;
    if (y0 + a < window.ho && x0 + c < window.wo)
      ssim += ssim_at(taps, moments, layout.loaded, tile, a, c, window.c1, window.c2).value;
  }
  ssim = launch::block_sum(ssim);
  squares = launch::block_sum(squares);

  __shared__ bool last;
  if (threadIdx.x == 0) {
    ssim_slots[plane * tiles + t] = ssim;
    squares_slots[plane * tiles + t] = squares;
    __threadfence();  // the slots are visible before the count says so
    last = atomicAdd(finished, 1u) + 1 == unsigned(tiles * gridDim.y);
  }
  __syncthreads();
  if (!last) return;
  __threadfence();
  const double n_out = double(window.ho * window.wo), n_in = double(s.channels * s.height * s.width);
  for (std::int64_t b = threadIdx.x; b < s.batch; b += blockDim.x) {
    double dssim = 0, squared = 0;
    for (std::int64_t c = 0; c < s.channels; ++c) {
      const std::int64_t first_slot = (b * s.channels + c) * tiles;
      double sum = 0;
      for (int k = 0; k < tiles; ++k) sum += __ldcg(ssim_slots + first_slot + k);
      dssim += (1.0 - sum / n_out) / 2.0;
      for (int k = 0; k < tiles; ++k) squared += __ldcg(squares_slots + first_slot + k);
    }
    dssim_values[b] = dssim / double(s.channels);
    if (with_mse) mse_values[b] = squared / n_in;
  }
}

__global__ void gradient_kernel(const float* pred, const float* target, const float* mask, ImageShape s, Window window, int tiles_x,
                                double dssim_scale, double mse_scale, float* dpred) {
  extern __shared__ float shared[];
  const Taps& taps = window.taps;
  const GradientLayout layout(taps.count);
  const int plane = blockIdx.y, t = blockIdx.x, reach = taps.count - 1, side = layout.loaded, outs = layout.outputs;
  const std::int64_t y0 = std::int64_t(t / tiles_x) * tile, x0 = std::int64_t(t % tiles_x) * tile;
  // Output (oy0 + a) reads inputs oy0 + a + first + k = (y0 - reach) + a + k: loaded row a + k.
  const std::int64_t oy0 = y0 - taps.first - reach, ox0 = x0 - taps.first - reach;
  const PlaneView view(pred, target, mask, s, plane);
  float* xs = shared;
  float* ys = shared + side * side;
  float* moments = shared + layout.rows_at();
  float* partials = shared + layout.partials_at();  // [3][outs][outs]
  float* adjoint = shared + layout.adjoint_at();    // [3][tile][outs]

  view.load(y0 - reach, x0 - reach, side, xs, ys);
  __syncthreads();
  row_pass(taps, xs, ys, side, side, outs, moments);
  __syncthreads();
  for (int i = threadIdx.x; i < outs * outs; i += blockDim.x) {
    const int a = i / outs, c = i % outs;
    const std::int64_t yo = oy0 + a, xo = ox0 + c;
    float g[3] = {0, 0, 0};
    if (yo >= 0 && xo >= 0 && yo < window.ho && xo < window.wo) {
      const auto px = ssim_at(taps, moments, side, outs, a, c, window.c1, window.c2);
      g[0] = float(dssim_scale * px.d_mx), g[1] = float(dssim_scale * px.d_sq), g[2] = float(dssim_scale * px.d_xy);
    }
    for (int q = 0; q < 3; ++q) partials[(q * outs + a) * outs + c] = g[q];
  }
  __syncthreads();
  // Column adjoint: input row r of the tile is reached by output rows r + reach - k.
  for (int i = threadIdx.x; i < tile * outs; i += blockDim.x) {
    const int r = i / outs, c = i % outs;
    float sum[3] = {0, 0, 0};
    for (int k = 0; k < taps.count; ++k)
      for (int q = 0; q < 3; ++q) sum[q] += taps.w[k] * partials[(q * outs + r + reach - k) * outs + c];
    for (int q = 0; q < 3; ++q) adjoint[(q * tile + r) * outs + c] = sum[q];
  }
  __syncthreads();
  // Row adjoint, then through x = p m, x^2 + y^2 and x y; the MSE's gradient in the same pass.
  for (int i = threadIdx.x; i < tile * tile; i += blockDim.x) {
    const int r = i / tile, c = i % tile;
    const std::int64_t gy = y0 + r, gx = x0 + c;
    if (!view.inside(gy, gx)) continue;
    float a[3] = {0, 0, 0};
    for (int k = 0; k < taps.count; ++k)
      for (int q = 0; q < 3; ++q) a[q] += taps.w[k] * adjoint[(q * tile + r) * outs + c + reach - k];
    const std::int64_t at = gy * s.width + gx;
    const int loaded_at = (r + reach) * side + c + reach;
    const float m = view.mask_at(at), x = xs[loaded_at], y = ys[loaded_at];
    float g = m * (a[0] + 2.0f * x * a[1] + y * a[2]);
    if (mse_scale != 0.0) g += float(mse_scale * 2.0 * ((double(view.p[at]) - view.t[at]) * double(m)) * double(m));
    dpred[std::int64_t(plane) * s.height * s.width + at] += g;
  }
}

// What a kernel was granted above the default 48 KB of dynamic shared
// memory, per GPU (the attribute is set in each device's context).
struct Granted {
  static constexpr int devices = 64;
  std::array<std::atomic<int>, devices> bytes{};
};

// Dynamic shared memory of `bytes` for `kernel`, if this GPU has it besides
// the kernel's static shared memory. Above 48 KB in all a kernel must ask
// before its launch; it asks on its first launch with that size, which is a
// step's warm-up, before any capture.
template <class Kernel>
bool shared_memory_for(Kernel kernel, std::size_t bytes, Granted& granted) {
  cudaFuncAttributes attributes{};
  check(cudaFuncGetAttributes(&attributes, kernel), "cudaFuncGetAttributes");
  if (bytes + attributes.sharedSizeBytes <= 48 * 1024) return true;
  int device = 0, optin = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  std::atomic<int>& mine = granted.bytes[std::size_t(device % Granted::devices)];
  if (int(bytes) <= mine.load()) return true;
  check(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device),
        "cudaDeviceGetAttribute (shared memory per block, opt-in)");
  if (bytes + attributes.sharedSizeBytes > std::size_t(optin)) return false;
  check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)),
        "cudaFuncSetAttribute (dynamic shared memory)");
  mine.store(int(bytes));
  return true;
}

Granted values_granted, gradient_granted;

int tiles_over(std::int64_t n) { return int((n + tile - 1) / tile); }

}  // namespace

void masked_dssim_mse_values(const ImageShape& s, const float* pred, const float* target, const float* mask, int filter_size,
                             double* dssim_values, double* mse_values, cudaStream_t stream) {
  const Window window = loss_window::window_for(s, filter_size, "cuda::masked_dssim_mse_values");
  const std::size_t bytes = std::size_t(ValuesLayout(window.taps.count).floats()) * sizeof(float);
  if (!shared_memory_for(values_kernel, bytes, values_granted)) {
    masked_dssim(s, pred, target, mask, filter_size, 0.0f, dssim_values, nullptr, stream);
    if (mse_values) masked_mse(s, pred, target, mask, 0.0f, mse_values, nullptr, stream);
    return;
  }
  const int tiles_x = tiles_over(window.wo), tiles_y = tiles_over(window.ho);
  const std::int64_t planes = s.batch * s.channels, slots = planes * tiles_x * tiles_y;
  graft::check(planes < 65536, "cuda::masked_dssim_mse_values: ", planes, " planes, at most 65535");
  DeviceBuffer<double> ssim_slots(std::size_t(slots), stream), squares_slots(std::size_t(slots), stream);
  DeviceBuffer<unsigned> finished(1, stream);
  finished.fill_bytes(0);
  values_kernel<<<dim3(unsigned(tiles_x * tiles_y), unsigned(planes)), threads, bytes, stream>>>(
      pred, target, mask, s, window, tiles_x, tiles_y, mse_values != nullptr, ssim_slots.data(), squares_slots.data(),
      finished.data(), dssim_values, mse_values);
  check_launch("masked_dssim_mse_values");
}

void masked_dssim_mse_gradient(const ImageShape& s, const float* pred, const float* target, const float* mask, int filter_size,
                               float dssim_weight, float mse_weight, float* dpred, cudaStream_t stream) {
  const Window window = loss_window::window_for(s, filter_size, "cuda::masked_dssim_mse_gradient");
  const std::size_t bytes = std::size_t(GradientLayout(window.taps.count).floats()) * sizeof(float);
  if (!shared_memory_for(gradient_kernel, bytes, gradient_granted)) {
    DeviceBuffer<double> unused(std::size_t(s.batch), stream);
    masked_dssim(s, pred, target, mask, filter_size, dssim_weight, unused.data(), dpred, stream);
    if (mse_weight != 0.0f) masked_mse(s, pred, target, mask, mse_weight, unused.data(), dpred, stream);
    return;
  }
  const std::int64_t planes = s.batch * s.channels;
  graft::check(planes < 65536, "cuda::masked_dssim_mse_gradient: ", planes, " planes, at most 65535");
  const int tiles_x = tiles_over(s.width), tiles_y = tiles_over(s.height);
  const double mse_scale = double(mse_weight) / double(s.channels * s.height * s.width);
  gradient_kernel<<<dim3(unsigned(tiles_x * tiles_y), unsigned(planes)), threads, bytes, stream>>>(
      pred, target, mask, s, window, tiles_x, loss_window::per_pixel_scale(s, window, dssim_weight), mse_scale, dpred);
  check_launch("masked_dssim_mse_gradient");
}

}  // namespace graft::cuda
