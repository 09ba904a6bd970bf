// The GPUs `faceswap train` and `swap` may use with --backend cuda.
#pragma once

#include <cuda_runtime_api.h>

#include <string>

#include <graft/core/error.hpp>

namespace faceswap::cuda {

// How many GPUs this process can use; throws naming `command` when none.
inline int usable_gpus(const char* command) {
  int devices = 0;
  const cudaError_t counted = cudaGetDeviceCount(&devices);
  graft::check(counted == cudaSuccess && devices > 0, command, ": --backend cuda, but no CUDA GPU is usable here (",
               counted == cudaSuccess ? std::string("none found") : std::string(cudaGetErrorString(counted)), ")");
  return devices;
}

}  // namespace faceswap::cuda
