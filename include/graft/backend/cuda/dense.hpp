// Dense layers on the GPU through cuBLASLt: bf16 operands, fp32 accumulation,
// the bias added in the matmul's epilogue (no extra pass over the output).
//
// Row-major, as the CPU's nn::Dense: x (N, In), w (Out, In) (PyTorch's
// layout), y (N, Out). cuBLASLt is column-major; the row-major products are
// the same matrices read transposed, so no copy is made.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>

#include "graft/core/dtype.hpp"

namespace graft::cuda {

struct DenseShape {
  std::int64_t batch, in_features, out_features;
  constexpr bool operator==(const DenseShape&) const = default;
};

// A cuBLASLt handle, its workspace and the plans (layouts, chosen algorithm) per shape: one per thread and GPU.
class CublasLt {
 public:
  CublasLt();
  ~CublasLt();
  CublasLt(const CublasLt&) = delete;
  CublasLt& operator=(const CublasLt&) = delete;

  // y = x w^T + bias (bias may be null), bf16, overwritten.
  void dense_forward(const DenseShape& s, const bf16* x, const bf16* w, const bf16* bias, bf16* y, cudaStream_t stream);
  // dx = dy w, bf16, overwritten.
  void dense_backward_data(const DenseShape& s, const bf16* dy, const bf16* w, bf16* dx, cudaStream_t stream);
  // dw (Out, In) += dy^T x in fp32: the master gradients accumulate (a module used twice adds twice).
  void dense_backward_weights(const DenseShape& s, const bf16* x, const bf16* dy, float* dw, cudaStream_t stream);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace graft::cuda
