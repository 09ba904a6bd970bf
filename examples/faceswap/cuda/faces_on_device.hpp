// Faces between the host, NCHW f32 as the CPU models and the swap loop hold
// them, and the device models' channels-last bf16 tensors: what previews
// and the GPU swap send up and bring back.
#pragma once

#include <cuda_runtime_api.h>

#include <initializer_list>

#include <graft/backend/cuda/check.hpp>
#include <graft/backend/cuda/layout.hpp>
#include <graft/backend/cuda/memory.hpp>
#include <graft/core/error.hpp>
#include <graft/core/tensor.hpp>
#include <graft/nn/cuda/device_model.hpp>

namespace faceswap::cuda {

namespace nn_cuda = graft::nn::cuda;

// Batches of faces (k, 3, R, R) on the host, stacked in order, as one
// (sum of k, 3, R, R) device tensor (channels-last bf16).
inline nn_cuda::DeviceTensor faces_to_device(nn_cuda::Context& c, std::initializer_list<graft::ConstView> batches) {
  const graft::Shape& first = batches.begin()->shape;
  std::int64_t n = 0;
  for (const graft::ConstView& b : batches) {
    graft::check(b.shape.rank == 4 && b.shape[1] == 3 && b.shape[2] == first[2] && b.shape[3] == first[3],
                 "faces_to_device: faces are (n, 3, R, R) of one R, got ", b.shape, " and ", first);
    n += b.shape[0];
  }
  const std::int64_t pixels = first[2] * first[3], image = 3 * pixels;
  graft::cuda::DeviceBuffer<float> planes(std::size_t(n * image), c.stream);
  std::int64_t at = 0;
  for (const graft::ConstView& b : batches) {
    graft::cuda::check(cudaMemcpyAsync(planes.data() + at * image, b.data, std::size_t(b.shape[0] * image) * sizeof(float),
                                       cudaMemcpyHostToDevice, c.stream),
                       "cudaMemcpyAsync (faces to the GPU)");
    at += b.shape[0];
  }
  nn_cuda::DeviceTensor x(c, graft::Shape{n, 3, first[2], first[3]});
  graft::cuda::transpose(planes.data(), x.buffer.data(), n, 3, pixels, c.stream);  // (n, 3, R R) -> (n, R R, 3)
  return x;
}

// A decoder's output, (n, R, R, 4) channels-last bf16 on the device, as
// (n, 4, R, R) f32 on the host: rgb, then the mask.
inline graft::Tensor decoded_to_host(nn_cuda::Context& c, const nn_cuda::DeviceTensor& decoded) {
  const graft::Shape& s = decoded.shape;
  graft::check(s.rank == 4, "decoded_to_host: a decoder's output is (n, C, R, R), got ", s);
  const std::int64_t n = s[0], pixels = s[2] * s[3];
  graft::cuda::DeviceBuffer<float> planes(std::size_t(decoded.numel()), c.stream);
  graft::cuda::transpose(decoded.buffer.data(), planes.data(), n, pixels, s[1], c.stream);  // (n, R R, 4) -> (n, 4, R R)
  graft::Tensor host(s);
  planes.copy_to_host(host.data());
  return host;
}

}  // namespace faceswap::cuda
