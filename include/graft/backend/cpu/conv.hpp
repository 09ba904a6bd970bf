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

// What a convolution multiplies in. Tensors at this interface are f32 either way.
// - f32 (the default): exact to float rounding; the gradient tests check it.
// - bf16: x, w and dy are rounded to bfloat16 on their way into oneDNN, the
//   products are summed in f32, and y, dx, dw and db come out in f32, as
//   PyTorch's CPU autocast does and as the CUDA backend computes. On a CPU
//   with AMX or AVX512-BF16, oneDNN's bf16 kernels make SAEHD's step ~2.4x
//   faster (docs/benchmarks.md); elsewhere oneDNN emulates them, slower than f32.
enum class ConvPrecision : std::uint8_t { f32, bf16 };

// Process-wide, like torch.set_float32_matmul_precision: every convolution
// that starts after the call uses it, on every thread (the ranks of one job
// share it). Each precision keeps its own cached primitives.
void set_conv_precision(ConvPrecision precision);
ConvPrecision conv_precision();

// Sets the precision for its lifetime, then puts back the one before.
class ConvPrecisionScope {
 public:
  explicit ConvPrecisionScope(ConvPrecision precision) : before_(conv_precision()) { set_conv_precision(precision); }
  ~ConvPrecisionScope() { set_conv_precision(before_); }
  ConvPrecisionScope(const ConvPrecisionScope&) = delete;
  ConvPrecisionScope& operator=(const ConvPrecisionScope&) = delete;

 private:
  ConvPrecision before_;
};

// Whether this CPU multiplies bf16 in hardware (AVX512-BF16 or AMX), as oneDNN sees it.
bool has_native_bf16();

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
