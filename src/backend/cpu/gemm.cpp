// oneDNN implementation of graft/backend/cpu/gemm.hpp.
#include "graft/backend/cpu/gemm.hpp"

#include <omp.h>
#include <dnnl.hpp>

#include "graft/core/error.hpp"

namespace graft::cpu {

void gemm(Transpose trans_a, Transpose trans_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha, const float* a,
          const float* b, float beta, float* c) {
  const std::int64_t lda = trans_a == Transpose::yes ? m : k;
  const std::int64_t ldb = trans_b == Transpose::yes ? k : n;
  const dnnl_status_t status = dnnl_sgemm(trans_a == Transpose::yes ? 'T' : 'N', trans_b == Transpose::yes ? 'T' : 'N', m, n, k,
                                          alpha, a, lda, b, ldb, beta, c, n);
  check(status == dnnl_success, "gemm: dnnl_sgemm failed with status ", static_cast<int>(status), " for M=", m, " N=", n,
        " K=", k);
}

int threads() { return omp_get_max_threads(); }
void set_threads(int n) {
  check(n > 0, "set_threads: thread count must be positive, got ", n);
  omp_set_num_threads(n);
}

}  // namespace graft::cpu
