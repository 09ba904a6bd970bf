// Moving activations between layouts and precisions on the GPU: what the
// layers that only rearrange values (Flatten, Reshape, DepthToSpace's
// neighbours, channel concatenation) and the step's edges (NCHW f32 images
// in, NCHW f32 predictions for the loss) need.
//
// Images are channels-last bf16 on the GPU; the CPU backend, the loader and
// the losses use NCHW f32. A batched transpose (N, A, B) -> (N, B, A) is the
// conversion between the two: NHWC is (N, H W, C), NCHW is (N, C, H W).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "graft/core/dtype.hpp"

namespace graft::cuda {

// out[n][b][a] = in[n][a][b], converting the element type (round to nearest even into bf16).
void transpose(const bf16* in, bf16* out, std::int64_t batch, std::int64_t a, std::int64_t b, cudaStream_t stream);
void transpose(const float* in, bf16* out, std::int64_t batch, std::int64_t a, std::int64_t b, cudaStream_t stream);
void transpose(const bf16* in, float* out, std::int64_t batch, std::int64_t a, std::int64_t b, cudaStream_t stream);

// A channels-last image (N, P, C) as two NCHW f32 tensors: channels [0, split)
// into `first` (N, split, P) and [split, C) into `rest` (N, C - split, P); a
// decoder's rgb and mask for the losses. from_planes is its gradient's way back.
void to_planes(const bf16* in, std::int64_t batch, std::int64_t pixels, std::int64_t channels, std::int64_t split, float* first,
               float* rest, cudaStream_t stream);
void from_planes(const float* first, const float* rest, std::int64_t batch, std::int64_t pixels, std::int64_t channels,
                 std::int64_t split, bf16* out, cudaStream_t stream);

// For each of `rows` rows: to[r * to_stride + to_offset + c] = from[r * from_stride + from_offset + c], c < count.
// A channel slice of a channels-last tensor (concatenation and its gradient).
void copy_channels(const bf16* from, std::int64_t from_stride, std::int64_t from_offset, bf16* to, std::int64_t to_stride,
                   std::int64_t to_offset, std::int64_t rows, std::int64_t count, cudaStream_t stream);

// y = a + b (y may be a or b), bf16 with the sum in f32.
void add(const bf16* a, const bf16* b, bf16* y, std::int64_t n, cudaStream_t stream);
// y += x, f32.
void accumulate(const float* x, float* y, std::int64_t n, cudaStream_t stream);

}  // namespace graft::cuda
