// What graft's own kernels share: the block size, the grid for n elements,
// the grid-stride loop, a block-wide sum in double in a fixed order, and
// f32/bf16 element access (values are computed in f32 whatever they are stored as).
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

#include "graft/core/dtype.hpp"

namespace graft::cuda::launch {

inline constexpr int threads = 256;

// Enough blocks to fill the GPU; kernels loop over the rest (grid_stride).
inline unsigned blocks_for(std::int64_t n) {
  const std::int64_t wanted = (n + threads - 1) / threads;
  return static_cast<unsigned>(wanted < 65536 ? (wanted > 0 ? wanted : 1) : 65536);
}

// f(i) for every i < n this thread owns.
template <class F>
__device__ void grid_stride(std::int64_t n, F&& f) {
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n; i += std::int64_t(gridDim.x) * blockDim.x)
    f(i);
}

// The sum of every thread's `value` (blockDim.x == threads), returned to all
// threads; the tree is the same every run, so is the result.
__device__ inline double block_sum(double value) {
  __shared__ double partial[threads];
  partial[threadIdx.x] = value;
  __syncthreads();
  for (int stride = threads / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) partial[threadIdx.x] += partial[threadIdx.x + stride];
    __syncthreads();
  }
  const double total = partial[0];
  __syncthreads();  // the array is reused by the next call
  return total;
}

__device__ inline float load(const float* p, std::int64_t i) { return p[i]; }
__device__ inline float load(const __nv_bfloat16* p, std::int64_t i) { return __bfloat162float(p[i]); }
__device__ inline void store(float* p, std::int64_t i, float v) { p[i] = v; }
__device__ inline void store(__nv_bfloat16* p, std::int64_t i, float v) { p[i] = __float2bfloat16_rn(v); }

// graft::bf16 and CUDA's __nv_bfloat16 are the same bits.
static_assert(sizeof(bf16) == sizeof(__nv_bfloat16), "graft::bf16 and __nv_bfloat16 are both the upper half of an f32");
inline const __nv_bfloat16* device(const bf16* p) { return reinterpret_cast<const __nv_bfloat16*>(p); }
inline __nv_bfloat16* device(bf16* p) { return reinterpret_cast<__nv_bfloat16*>(p); }

}  // namespace graft::cuda::launch
