// Clipping by the global L2 norm of the flat gradient buffer.
//
// One norm over every gradient of the model, as DeepFaceLab's clipnorm and
// torch.nn.utils.clip_grad_norm_ compute it, rather than one per tensor: the
// direction of the update is kept and only its length is bounded. The sum of
// squares is accumulated in double, since a 57M-element float sum loses the
// small gradients. Under DDP it runs after the all-reduce, on the averaged
// gradients, so every rank scales by the same factor.
#pragma once

#include <cmath>
#include <cstdint>
#include <span>

#include "graft/core/error.hpp"

namespace graft::optim {

inline double global_norm(std::span<const float> grads) {
  const float* g = grads.data();
  const auto n = static_cast<std::int64_t>(grads.size());
  double sum = 0.0;
#pragma omp parallel for simd schedule(static) reduction(+ : sum)
  for (std::int64_t i = 0; i < n; ++i) sum += static_cast<double>(g[i]) * static_cast<double>(g[i]);
  return std::sqrt(sum);
}

// Scales the gradients by max_norm / norm where the norm exceeds max_norm and
// returns the norm before clipping (a NaN or infinite norm is returned as is,
// with the gradients untouched, for the caller to skip the step).
inline double clip_by_global_norm(std::span<float> grads, double max_norm) {
  check(max_norm > 0.0, "optim::clip_by_global_norm: max_norm must be > 0, got ", max_norm);
  const double norm = global_norm(grads);
  if (!(norm > max_norm) || !std::isfinite(norm)) return norm;
  const auto scale = static_cast<float>(max_norm / norm);
  float* g = grads.data();
  const auto n = static_cast<std::int64_t>(grads.size());
#pragma omp parallel for simd schedule(static)
  for (std::int64_t i = 0; i < n; ++i) g[i] *= scale;
  return norm;
}

}  // namespace graft::optim
