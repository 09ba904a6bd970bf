// Convolutions on the GPU through cuDNN 9's graph API (cudnn-frontend), in
// the layout and precision that run fastest on tensor cores: channels-last
// bf16 tensors, fp32 accumulation.
//
//   x (N, H, W, C), w (K, R, S, C), y (N, OH, OW, K), bias (K)
//
// The forward fuses the bias and the LeakyReLU into the convolution (one
// cuDNN graph: conv -> add -> relu with a lower clip slope), as the CPU
// backend fuses them into oneDNN's convolution. Backward data and weights
// are cuDNN graphs too; the weight gradient is fp32, for the fp32 master
// gradients. Graphs are built once per geometry and kept (building one takes
// milliseconds) with cuDNN's heuristic choice of engine, or, with
// CudnnOptions::tune_engines, the first run of a graph times the first few
// engines of the heuristic's list and keeps the fastest (for the weight
// gradient, also fp32 against bf16 output). Their workspace comes from the
// caching allocator: run a step once before capturing it, so that nothing is
// tuned or allocated inside.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>
#include <optional>

#include "graft/backend/cpu/conv.hpp"  // Conv2dGeometry: one geometry type for both backends
#include "graft/core/dtype.hpp"

namespace graft::cuda {

using cpu::Conv2dGeometry;

struct CudnnOptions {
  // The weight gradient as cuDNN writes it: bf16 (then converted into the f32
  // gradient buffer), as PyTorch's autocast has it, or f32. With f32 output
  // the heuristic's engines took half of SAEHD-df-128's step on an H200
  // (39 of 78 ms); with bf16, 12 of 50 ms (2026-11-27).
  bool weight_gradient_in_bf16 = true;
  // Time engines on the first run instead of taking the heuristic's first
  // (and both weight-gradient types): SAEHD-df-128's step 7% faster on an
  // H200, its warm-up ~30 s longer. Off by default, so that a plain run
  // picks the same engines every time; faceswap's trainer turns it on.
  bool tune_engines = false;
  int tuned_engines = 4;  // how many of the heuristic's list are built and timed per graph
};

// A cuDNN handle and the graphs built with it: one per thread and GPU.
class Cudnn {
 public:
  explicit Cudnn(CudnnOptions options = {});
  ~Cudnn();
  Cudnn(const Cudnn&) = delete;
  Cudnn& operator=(const Cudnn&) = delete;

  // y = leaky_relu(conv(x, w) + bias + residual) (without the activation when
  // no slope is given; bias and residual (N, OH, OW, K) may be null).
  void conv2d_forward(const Conv2dGeometry& g, const bf16* x, const bf16* w, const bf16* bias, bf16* y,
                      std::optional<float> leaky_slope, cudaStream_t stream, const bf16* residual = nullptr);
  // dx = the gradient of the convolution for dy (already through the activation); overwritten.
  void conv2d_backward_data(const Conv2dGeometry& g, const bf16* dy, const bf16* w, bf16* dx, cudaStream_t stream);
  // dw (K, R, S, C), fp32, overwritten (computed in bf16 or f32: CudnnOptions).
  void conv2d_backward_weights(const Conv2dGeometry& g, const bf16* x, const bf16* dy, float* dw, cudaStream_t stream);

  std::size_t cached_graphs() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// db (K) += the sum of dy (rows x K, channels last) over the rows, in fp32,
// in a fixed order (two passes, no atomics): the same bits on every run.
void bias_gradient(const bf16* dy, float* db, std::int64_t rows, std::int64_t channels, cudaStream_t stream);
// The same for a convolution fused with LeakyReLU: d_pre = dy where y > 0,
// slope * dy elsewhere (from the output y, as leaky_relu_backward), written,
// and db += its sum over the rows; one pass over dy and y.
void leaky_relu_bias_gradient(const bf16* y, const bf16* dy, float slope, bf16* d_pre, float* db, std::int64_t rows,
                              std::int64_t channels, cudaStream_t stream);
// The same with dy the gradient of DepthToSpace<block> applied to the
// convolution's output y (batch, h, w, channels): dy_space is
// (batch, h block, w block, channels / block^2). One pass where the output's
// channels come in multiples of 8 (SAEHD's upscale blocks), instead of
// DepthToSpace's backward and then this.
void leaky_relu_bias_gradient_from_depth_to_space(const bf16* y, const bf16* dy_space, float slope, bf16* d_pre, float* db,
                                                  std::int64_t batch, std::int64_t h, std::int64_t w, std::int64_t channels,
                                                  int block, cudaStream_t stream);

}  // namespace graft::cuda
