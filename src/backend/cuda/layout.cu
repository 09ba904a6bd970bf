#include <cuda_bf16.h>

#include "graft/backend/cuda/check.hpp"
#include "graft/backend/cuda/layout.hpp"
#include "launch.cuh"

namespace graft::cuda {
namespace {

using launch::blocks_for;
using launch::device;
using launch::load;
using launch::store;
using launch::grid_stride;
using launch::threads;

// A 32 x 32 tile through shared memory, so that both the reads and the writes
// are coalesced; the padding column keeps the column reads free of bank conflicts.
constexpr int tile = 32, tile_rows = 8;

template <class From, class To>
__global__ void transpose_kernel(const From* in, To* out, std::int64_t a, std::int64_t b) {
  __shared__ float block[tile][tile + 1];
  const std::int64_t n = blockIdx.z;
  const From* src = in + n * a * b;
  To* dst = out + n * a * b;
  const std::int64_t col = blockIdx.x * std::int64_t(tile) + threadIdx.x;  // along b
  for (int r = threadIdx.y; r < tile; r += tile_rows) {
    const std::int64_t row = blockIdx.y * std::int64_t(tile) + r;  // along a
    if (row < a && col < b) block[r][threadIdx.x] = load(src, row * b + col);
  }
  __syncthreads();
  const std::int64_t out_col = blockIdx.y * std::int64_t(tile) + threadIdx.x;  // along a
  for (int r = threadIdx.y; r < tile; r += tile_rows) {
    const std::int64_t out_row = blockIdx.x * std::int64_t(tile) + r;  // along b
    if (out_row < b && out_col < a) store(dst, out_row * a + out_col, block[threadIdx.x][r]);
  }
}

template <class From, class To>
void launch_transpose(const From* in, To* out, std::int64_t batch, std::int64_t a, std::int64_t b, cudaStream_t stream,
                      const char* what) {
  graft::check(batch > 0 && batch < 65536 && a > 0 && b > 0, what, ": unsupported extents ", batch, " x ", a, " x ", b);
  const dim3 grid(static_cast<unsigned>((b + tile - 1) / tile), static_cast<unsigned>((a + tile - 1) / tile),
                  static_cast<unsigned>(batch));
  transpose_kernel<<<grid, dim3(tile, tile_rows), 0, stream>>>(in, out, a, b);
  check_launch(what);
}

__global__ void copy_channels_kernel(const __nv_bfloat16* from, std::int64_t from_stride, std::int64_t from_offset,
                                     __nv_bfloat16* to, std::int64_t to_stride, std::int64_t to_offset, std::int64_t rows,
                                     std::int64_t count) {
  grid_stride(rows * count, [&](std::int64_t i) {
    const std::int64_t r = i / count, c = i % count;
    to[r * to_stride + to_offset + c] = from[r * from_stride + from_offset + c];
  });
}

// One thread per pixel: reads its C channels, writes one value to each plane.
template <bool ToPlanes>
__global__ void planes_kernel(__nv_bfloat16* image, std::int64_t batch, std::int64_t pixels, std::int64_t channels,
                              std::int64_t split, float* first, float* rest) {
  grid_stride(batch * pixels, [&](std::int64_t i) {
    const std::int64_t n = i / pixels, p = i % pixels;
    for (std::int64_t c = 0; c < channels; ++c) {
      float* plane = c < split ? first + (n * split + c) * pixels : rest + (n * (channels - split) + c - split) * pixels;
      if constexpr (ToPlanes)
        plane[p] = __bfloat162float(image[i * channels + c]);
      else
        image[i * channels + c] = __float2bfloat16_rn(plane[p]);
    }
  });
}

struct Add {
  __device__ float operator()(float a, float b) const { return a + b; }
};

}  // namespace

void transpose(const bf16* in, bf16* out, std::int64_t batch, std::int64_t a, std::int64_t b, cudaStream_t stream) {
  launch_transpose(device(in), device(out), batch, a, b, stream, "transpose (bf16)");
}
void transpose(const float* in, bf16* out, std::int64_t batch, std::int64_t a, std::int64_t b, cudaStream_t stream) {
  launch_transpose(in, device(out), batch, a, b, stream, "transpose (f32 to bf16)");
}
void transpose(const bf16* in, float* out, std::int64_t batch, std::int64_t a, std::int64_t b, cudaStream_t stream) {
  launch_transpose(device(in), out, batch, a, b, stream, "transpose (bf16 to f32)");
}

void to_planes(const bf16* in, std::int64_t batch, std::int64_t pixels, std::int64_t channels, std::int64_t split, float* first,
               float* rest, cudaStream_t stream) {
  planes_kernel<true><<<blocks_for(batch * pixels), threads, 0, stream>>>(const_cast<__nv_bfloat16*>(device(in)), batch, pixels,
                                                                           channels, split, first, rest);
  check_launch("to_planes");
}
void from_planes(const float* first, const float* rest, std::int64_t batch, std::int64_t pixels, std::int64_t channels,
                 std::int64_t split, bf16* out, cudaStream_t stream) {
  planes_kernel<false><<<blocks_for(batch * pixels), threads, 0, stream>>>(device(out), batch, pixels, channels, split,
                                                                            const_cast<float*>(first), const_cast<float*>(rest));
  check_launch("from_planes");
}

void copy_channels(const bf16* from, std::int64_t from_stride, std::int64_t from_offset, bf16* to, std::int64_t to_stride,
                   std::int64_t to_offset, std::int64_t rows, std::int64_t count, cudaStream_t stream) {
  copy_channels_kernel<<<blocks_for(rows * count), threads, 0, stream>>>(device(from), from_stride, from_offset, device(to),
                                                                         to_stride, to_offset, rows, count);
  check_launch("copy_channels");
}

void add(const bf16* a, const bf16* b, bf16* y, std::int64_t n, cudaStream_t stream) {
  launch::map("add (bf16)", stream, n, Add{}, device(y), device(a), device(b));
}

void accumulate(const float* x, float* y, std::int64_t n, cudaStream_t stream) {
  launch::map("accumulate", stream, n, Add{}, y, x, static_cast<const float*>(y));
}

}  // namespace graft::cuda
