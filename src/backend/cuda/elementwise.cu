#include <cuda_bf16.h>

#include <cstdint>

#include "graft/backend/cuda/check.hpp"
#include "graft/backend/cuda/elementwise.hpp"
#include "launch.cuh"

namespace graft::cuda {
namespace {

using launch::blocks_for;
using launch::device;
using launch::load;
using launch::store;
using launch::grid_stride;
using launch::threads;

struct LeakyReluForward {
  float slope;
  __device__ float operator()(float x) const { return x > 0.0f ? x : slope * x; }
};
// From the output y (for a positive slope, y > 0 exactly where x > 0).
struct LeakyReluBackward {
  float slope;
  __device__ float operator()(float y, float dy) const { return y > 0.0f ? dy : slope * dy; }
};
struct SigmoidForward {
  __device__ float operator()(float x) const { return 1.0f / (1.0f + expf(-x)); }
};
struct SigmoidBackward {
  __device__ float operator()(float y, float dy) const { return dy * y * (1.0f - y); }
};

template <class From, class To>
__global__ void convert_kernel(const From* x, To* y, std::int64_t n) {
  grid_stride(n, [&](std::int64_t i) { store(y, i, load(x, i)); });
}

// One thread per unit of the output: a unit is one value, or 4, 8 or 16
// bytes of channels where the channel count allows (runs of C values move
// together in NHWC); `Forward` picks the direction of the copy. `c` counts
// units. Index is 32-bit where the tensor allows: the divisions that find
// a unit's place are most of the work, and 64-bit ones are several times dearer.
template <bool Forward, class Index, class Unit>
__global__ void depth_to_space_kernel(const Unit* from, Unit* to, Index batch, Index h, Index w, Index c, Index block) {
  const Index out_w = w * block, total = batch * h * block * out_w * c;
  for (Index o = Index(blockIdx.x) * blockDim.x + threadIdx.x; o < total; o += Index(gridDim.x) * blockDim.x) {
    const Index ch = o % c, pixel = o / c, x = pixel % out_w, row = pixel / out_w, y = row % (h * block), n = row / (h * block);
    const Index i = y % block, j = x % block;
    const Index in = ((n * h + y / block) * w + x / block) * (block * block * c) + (i * block + j) * c + ch;
    if constexpr (Forward)
      to[o] = from[in];
    else
      to[in] = from[o];
  }
}

// Moves the widest units (16, 8 or 4 bytes) that tile every run of C
// channels and that both pointers are aligned to; single values otherwise
// (SAEHD's mask decoder has runs of 44 bf16 values: 8-byte units).
template <bool Forward, class T>
void launch_depth_to_space(const T* from, T* to, std::int64_t batch, std::int64_t h, std::int64_t w, std::int64_t c, int block,
                           cudaStream_t stream, const char* what) {
  const auto fits = [&](std::size_t unit) {
    return (std::size_t(c) * sizeof(T)) % unit == 0 && reinterpret_cast<std::uintptr_t>(from) % unit == 0 &&
           reinterpret_cast<std::uintptr_t>(to) % unit == 0;
  };
  const auto launch_with = [&]<class Unit>(const Unit*) {
    const std::int64_t per_unit = std::int64_t(sizeof(Unit) / sizeof(T)), units = batch * h * w * block * block * c / per_unit;
    const auto as = [&]<class Index>(Index) {
      depth_to_space_kernel<Forward, Index><<<blocks_for(units), threads, 0, stream>>>(
          reinterpret_cast<const Unit*>(from), reinterpret_cast<Unit*>(to), Index(batch), Index(h), Index(w), Index(c / per_unit),
          Index(block));
    };
    // The loop index may step past the total by a grid before it stops.
    if (units + std::int64_t(blocks_for(units)) * threads < (std::int64_t(1) << 32))
      as(std::uint32_t{});
    else
      as(std::int64_t{});
  };
  if (fits(16))
    launch_with(static_cast<const uint4*>(nullptr));
  else if (fits(8))
    launch_with(static_cast<const uint2*>(nullptr));
  else if (fits(4))
    launch_with(static_cast<const unsigned*>(nullptr));
  else
    launch_with(static_cast<const T*>(nullptr));
  check_launch(what);
}

// Sum over one sample per block, in double so that it does not drift with the sample's size.
template <class Term>
__device__ double sample_sum(std::int64_t per_sample, Term term) {
  double s = 0;
  for (std::int64_t i = threadIdx.x; i < per_sample; i += blockDim.x) s += term(i);
  return launch::block_sum(s);
}

constexpr double pixel_norm_epsilon = 1e-6;

template <class T>
__global__ void pixel_norm_forward_kernel(const T* x, T* y, std::int64_t per_sample) {
  const T* xs = x + blockIdx.x * per_sample;
  T* ys = y + blockIdx.x * per_sample;
  const double squares = sample_sum(per_sample, [&](std::int64_t i) { return double(load(xs, i)) * load(xs, i); });
  const float r = float(1.0 / sqrt(squares / double(per_sample) + pixel_norm_epsilon));
  for (std::int64_t i = threadIdx.x; i < per_sample; i += blockDim.x) store(ys, i, load(xs, i) * r);
}

template <class T>
__global__ void pixel_norm_backward_kernel(const T* x, const T* dy, T* dx, std::int64_t per_sample) {
  const T* xs = x + blockIdx.x * per_sample;
  const T* dys = dy + blockIdx.x * per_sample;
  T* dxs = dx + blockIdx.x * per_sample;
  const double squares = sample_sum(per_sample, [&](std::int64_t i) { return double(load(xs, i)) * load(xs, i); });
  const double dot = sample_sum(per_sample, [&](std::int64_t i) { return double(load(dys, i)) * load(xs, i); });
  const double r = 1.0 / sqrt(squares / double(per_sample) + pixel_norm_epsilon);
  const float a = float(r), b = float(r * r * r * dot / double(per_sample));
  for (std::int64_t i = threadIdx.x; i < per_sample; i += blockDim.x) store(dxs, i, a * load(dys, i) - b * load(xs, i));
}


}  // namespace

void leaky_relu_forward(const float* x, float* y, std::int64_t n, float slope, cudaStream_t stream) {
  launch::map("leaky_relu_forward", stream, n, LeakyReluForward{slope}, y, x);
}
void leaky_relu_forward(const bf16* x, bf16* y, std::int64_t n, float slope, cudaStream_t stream) {
  launch::map("leaky_relu_forward (bf16)", stream, n, LeakyReluForward{slope}, device(y), device(x));
}
void leaky_relu_backward(const float* y, const float* dy, float* dx, std::int64_t n, float slope, cudaStream_t stream) {
  launch::map("leaky_relu_backward", stream, n, LeakyReluBackward{slope}, dx, y, dy);
}
void leaky_relu_backward(const bf16* y, const bf16* dy, bf16* dx, std::int64_t n, float slope, cudaStream_t stream) {
  launch::map("leaky_relu_backward (bf16)", stream, n, LeakyReluBackward{slope}, device(dx), device(y), device(dy));
}
void sigmoid_forward(const float* x, float* y, std::int64_t n, cudaStream_t stream) {
  launch::map("sigmoid_forward", stream, n, SigmoidForward{}, y, x);
}
void sigmoid_forward(const bf16* x, bf16* y, std::int64_t n, cudaStream_t stream) {
  launch::map("sigmoid_forward (bf16)", stream, n, SigmoidForward{}, device(y), device(x));
}
void sigmoid_backward(const float* y, const float* dy, float* dx, std::int64_t n, cudaStream_t stream) {
  launch::map("sigmoid_backward", stream, n, SigmoidBackward{}, dx, y, dy);
}
void sigmoid_backward(const bf16* y, const bf16* dy, bf16* dx, std::int64_t n, cudaStream_t stream) {
  launch::map("sigmoid_backward (bf16)", stream, n, SigmoidBackward{}, device(dx), device(y), device(dy));
}
void to_bf16(const float* x, bf16* y, std::int64_t n, cudaStream_t stream) {
  convert_kernel<<<blocks_for(n), threads, 0, stream>>>(x, device(y), n);
  check_launch("to_bf16");
}
void to_f32(const bf16* x, float* y, std::int64_t n, cudaStream_t stream) {
  convert_kernel<<<blocks_for(n), threads, 0, stream>>>(device(x), y, n);
  check_launch("to_f32");
}
void depth_to_space_forward(const float* in, float* out, std::int64_t batch, std::int64_t h, std::int64_t w, std::int64_t c,
                            int block, cudaStream_t stream) {
  launch_depth_to_space<true>(in, out, batch, h, w, c, block, stream, "depth_to_space_forward");
}
void depth_to_space_forward(const bf16* in, bf16* out, std::int64_t batch, std::int64_t h, std::int64_t w, std::int64_t c,
                            int block, cudaStream_t stream) {
  launch_depth_to_space<true>(device(in), device(out), batch, h, w, c, block, stream, "depth_to_space_forward (bf16)");
}
void depth_to_space_backward(const float* dout, float* din, std::int64_t batch, std::int64_t h, std::int64_t w, std::int64_t c,
                             int block, cudaStream_t stream) {
  launch_depth_to_space<false>(dout, din, batch, h, w, c, block, stream, "depth_to_space_backward");
}
void depth_to_space_backward(const bf16* dout, bf16* din, std::int64_t batch, std::int64_t h, std::int64_t w, std::int64_t c,
                             int block, cudaStream_t stream) {
  launch_depth_to_space<false>(device(dout), device(din), batch, h, w, c, block, stream, "depth_to_space_backward (bf16)");
}
void pixel_norm_forward(const float* x, float* y, std::int64_t batch, std::int64_t per_sample, cudaStream_t stream) {
  pixel_norm_forward_kernel<<<static_cast<unsigned>(batch), threads, 0, stream>>>(x, y, per_sample);
  check_launch("pixel_norm_forward");
}
void pixel_norm_backward(const float* x, const float* dy, float* dx, std::int64_t batch, std::int64_t per_sample,
                         cudaStream_t stream) {
  pixel_norm_backward_kernel<<<static_cast<unsigned>(batch), threads, 0, stream>>>(x, dy, dx, per_sample);
  check_launch("pixel_norm_backward");
}
void pixel_norm_forward(const bf16* x, bf16* y, std::int64_t batch, std::int64_t per_sample, cudaStream_t stream) {
  pixel_norm_forward_kernel<<<static_cast<unsigned>(batch), threads, 0, stream>>>(device(x), device(y), per_sample);
  check_launch("pixel_norm_forward (bf16)");
}
void pixel_norm_backward(const bf16* x, const bf16* dy, bf16* dx, std::int64_t batch, std::int64_t per_sample,
                         cudaStream_t stream) {
  pixel_norm_backward_kernel<<<static_cast<unsigned>(batch), threads, 0, stream>>>(device(x), device(dy), device(dx),
                                                                                   per_sample);
  check_launch("pixel_norm_backward (bf16)");
}

}  // namespace graft::cuda
