// SAEHD's image loss, masked DSSIM at one window plus masked MSE, in one
// kernel per direction. A block owns a 16 x 16 tile of one plane and keeps
// everything its tile needs in shared memory: x = p m and y = t m over the
// tile and the window's reach, the row pass of the four moments, and (for the
// gradient) SSIM's partials at every output that reaches the tile and their
// column adjoint. Nothing goes through global memory between the passes. The
// tile's work is graft/loss/dssim_tiles.hpp, which a CPU test also runs.
//
// Values: tiles over the valid SSIM map. Each block writes its SSIM sum and
// its share of the squared error into a slot; the last block to finish (a
// counter) adds the slots per sample in a fixed order, so the values are
// the same bits every run.
#include <cuda_runtime.h>

#include <array>
#include <atomic>

#include "graft/backend/cuda/check.hpp"
#include "graft/backend/cuda/loss.hpp"
#include "graft/backend/cuda/memory.hpp"
#include "graft/loss/dssim_tiles.hpp"
#include "launch.cuh"

namespace graft::cuda {
namespace {

namespace tiles = graft::loss::tiles;
using launch::threads;
using tiles::Window;

struct BlockSync {
  __device__ void operator()() const { __syncthreads(); }
};

__device__ tiles::Plane plane_of(const float* pred, const float* target, const float* mask, const ImageShape& s, int plane) {
  const std::int64_t n = s.height * s.width;
  return {pred + plane * n, target + plane * n, mask ? mask + (plane / s.channels) * n : nullptr, s.height, s.width};
}

__global__ void values_kernel(const float* pred, const float* target, const float* mask, ImageShape s, Window window, int tiles_x,
                              int tiles_y, bool with_mse, double* ssim_slots, double* squares_slots, unsigned* finished,
                              double* dssim_values, double* mse_values) {
  extern __shared__ float shared[];
  const int plane = blockIdx.y, t = blockIdx.x, tiles = gridDim.x;
  double ssim = 0, squares = 0;
  tiles::values_tile({int(threadIdx.x), int(blockDim.x)}, BlockSync{}, plane_of(pred, target, mask, s, plane), window, t / tiles_x,
                     t % tiles_x, tiles_y, tiles_x, with_mse, shared, ssim, squares);
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
  for (std::int64_t b = threadIdx.x; b < s.batch; b += blockDim.x) {
    double dssim = 0, mse = 0;
    tiles::sample_values(
        b, s.channels, s.height * s.width, tiles, window, [&](std::int64_t i) { return __ldcg(ssim_slots + i); },
        [&](std::int64_t i) { return __ldcg(squares_slots + i); }, dssim, mse);
    dssim_values[b] = dssim;
    if (with_mse) mse_values[b] = mse;
  }
}

__global__ void gradient_kernel(const float* pred, const float* target, const float* mask, ImageShape s, Window window, int tiles_x,
                                double dssim_scale, double mse_scale, float* dpred) {
  extern __shared__ float shared[];
  const int plane = blockIdx.y, t = blockIdx.x;
  tiles::gradient_tile({int(threadIdx.x), int(blockDim.x)}, BlockSync{}, plane_of(pred, target, mask, s, plane), window,
                       t / tiles_x, t % tiles_x, dssim_scale, mse_scale, shared, dpred + std::int64_t(plane) * s.height * s.width);
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
  // The kernel's static shared memory, asked once (a kernel's first launch is a warm-up's, not a capture's).
  static const std::size_t static_bytes = [&] {
    cudaFuncAttributes attributes{};
    check(cudaFuncGetAttributes(&attributes, kernel), "cudaFuncGetAttributes");
    return attributes.sharedSizeBytes;
  }();
  if (bytes + static_bytes <= 48 * 1024) return true;
  int device = 0, optin = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  std::atomic<int>& mine = granted.bytes[std::size_t(device % Granted::devices)];
  if (int(bytes) <= mine.load()) return true;
  check(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device),
        "cudaDeviceGetAttribute (shared memory per block, opt-in)");
  if (bytes + static_bytes > std::size_t(optin)) return false;
  check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)),
        "cudaFuncSetAttribute (dynamic shared memory)");
  mine.store(int(bytes));
  return true;
}

Granted values_granted, gradient_granted;

using tiles::tiles_over;

}  // namespace

void masked_dssim_mse_values(const ImageShape& s, const float* pred, const float* target, const float* mask, int filter_size,
                             double* dssim_values, double* mse_values, cudaStream_t stream) {
  const Window window = tiles::window_for(s.height, s.width, filter_size, "cuda::masked_dssim_mse_values");
  const std::size_t bytes = std::size_t(tiles::ValuesLayout(window.count).floats()) * sizeof(float);
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
  const Window window = tiles::window_for(s.height, s.width, filter_size, "cuda::masked_dssim_mse_gradient");
  const std::size_t bytes = std::size_t(tiles::GradientLayout(window.count).floats()) * sizeof(float);
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
      pred, target, mask, s, window, tiles_x, tiles::dssim_scale(s.channels, window, dssim_weight), mse_scale, dpred);
  check_launch("masked_dssim_mse_gradient");
}

}  // namespace graft::cuda
