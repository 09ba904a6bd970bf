// db += sum over rows of dy (rows x channels): each block of rows sums its
// share per channel into a scratch row, then one pass adds the scratch rows
// in order. No atomics, so the result is the same every run (for a given
// shape: the number of row blocks follows the row count).
#include <cuda_bf16.h>

#include <algorithm>

#include "graft/backend/cuda/check.hpp"
#include "graft/backend/cuda/conv.hpp"
#include "graft/backend/cuda/memory.hpp"

namespace graft::cuda {
namespace {

constexpr int channels_per_block = 32, rows_per_block = 8, max_partials = 1024;

// Enough blocks of rows to keep every SM streaming: about 2048 rows each.
int partials_for(std::int64_t rows) { return int(std::clamp<std::int64_t>(rows / 2048, 1, max_partials)); }

// Each block sums its share of rows for 32 channels into one scratch row.
// With Activated, it first turns dy into the pre-activation gradient of a
// LeakyReLU from its output y, and writes that too (one pass for both).
template <bool Activated>
__global__ void partial_sums(const __nv_bfloat16* dy, const __nv_bfloat16* y, __nv_bfloat16* d_pre, float slope, float* scratch,
                             std::int64_t rows, std::int64_t channels) {
  __shared__ float sums[rows_per_block][channels_per_block];
  const std::int64_t c = blockIdx.x * std::int64_t(channels_per_block) + threadIdx.x;
  const std::int64_t per_partial = (rows + gridDim.y - 1) / gridDim.y;
  const std::int64_t first = blockIdx.y * per_partial, last = first + per_partial < rows ? first + per_partial : rows;
  float s = 0.0f;
  if (c < channels)
    for (std::int64_t r = first + threadIdx.y; r < last; r += rows_per_block) {
      const std::int64_t i = r * channels + c;
      float g = __bfloat162float(dy[i]);
      if constexpr (Activated) {
        if (!(__bfloat162float(y[i]) > 0.0f)) g *= slope;
        const __nv_bfloat16 rounded = __float2bfloat16_rn(g);
        d_pre[i] = rounded;
        g = __bfloat162float(rounded);  // the sum is of what the convolution's backward reads
      }
      s += g;
    }
  sums[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && c < channels) {
    float total = 0.0f;
    for (int k = 0; k < rows_per_block; ++k) total += sums[k][threadIdx.x];
    scratch[blockIdx.y * channels + c] = total;
  }
}

__global__ void add_partials(const float* scratch, int partials, float* db, std::int64_t channels) {
  const std::int64_t c = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x;
  if (c >= channels) return;
  float total = 0.0f;
  for (int p = 0; p < partials; ++p) total += scratch[p * channels + c];
  db[c] += total;
}

template <bool Activated>
void launch_bias_gradient(const bf16* dy, const bf16* y, bf16* d_pre, float slope, float* db, std::int64_t rows,
                          std::int64_t channels, cudaStream_t stream, const char* what) {
  const int partials = partials_for(rows);
  DeviceBuffer<float> scratch(std::size_t(partials * channels), stream);
  const dim3 grid(unsigned((channels + channels_per_block - 1) / channels_per_block), unsigned(partials));
  partial_sums<Activated><<<grid, dim3(channels_per_block, rows_per_block), 0, stream>>>(
      reinterpret_cast<const __nv_bfloat16*>(dy), reinterpret_cast<const __nv_bfloat16*>(y),
      reinterpret_cast<__nv_bfloat16*>(d_pre), slope, scratch.data(), rows, channels);
  check_launch(what);
  add_partials<<<unsigned((channels + 255) / 256), 256, 0, stream>>>(scratch.data(), partials, db, channels);
  check_launch(what);
}

}  // namespace

void bias_gradient(const bf16* dy, float* db, std::int64_t rows, std::int64_t channels, cudaStream_t stream) {
  launch_bias_gradient<false>(dy, nullptr, nullptr, 0.0f, db, rows, channels, stream, "bias_gradient");
}

void leaky_relu_bias_gradient(const bf16* y, const bf16* dy, float slope, bf16* d_pre, float* db, std::int64_t rows,
                              std::int64_t channels, cudaStream_t stream) {
  launch_bias_gradient<true>(dy, y, d_pre, slope, db, rows, channels, stream, "leaky_relu_bias_gradient");
}

}  // namespace graft::cuda
