// Elementwise kernels and reductions of the CPU backend, threaded with OpenMP.
//
// These are the memory-bound parts of a step (activations, residual adds,
// gradient accumulation). Each is one pass over contiguous memory; loops are
// written so that the compiler vectorises them. Reductions accumulate in
// double per thread so that their result does not drift with the length of
// the buffer.
#pragma once

#include <cmath>
#include <cstdint>

namespace graft::cpu {

// Below this many elements the fork/join of a parallel region costs more than it saves.
inline constexpr std::int64_t parallel_threshold = 1 << 15;

inline void add(const float* a, const float* b, float* out, std::int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > parallel_threshold)
  for (std::int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

// y += alpha * x
inline void axpy(float alpha, const float* x, float* y, std::int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > parallel_threshold)
  for (std::int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

inline void leaky_relu_forward(const float* x, float* y, std::int64_t n, float slope) {
#pragma omp parallel for simd schedule(static) if (n > parallel_threshold)
  for (std::int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : slope * x[i];
}

// For a positive slope, y > 0 exactly where x > 0, so the output suffices.
inline void leaky_relu_backward(const float* y, const float* dy, float* dx, std::int64_t n, float slope) {
#pragma omp parallel for simd schedule(static) if (n > parallel_threshold)
  for (std::int64_t i = 0; i < n; ++i) dx[i] = y[i] > 0.0f ? dy[i] : slope * dy[i];
}

inline void sigmoid_forward(const float* x, float* y, std::int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > parallel_threshold)
  for (std::int64_t i = 0; i < n; ++i) y[i] = 1.0f / (1.0f + std::exp(-x[i]));
}

inline void sigmoid_backward(const float* y, const float* dy, float* dx, std::int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > parallel_threshold)
  for (std::int64_t i = 0; i < n; ++i) dx[i] = dy[i] * y[i] * (1.0f - y[i]);
}

inline double dot(const float* a, const float* b, std::int64_t n) {
  double total = 0.0;
#pragma omp parallel for reduction(+ : total) schedule(static) if (n > parallel_threshold)
  for (std::int64_t i = 0; i < n; ++i) total += static_cast<double>(a[i]) * b[i];
  return total;
}

inline double sum_of_squares(const float* x, std::int64_t n) { return dot(x, x, n); }

}  // namespace graft::cpu
