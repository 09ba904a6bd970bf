// The GPU architecture (df_device_step.hpp, liae_device_step.hpp) of a CPU
// step (train_step.hpp): what `train` and `swap` run with --backend cuda.
#pragma once

#include "cuda/df_device_step.hpp"
#include "cuda/liae_device_step.hpp"

namespace faceswap::cuda {

template <class Step>
struct OnDeviceOf;
template <Options O>
struct OnDeviceOf<DfStep<O>> {
  using type = DfOnDevice<O>;
};
template <Options O>
struct OnDeviceOf<LiaeStep<O>> {
  using type = LiaeOnDevice<O>;
};

}  // namespace faceswap::cuda
