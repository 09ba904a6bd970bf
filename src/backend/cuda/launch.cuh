// What graft's own kernels share: the block size, the grid for n elements,
// the grid-stride loop, a block-wide sum in double in a fixed order, f32/bf16
// element access (values are computed in f32 whatever they are stored as),
// and elementwise maps that move 16 bytes per access.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>
#include <type_traits>
#include <utility>

#include "graft/backend/cuda/check.hpp"
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
__device__ inline float as_float(float v) { return v; }
__device__ inline float as_float(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ inline void round_into(float& to, float v) { to = v; }
__device__ inline void round_into(__nv_bfloat16& to, float v) { to = __float2bfloat16_rn(v); }
__device__ inline void store(__nv_bfloat16* p, std::int64_t i, float v) { p[i] = __float2bfloat16_rn(v); }

// graft::bf16 and CUDA's __nv_bfloat16 are the same bits.
static_assert(sizeof(bf16) == sizeof(__nv_bfloat16), "graft::bf16 and __nv_bfloat16 are both the upper half of an f32");
inline const __nv_bfloat16* device(const bf16* p) { return reinterpret_cast<const __nv_bfloat16*>(p); }
inline __nv_bfloat16* device(bf16* p) { return reinterpret_cast<__nv_bfloat16*>(p); }

// 16 bytes of values of one type, loaded and stored as one access.
template <class T>
union Pack {
  static constexpr int lanes = 16 / sizeof(T);
  uint4 raw;
  T v[lanes];
};

template <class T, class Op, class... In, std::size_t... I>
__device__ void map_pack(std::int64_t p, const Op& op, T* out, std::index_sequence<I...>, const In*... in) {
  const Pack<T> loaded[] = {Pack<T>{reinterpret_cast<const uint4*>(in)[p]}...};
  Pack<T> result;
#pragma unroll
  for (int k = 0; k < Pack<T>::lanes; ++k) {
    round_into(result.v[k], op(as_float(loaded[I].v[k])...));
  }
  reinterpret_cast<uint4*>(out)[p] = result.raw;
}

// out[i] = op(in[i]...) for i < n, all arrays of one type T. With Wide, every
// pointer is 16-byte aligned: one thread maps a Pack at a time, and the last
// n mod lanes values one by one.
template <bool Wide, class T, class Op, class... In>
__global__ void map_kernel(std::int64_t n, Op op, T* out, const In*... in) {
  std::int64_t done = 0;
  if constexpr (Wide) {
    const std::int64_t packs = n / Pack<T>::lanes;
    grid_stride(packs, [&](std::int64_t p) { map_pack(p, op, out, std::index_sequence_for<In...>{}, in...); });
    done = packs * Pack<T>::lanes;
  }
  grid_stride(n - done, [&](std::int64_t i) { store(out, done + i, op(load(in, done + i)...)); });
}

inline bool aligned_16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

// Enqueues out = op(in...) elementwise (op: a functor of floats returning a
// float), 16 bytes per access where every pointer allows it.
template <class Op, class T, class... In>
void map(const char* what, cudaStream_t stream, std::int64_t n, Op op, T* out, const In*... in) {
  static_assert((std::is_same_v<T, In> && ...), "launch::map: every array has the output's type");
  if (n <= 0) return;
  if ((aligned_16(out) && ... && aligned_16(in)))
    map_kernel<true><<<blocks_for(n / Pack<T>::lanes + 1), threads, 0, stream>>>(n, op, out, in...);
  else
    map_kernel<false><<<blocks_for(n), threads, 0, stream>>>(n, op, out, in...);
  check_launch(what);
}

}  // namespace graft::cuda::launch
