// Single-precision GEMM on the CPU, row-major, through oneDNN's sgemm.
//
// C = alpha * op(A) * op(B) + beta * C with op(X) = X or X^T. beta = 1 is how
// Dense accumulates weight gradients when a module runs twice in one step.
#pragma once

#include <cstdint>

namespace graft::cpu {

enum class Transpose : bool { no = false, yes = true };

// op(A) is M x K, op(B) is K x N, C is M x N; all row-major and dense.
void gemm(Transpose trans_a, Transpose trans_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha, const float* a,
          const float* b, float beta, float* c);

// Threads the CPU backend uses (OpenMP); set_threads changes it for the process.
int threads();
void set_threads(int n);

}  // namespace graft::cpu
