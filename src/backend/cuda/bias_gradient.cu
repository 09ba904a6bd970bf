// db += sum over rows of dy (rows x channels): each block sums its share of
// the rows per channel into a scratch row, then one pass adds the scratch
// rows in order. No atomics, so the result is the same every run (for a given
// shape: the number of row blocks follows the row count).
//
// Where the channels come in whole 16-byte runs (a multiple of 8 bf16) and
// the pointers are aligned, one thread moves 8 channels per access and a
// block covers as many rows as fit 256 threads; otherwise one thread per
// channel and row (the "narrow" kernel). The LeakyReLU variant also writes
// the pre-activation gradient, and can read dy from a DepthToSpace's output:
// SAEHD's upscale blocks then skip DepthToSpace's own backward pass.
#include <cuda_bf16.h>

#include <algorithm>

#include "graft/backend/cuda/check.hpp"
#include "graft/backend/cuda/conv.hpp"
#include "graft/backend/cuda/elementwise.hpp"
#include "graft/backend/cuda/memory.hpp"
#include "launch.cuh"

namespace graft::cuda {
namespace {

using launch::Pack;

constexpr int lanes = Pack<__nv_bfloat16>::lanes;  // channels per 16-byte access
constexpr int wide_threads = 256, max_partials = 2048;
constexpr int narrow_channels = 32, narrow_rows = 8;

// Blocks of rows for the narrow kernel: enough to fill the GPU several times
// over, each at least ~512 rows.
int narrow_partials(std::int64_t rows) { return int(std::clamp<std::int64_t>(rows / 512, 1, max_partials / 2)); }
// For the wide kernel: about 8 units per thread per block, however wide the
// rows (SAEHD's first upscale has 2048 channels, one row per block pass:
// 1 block per 512 rows left most of an H200 idle), and at least a pass of rows each.
int wide_partials(std::int64_t rows, std::int64_t units) {
  const std::int64_t groups = wide_threads / units;
  return int(std::clamp<std::int64_t>(std::min(rows * units / (wide_threads * 8), rows / groups), 1, max_partials));
}

// The rows [first, last) block `partial` of `partials` owns.
struct RowRange {
  std::int64_t first, last;
  __device__ RowRange(std::int64_t rows, int partial, int partials) {
    const std::int64_t per = (rows + partials - 1) / partials;
    first = partial * per;
    last = first + per < rows ? first + per : rows;
  }
};

// Where dy comes from: the rows themselves, or the output of DepthToSpace<block>
// applied to the rows (N, h, w, block^2 C) -> (N, h block, w block, C).
struct Source {
  std::int64_t h = 0, w = 0;
  int block = 1;
};

// The index, in dy's 16-byte units, of row r's unit v (of `units` per row).
__device__ inline std::int64_t source_unit(const Source& from, std::int64_t r, int v, int units) {
  if (from.block == 1) return r * units + v;
  const int out_units = units / (from.block * from.block);  // units per output pixel: C / 8
  const int sub = v / out_units, i = sub / from.block, j = sub % from.block;
  const std::int64_t x = r % from.w, y = (r / from.w) % from.h, n = r / (from.w * from.h);
  return ((n * from.h * from.block + y * from.block + i) * (from.w * from.block) + x * from.block + j) * out_units + v % out_units;
}

// Block b sums rows of its range, `units` 16-byte units per row: thread t owns
// unit t % units of every (256 / units)-th row. The per-thread sums meet in
// shared memory at (group, channel), so channel c's column is read in order.
template <bool Activated>
__global__ void wide_partial_sums(const uint4* dy, const uint4* y, uint4* d_pre, float slope, float* scratch,
                                  std::int64_t rows, int units, Source from) {
  __shared__ float sums[wide_threads * lanes];
  const int groups = wide_threads / units, v = threadIdx.x % units, group = threadIdx.x / units;
  const RowRange range(rows, blockIdx.x, gridDim.x);
  float s[lanes] = {};
  if (group < groups)
    for (std::int64_t r = range.first + group; r < range.last; r += groups) {
      Pack<__nv_bfloat16> g{dy[source_unit(from, r, v, units)]};
      if constexpr (Activated) {
        const std::int64_t at = r * units + v;
        const Pack<__nv_bfloat16> out{y[at]};
#pragma unroll
        for (int k = 0; k < lanes; ++k) {
          const float value = __bfloat162float(g.v[k]);
          g.v[k] = __float2bfloat16_rn(__bfloat162float(out.v[k]) > 0.0f ? value : slope * value);
        }
        d_pre[at] = g.raw;  // the sum below is of what the convolution's backward reads
      }
#pragma unroll
      for (int k = 0; k < lanes; ++k) s[k] += __bfloat162float(g.v[k]);
    }
#pragma unroll
  for (int k = 0; k < lanes; ++k) sums[threadIdx.x * lanes + k] = s[k];
  __syncthreads();
  const int channels = units * lanes;
  for (int c = threadIdx.x; c < channels; c += wide_threads) {
    float total = 0.0f;
    for (int k = 0; k < groups; ++k) total += sums[k * channels + c];
    scratch[blockIdx.x * std::int64_t(channels) + c] = total;
  }
}

// One thread per (row, channel), 32 channels by 8 rows per block: any channel
// count and alignment.
template <bool Activated>
__global__ void narrow_partial_sums(const __nv_bfloat16* dy, const __nv_bfloat16* y, __nv_bfloat16* d_pre, float slope,
                                    float* scratch, std::int64_t rows, std::int64_t channels) {
  __shared__ float sums[narrow_rows][narrow_channels];
  const std::int64_t c = blockIdx.x * std::int64_t(narrow_channels) + threadIdx.x;
  const RowRange range(rows, blockIdx.y, gridDim.y);
  float s = 0.0f;
  if (c < channels)
    for (std::int64_t r = range.first + threadIdx.y; r < range.last; r += narrow_rows) {
      const std::int64_t i = r * channels + c;
      float g = __bfloat162float(dy[i]);
      if constexpr (Activated) {
        if (!(__bfloat162float(y[i]) > 0.0f)) g *= slope;
        const __nv_bfloat16 rounded = __float2bfloat16_rn(g);
        d_pre[i] = rounded;
        g = __bfloat162float(rounded);
      }
      s += g;
    }
  sums[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && c < channels) {
    float total = 0.0f;
    for (int k = 0; k < narrow_rows; ++k) total += sums[k][threadIdx.x];
    scratch[blockIdx.y * channels + c] = total;
  }
}

// db[c] += the scratch rows' column c: 32 channels per block, 32 threads down
// each column, then their sums in order.
__global__ void add_partials(const float* scratch, int partials, float* db, std::int64_t channels) {
  __shared__ float sums[32][33];
  const std::int64_t c = blockIdx.x * std::int64_t(32) + threadIdx.x;
  float s = 0.0f;
  if (c < channels)
    for (int p = threadIdx.y; p < partials; p += 32) s += scratch[p * channels + c];
  sums[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && c < channels) {
    float total = 0.0f;
    for (int k = 0; k < 32; ++k) total += sums[k][threadIdx.x];
    db[c] += total;
  }
}

bool wide_possible(std::int64_t channels, const void* dy, const void* y, const void* d_pre) {
  return channels % lanes == 0 && channels / lanes <= wide_threads && launch::aligned_16(dy) &&
         (y == nullptr || launch::aligned_16(y)) && (d_pre == nullptr || launch::aligned_16(d_pre));
}

template <bool Activated>
void launch_bias_gradient(const bf16* dy, const bf16* y, bf16* d_pre, float slope, float* db, std::int64_t rows,
                          std::int64_t channels, Source from, cudaStream_t stream, const char* what) {
  const bool wide = wide_possible(channels, dy, y, d_pre);
  const int partials = wide ? wide_partials(rows, channels / lanes) : narrow_partials(rows);
  DeviceBuffer<float> scratch(std::size_t(partials * channels), stream);
  if (wide) {
    wide_partial_sums<Activated><<<unsigned(partials), wide_threads, 0, stream>>>(
        reinterpret_cast<const uint4*>(dy), reinterpret_cast<const uint4*>(y), reinterpret_cast<uint4*>(d_pre), slope,
        scratch.data(), rows, int(channels / lanes), from);
  } else {
    graft::check(from.block == 1, what, ": reading dy through DepthToSpace needs the wide kernel");
    const dim3 grid(unsigned((channels + narrow_channels - 1) / narrow_channels), unsigned(partials));
    narrow_partial_sums<Activated><<<grid, dim3(narrow_channels, narrow_rows), 0, stream>>>(
        reinterpret_cast<const __nv_bfloat16*>(dy), reinterpret_cast<const __nv_bfloat16*>(y),
        reinterpret_cast<__nv_bfloat16*>(d_pre), slope, scratch.data(), rows, channels);
  }
  check_launch(what);
  add_partials<<<unsigned((channels + 31) / 32), dim3(32, 32), 0, stream>>>(scratch.data(), partials, db, channels);
  check_launch(what);
}

}  // namespace

void bias_gradient(const bf16* dy, float* db, std::int64_t rows, std::int64_t channels, cudaStream_t stream) {
  launch_bias_gradient<false>(dy, nullptr, nullptr, 0.0f, db, rows, channels, {}, stream, "bias_gradient");
}

void leaky_relu_bias_gradient(const bf16* y, const bf16* dy, float slope, bf16* d_pre, float* db, std::int64_t rows,
                              std::int64_t channels, cudaStream_t stream) {
  launch_bias_gradient<true>(dy, y, d_pre, slope, db, rows, channels, {}, stream, "leaky_relu_bias_gradient");
}

void leaky_relu_bias_gradient_from_depth_to_space(const bf16* y, const bf16* dy_space, float slope, bf16* d_pre, float* db,
                                                  std::int64_t batch, std::int64_t h, std::int64_t w, std::int64_t channels,
                                                  int block, cudaStream_t stream) {
  const std::int64_t rows = batch * h * w;
  if ((channels / (block * block)) % lanes == 0 && wide_possible(channels, dy_space, y, d_pre)) {
    launch_bias_gradient<true>(dy_space, y, d_pre, slope, db, rows, channels, {h, w, block}, stream,
                               "leaky_relu_bias_gradient_from_depth_to_space");
    return;
  }
  // Runs of channels that 16-byte units do not tile: DepthToSpace's backward first, into d_pre.
  depth_to_space_backward(dy_space, d_pre, batch, h, w, channels / (block * block), block, stream);
  launch_bias_gradient<true>(d_pre, y, d_pre, slope, db, rows, channels, {}, stream, "leaky_relu_bias_gradient");
}

}  // namespace graft::cuda
