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


template <class T>
__global__ void leaky_relu_forward_kernel(const T* x, T* y, std::int64_t n, float slope) {
  grid_stride(n, [&](std::int64_t i) {
    const float v = load(x, i);
    store(y, i, v > 0.0f ? v : slope * v);
  });
}

template <class T>
__global__ void leaky_relu_backward_kernel(const T* y, const T* dy, T* dx, std::int64_t n, float slope) {
  grid_stride(n, [&](std::int64_t i) { store(dx, i, load(y, i) > 0.0f ? load(dy, i) : slope * load(dy, i)); });
}

template <class T>
__global__ void sigmoid_forward_kernel(const T* x, T* y, std::int64_t n) {
  grid_stride(n, [&](std::int64_t i) { store(y, i, 1.0f / (1.0f + expf(-load(x, i)))); });
}

template <class T>
__global__ void sigmoid_backward_kernel(const T* y, const T* dy, T* dx, std::int64_t n) {
  grid_stride(n, [&](std::int64_t i) {
    const float s = load(y, i);
    store(dx, i, load(dy, i) * s * (1.0f - s));
  });
}

template <class From, class To>
__global__ void convert_kernel(const From* x, To* y, std::int64_t n) {
  grid_stride(n, [&](std::int64_t i) { store(y, i, load(x, i)); });
}

// One thread per unit of the output: a unit is one value, or 16 bytes of
// channels when the channel count allows (runs of C values move together in
// NHWC); `Forward` picks the direction of the copy. `c` counts units.
template <bool Forward, class Unit>
__global__ void depth_to_space_kernel(const Unit* from, Unit* to, std::int64_t batch, std::int64_t h, std::int64_t w,
                                      std::int64_t c, int block) {
  const std::int64_t out_w = w * block, total = batch * h * block * out_w * c;
  grid_stride(total, [&](std::int64_t o) {
    const std::int64_t ch = o % c, x = (o / c) % out_w, y = (o / (c * out_w)) % (h * block), n = o / (c * out_w * h * block);
    const std::int64_t i = y % block, j = x % block;
    const std::int64_t in = ((n * h + y / block) * w + x / block) * (block * block * c) + (i * block + j) * c + ch;
    if constexpr (Forward)
      to[o] = from[in];
    else
      to[in] = from[o];
  });
}

// Moves 16-byte units where the channels of every run fill whole units and
// the pointers are aligned, single values otherwise.
template <bool Forward, class T>
void launch_depth_to_space(const T* from, T* to, std::int64_t batch, std::int64_t h, std::int64_t w, std::int64_t c, int block,
                           cudaStream_t stream, const char* what) {
  constexpr std::int64_t per_unit = 16 / sizeof(T);
  const bool wide = c % per_unit == 0 && reinterpret_cast<std::uintptr_t>(from) % 16 == 0 &&
                    reinterpret_cast<std::uintptr_t>(to) % 16 == 0;
  const std::int64_t units = batch * h * w * block * block * (wide ? c / per_unit : c);
  if (wide)
    depth_to_space_kernel<Forward><<<blocks_for(units), threads, 0, stream>>>(
        reinterpret_cast<const uint4*>(from), reinterpret_cast<uint4*>(to), batch, h, w, c / per_unit, block);
  else
    depth_to_space_kernel<Forward><<<blocks_for(units), threads, 0, stream>>>(from, to, batch, h, w, c, block);
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
  leaky_relu_forward_kernel<<<blocks_for(n), threads, 0, stream>>>(x, y, n, slope);
  check_launch("leaky_relu_forward");
}
void leaky_relu_forward(const bf16* x, bf16* y, std::int64_t n, float slope, cudaStream_t stream) {
  leaky_relu_forward_kernel<<<blocks_for(n), threads, 0, stream>>>(device(x), device(y), n, slope);
  check_launch("leaky_relu_forward (bf16)");
}
void leaky_relu_backward(const float* y, const float* dy, float* dx, std::int64_t n, float slope, cudaStream_t stream) {
  leaky_relu_backward_kernel<<<blocks_for(n), threads, 0, stream>>>(y, dy, dx, n, slope);
  check_launch("leaky_relu_backward");
}
void leaky_relu_backward(const bf16* y, const bf16* dy, bf16* dx, std::int64_t n, float slope, cudaStream_t stream) {
  leaky_relu_backward_kernel<<<blocks_for(n), threads, 0, stream>>>(device(y), device(dy), device(dx), n, slope);
  check_launch("leaky_relu_backward (bf16)");
}
void sigmoid_forward(const float* x, float* y, std::int64_t n, cudaStream_t stream) {
  sigmoid_forward_kernel<<<blocks_for(n), threads, 0, stream>>>(x, y, n);
  check_launch("sigmoid_forward");
}
void sigmoid_forward(const bf16* x, bf16* y, std::int64_t n, cudaStream_t stream) {
  sigmoid_forward_kernel<<<blocks_for(n), threads, 0, stream>>>(device(x), device(y), n);
  check_launch("sigmoid_forward (bf16)");
}
void sigmoid_backward(const float* y, const float* dy, float* dx, std::int64_t n, cudaStream_t stream) {
  sigmoid_backward_kernel<<<blocks_for(n), threads, 0, stream>>>(y, dy, dx, n);
  check_launch("sigmoid_backward");
}
void sigmoid_backward(const bf16* y, const bf16* dy, bf16* dx, std::int64_t n, cudaStream_t stream) {
  sigmoid_backward_kernel<<<blocks_for(n), threads, 0, stream>>>(device(y), device(dy), device(dx), n);
  check_launch("sigmoid_backward (bf16)");
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
