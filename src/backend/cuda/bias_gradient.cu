// db += sum over rows of dy (rows x channels): each of `partials` blocks of
// rows sums its share per channel into a scratch row, then one pass adds the
// scratch rows in order. No atomics, so the result is the same every run.
#include <cuda_bf16.h>

#include "graft/backend/cuda/check.hpp"
#include "graft/backend/cuda/conv.hpp"
#include "graft/backend/cuda/memory.hpp"

namespace graft::cuda {
namespace {

constexpr int partials = 64, channels_per_block = 32, rows_per_block = 8;

__global__ void partial_sums(const __nv_bfloat16* dy, float* scratch, std::int64_t rows, std::int64_t channels) {
  __shared__ float sums[rows_per_block][channels_per_block];
  const std::int64_t c = blockIdx.x * std::int64_t(channels_per_block) + threadIdx.x;
  const std::int64_t per_partial = (rows + partials - 1) / partials;
  const std::int64_t first = blockIdx.y * per_partial, last = first + per_partial < rows ? first + per_partial : rows;
  float s = 0.0f;
  if (c < channels)
    for (std::int64_t r = first + threadIdx.y; r < last; r += rows_per_block) s += __bfloat162float(dy[r * channels + c]);
  sums[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && c < channels) {
    float total = 0.0f;
    for (int k = 0; k < rows_per_block; ++k) total += sums[k][threadIdx.x];
    scratch[blockIdx.y * channels + c] = total;
  }
}

__global__ void add_partials(const float* scratch, float* db, std::int64_t channels) {
  const std::int64_t c = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x;
  if (c >= channels) return;
  float total = 0.0f;
  for (int p = 0; p < partials; ++p) total += scratch[p * channels + c];
  db[c] += total;
}

}  // namespace

void bias_gradient(const bf16* dy, float* db, std::int64_t rows, std::int64_t channels, cudaStream_t stream) {
  DeviceBuffer<float> scratch(std::size_t(partials * channels), stream);
  const dim3 grid(unsigned((channels + channels_per_block - 1) / channels_per_block), partials);
  partial_sums<<<grid, dim3(channels_per_block, rows_per_block), 0, stream>>>(reinterpret_cast<const __nv_bfloat16*>(dy),
                                                                            scratch.data(), rows, channels);
  check_launch("bias_gradient (partial sums)");
  add_partials<<<unsigned((channels + 255) / 256), 256, 0, stream>>>(scratch.data(), db, channels);
  check_launch("bias_gradient (add)");
}

}  // namespace graft::cuda
