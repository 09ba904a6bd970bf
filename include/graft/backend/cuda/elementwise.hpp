// The CUDA backend's own kernels for the layers cuDNN and cuBLAS do not
// cover, one pass over memory each: activations (f32, and bf16 for mixed
// precision), f32 <-> bf16 conversion, DepthToSpace and PixelNorm.
//
// Images are channels-last (N, H, W, C) on the GPU: cuDNN's fastest layout
// for bf16 convolutions. In that layout TensorFlow's DCR DepthToSpace, which
// DeepFaceLab uses, moves contiguous runs of Block x C values:
//   out[n, h B + i, w B + j, c] = in[n, h, w, (i B + j) C + c].
// Every function enqueues on `stream` and returns; errors in the launch are
// thrown (check.hpp).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "graft/core/dtype.hpp"

namespace graft::cuda {

void leaky_relu_forward(const float* x, float* y, std::int64_t n, float slope, cudaStream_t stream);
void leaky_relu_forward(const bf16* x, bf16* y, std::int64_t n, float slope, cudaStream_t stream);
// From the output: for a positive slope, y > 0 exactly where x > 0.
void leaky_relu_backward(const float* y, const float* dy, float* dx, std::int64_t n, float slope, cudaStream_t stream);
void leaky_relu_backward(const bf16* y, const bf16* dy, bf16* dx, std::int64_t n, float slope, cudaStream_t stream);

void sigmoid_forward(const float* x, float* y, std::int64_t n, cudaStream_t stream);
void sigmoid_forward(const bf16* x, bf16* y, std::int64_t n, cudaStream_t stream);
void sigmoid_backward(const float* y, const float* dy, float* dx, std::int64_t n, cudaStream_t stream);
void sigmoid_backward(const bf16* y, const bf16* dy, bf16* dx, std::int64_t n, cudaStream_t stream);

// Round to nearest even, as graft::bf16 does on the CPU.
void to_bf16(const float* x, bf16* y, std::int64_t n, cudaStream_t stream);
void to_f32(const bf16* x, float* y, std::int64_t n, cudaStream_t stream);

// in (N, H, W, Block * Block * C) -> out (N, H Block, W Block, C), and back for the gradient.
void depth_to_space_forward(const float* in, float* out, std::int64_t batch, std::int64_t h, std::int64_t w, std::int64_t c,
                            int block, cudaStream_t stream);
void depth_to_space_backward(const float* dout, float* din, std::int64_t batch, std::int64_t h, std::int64_t w, std::int64_t c,
                             int block, cudaStream_t stream);
void depth_to_space_forward(const bf16* in, bf16* out, std::int64_t batch, std::int64_t h, std::int64_t w, std::int64_t c,
                            int block, cudaStream_t stream);
void depth_to_space_backward(const bf16* dout, bf16* din, std::int64_t batch, std::int64_t h, std::int64_t w, std::int64_t c,
                             int block, cudaStream_t stream);

// y = x rsqrt(mean(x^2) + 1e-6) over each sample of `per_sample` values (any layout).
void pixel_norm_forward(const float* x, float* y, std::int64_t batch, std::int64_t per_sample, cudaStream_t stream);
// dx = r dy - r^3 x <dy, x> / n, with r the sample's rsqrt(mean(x^2) + 1e-6).
void pixel_norm_backward(const float* x, const float* dy, float* dx, std::int64_t batch, std::int64_t per_sample,
                         cudaStream_t stream);
// The same on bf16 values, the sums in double.
void pixel_norm_forward(const bf16* x, bf16* y, std::int64_t batch, std::int64_t per_sample, cudaStream_t stream);
void pixel_norm_backward(const bf16* x, const bf16* dy, bf16* dx, std::int64_t batch, std::int64_t per_sample,
                         cudaStream_t stream);

}  // namespace graft::cuda
