// 2-D convolution on the CPU: forward, backward-data and backward-weights.
//
// Implemented with oneDNN (src/backend/cpu/conv.cpp), the library PyTorch
// itself uses on the CPU: the primitives pick blocked layouts and JIT kernels
// for the host's vector units, and they are cached per geometry because
// creating one costs more than running a small convolution. Tensors stay NCHW
// with OIHW weights at this interface.
#pragma once

#include <cstdint>
#include <optional>

namespace graft::cpu {

struct Conv2dGeometry {
  std::int64_t batch, in_channels, in_h, in_w;
  std::int64_t out_channels, kernel, stride, padding;

  constexpr std::int64_t out_h() const { return (in_h + 2 * padding - kernel) / stride + 1; }
  constexpr std::int64_t out_w() const { return (in_w + 2 * padding - kernel) / stride + 1; }
  constexpr bool operator==(const Conv2dGeometry&) const = default;
};

// Work done on the convolution's output in the same pass: a LeakyReLU after
// a convolution then costs no extra trip through memory.
struct ConvEpilogue {
  std::optional<float> leaky_relu_slope;
};

// y = epilogue(conv(x, w) + b). b may be null. y is overwritten.
void conv2d_forward(const Conv2dGeometry& g, const float* x, const float* w, const float* b, float* y,
                    const ConvEpilogue& epilogue = {});

// dx = conv_transpose(dy, w). dx is overwritten.
void conv2d_backward_data(const Conv2dGeometry& g, const float* dy, const float* w, float* dx);

// dw += grad of the weights, db += sum of dy over (N, H, W). db may be null.
void conv2d_backward_weights(const Conv2dGeometry& g, const float* x, const float* dy, float* dw, float* db);

// Both of the above in one call (dx may be null): dy is brought into
// oneDNN's layout once for the two.
void conv2d_backward(const Conv2dGeometry& g, const float* x, const float* dy, const float* w, float* dx, float* dw, float* db);

}  // namespace graft::cpu
