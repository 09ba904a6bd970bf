// `faceswap swap --backend cuda`: the trained model's swap path (encoder,
// inter, src decoder) on a GPU, for the swap loop (swap/swapper.hpp) to draw
// its batches of faces with. The parameters go up once, as training's
// previews draw them: bf16 copies, channels-last activations, cuDNN's
// heuristic engines (nothing to tune for a forward pass run a few thousand
// times). Detection, alignment and compositing stay on the CPU's threads.
#pragma once

#include <cuda_runtime_api.h>

#include <string>

#include <graft/backend/cuda/stream.hpp>
#include <graft/core/error.hpp>

#include "cuda/faces_on_device.hpp"
#include "cuda/usable_gpus.hpp"

namespace faceswap::cuda {

template <class Architecture>
class DeviceSwapper {
 public:
  using Model = typename Architecture::Model;

  // The parameters of `host` onto GPU `device` (checked against the GPUs there are).
  DeviceSwapper(const Model& host, int device) : device_(select(device)), model_(host, stream_) {}

  // Aligned dst faces (n, 3, R, R) in [0, 1] to the src decoder's (n, 4, R, R): rgb, then the mask.
  graft::Tensor draw(graft::ConstView faces) {
    graft::cuda::check(cudaSetDevice(device_), "cudaSetDevice");  // the calling thread's GPU is this one's
    nn_cuda::Context c{stream_, cudnn_, blas_};
    const nn_cuda::DeviceTensor x = faces_to_device(c, {faces});
    return decoded_to_host(c, Architecture::swap(c, model_, x.view()));
  }

 private:
  static int select(int device) {
    const int devices = usable_gpus("swap");
    graft::check(device >= 0 && device < devices, "swap: --device ", device, ", this machine has ", devices, " GPU(s)");
    graft::cuda::check(cudaSetDevice(device), "cudaSetDevice(" + std::to_string(device) + ")");
    return device;
  }

  int device_;  // first: the GPU is chosen before anything is made on it
  graft::cuda::Stream stream_;
  graft::cuda::Cudnn cudnn_;
  graft::cuda::CublasLt blas_;
  nn_cuda::DeviceModel<Model> model_;
};

}  // namespace faceswap::cuda
