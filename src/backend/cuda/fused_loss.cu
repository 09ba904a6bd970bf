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
// counter) adds the slots per sample, a warp per sample, in a fixed order,
// so the values are the same bits every run.
#include <cuda_runtime.h>

#include <array>
#include <mutex>
#include <optional>

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

constexpr int warp_size = 32;
static_assert(threads % warp_size == 0, "the values kernel's last block works in whole warps");

// A warp's sum of every lane's value, returned to every lane: a butterfly, in
// which both lanes of a pair add the same two values (a + b is b + a), so all
// lanes hold the same bits, the same every run.
struct WarpSum {
  __device__ double operator()(double v) const {
    for (int offset = warp_size / 2; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
    return v;
  }
};

__device__ tiles::Plane plane_of(const float* pred, const float* target, const float* mask, const ImageShape& s, int plane) {
  const std::int64_t n = s.height * s.width;
  return {pred + plane * n, target + plane * n, mask ? mask + (plane / s.channels) * n : nullptr, s.height, s.width};
}

__global__ void values_kernel(const float* pred, const float* target, const float* mask, ImageShape s, Window window, int tiles_x,
                              int tiles_y, bool with_mse, double* ssim_slots, double* squares_slots, unsigned* finished,
                              double* dssim_values, double* mse_values) {
  extern __shared__ float shared[];
  const int plane = blockIdx.y, t = blockIdx.x, per_plane = gridDim.x;
  double ssim = 0, squares = 0;
  tiles::values_tile({int(threadIdx.x), int(blockDim.x)}, BlockSync{}, plane_of(pred, target, mask, s, plane), window, t / tiles_x,
                     t % tiles_x, tiles_y, tiles_x, with_mse, shared, ssim, squares);
  ssim = launch::block_sum(ssim);
  squares = launch::block_sum(squares);

  __shared__ bool last;
  if (threadIdx.x == 0) {
    ssim_slots[plane * per_plane + t] = ssim;
    squares_slots[plane * per_plane + t] = squares;
    __threadfence();  // the slots are visible before the count says so
    last = atomicAdd(finished, 1u) + 1 == unsigned(per_plane * gridDim.y);
  }
  __syncthreads();
  if (!last) return;
  __threadfence();
  // A warp per sample: its lanes add the sample's slots, 32 loads in flight at a time.
  const int lane = int(threadIdx.x) % warp_size, warp = int(threadIdx.x) / warp_size, warps = int(blockDim.x) / warp_size;
  for (std::int64_t b = warp; b < s.batch; b += warps) {
    double dssim = 0, mse = 0;
    tiles::sample_values(
        {lane, warp_size}, WarpSum{}, b, s.channels, s.height * s.width, per_plane, window,
        [&](std::int64_t i) { return __ldcg(ssim_slots + i); }, [&](std::int64_t i) { return __ldcg(squares_slots + i); }, dssim,
        mse);
    if (lane == 0) {
      dssim_values[b] = dssim;
      if (with_mse) mse_values[b] = mse;
    }
  }
}

__global__ void gradient_kernel(const float* pred, const float* target, const float* mask, ImageShape s, Window window, int tiles_x,
                                double dssim_scale, double mse_scale, float* dpred) {
  extern __shared__ float shared[];
  const int plane = blockIdx.y, t = blockIdx.x;
  tiles::gradient_tile({int(threadIdx.x), int(blockDim.x)}, BlockSync{}, plane_of(pred, target, mask, s, plane), window,
                       t / tiles_x, t % tiles_x, dssim_scale, mse_scale, shared, dpred + std::int64_t(plane) * s.height * s.width);
}

// One kernel's shared memory: its static size (asked on its first launch)
// and what it was granted above the default 48 KB of dynamic shared memory,
// per GPU (the attribute is set in each device's context). One lock: two
// threads on one GPU must not leave the attribute below what either believes.
struct Granted {
  static constexpr int devices = 64;
  std::mutex lock;
  std::optional<std::size_t> static_bytes;
  std::array<int, devices> bytes{};
};

// Dynamic shared memory of `bytes` for `kernel`, if this GPU has it besides
// the kernel's static shared memory. Above 48 KB in all a kernel must ask
// before its launch; it asks on its first launch with that size, which is a
// step's warm-up, before any capture.
template <class Kernel>
bool shared_memory_for(Kernel kernel, std::size_t bytes, Granted& granted) {
  const std::lock_guard hold(granted.lock);
  if (!granted.static_bytes) {
    cudaFuncAttributes attributes{};
    check(cudaFuncGetAttributes(&attributes, kernel), "cudaFuncGetAttributes");
    granted.static_bytes = attributes.sharedSizeBytes;
  }
  if (bytes + *granted.static_bytes <= 48 * 1024) return true;
  int device = 0, optin = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  int& mine = granted.bytes[std::size_t(device % Granted::devices)];
  if (int(bytes) <= mine) return true;
  check(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device),
        "cudaDeviceGetAttribute (shared memory per block, opt-in)");
  if (bytes + *granted.static_bytes > std::size_t(optin)) return false;
  check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)),
        "cudaFuncSetAttribute (dynamic shared memory)");
  mine = int(bytes);
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
