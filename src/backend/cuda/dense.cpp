#include "graft/backend/cuda/dense.hpp"

#include <cublasLt.h>

#include <map>
#include <mutex>
#include <tuple>

#include "graft/backend/cuda/check.hpp"
#include "graft/backend/cuda/memory.hpp"

namespace graft::cuda {
namespace {

// cublasGetStatusName lives in libcublas, which graft does not otherwise need.
const char* status_name(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    default: return "cuBLAS error";
  }
}

void check_cublas(cublasStatus_t status, const char* call, std::source_location at = std::source_location::current()) {
  if (status != CUBLAS_STATUS_SUCCESS) fail(call, ": ", status_name(status), " (", int(status), ") at ", where(at));
}

constexpr std::size_t workspace_bytes = 32 << 20;  // what cuBLAS recommends for Hopper

// The largest power of two, up to 256, that divides the address.
std::uint32_t alignment(const void* p) {
  const auto address = reinterpret_cast<std::uintptr_t>(p);
  std::uint32_t a = 256;
  while (a > 1 && address % a != 0) a /= 2;
  return a;
}

enum class Kind { forward, forward_bias, backward_data, backward_weights };

// One matmul D = op(A) op(B) (+ C) in cuBLASLt's column-major terms, with its chosen algorithm.
struct Plan {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
  float beta = 0.0f;

  Plan() = default;
  Plan(const Plan&) = delete;
  Plan(Plan&& o) noexcept : op(o.op), a(o.a), b(o.b), c(o.c), algo(o.algo), beta(o.beta) { o.op = nullptr, o.a = o.b = o.c = nullptr; }
  ~Plan() {
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (c) cublasLtMatrixLayoutDestroy(c);
    if (op) cublasLtMatmulDescDestroy(op);
  }
};

}  // namespace

struct CublasLt::Impl {
  cublasLtHandle_t handle = nullptr;
  DeviceBuffer<std::byte> workspace;
  // Keyed by the operands' alignments too: cuBLASLt picks algorithms for the alignment it is promised.
  std::map<std::tuple<Kind, std::int64_t, std::int64_t, std::int64_t, std::uint32_t, std::uint32_t, std::uint32_t>, Plan> plans;
  std::mutex mutex;

  // m x n = op(A: k x m or m x k) op(B); column-major, leading dimensions as stored.
  Plan& plan(Kind kind, const DenseShape& s, const void* a_ptr, const void* b_ptr, const void* d_ptr) {
    const std::uint32_t align_a = alignment(a_ptr), align_b = alignment(b_ptr), align_d = alignment(d_ptr);
    const auto key = std::make_tuple(kind, s.batch, s.in_features, s.out_features, align_a, align_b, align_d);
    if (auto it = plans.find(key); it != plans.end()) return it->second;
    const std::int64_t N = s.batch, In = s.in_features, Out = s.out_features;
    // Row-major x (N, In) is column-major In x N; w (Out, In) is In x Out; y (N, Out) is Out x N.
    cublasOperation_t ta = CUBLAS_OP_N, tb = CUBLAS_OP_N;
    std::int64_t a_rows, a_cols, b_rows, b_cols, m, n;
    cudaDataType_t out_type = CUDA_R_16BF;
    Plan p;
    switch (kind) {
      case Kind::forward:
      case Kind::forward_bias:  // y^T (Out x N) = w (In x Out)^T x^T (In x N)
        ta = CUBLAS_OP_T, a_rows = In, a_cols = Out, b_rows = In, b_cols = N, m = Out, n = N;
        break;
      case Kind::backward_data:  // dx^T (In x N) = w (In x Out) dy^T (Out x N)
        a_rows = In, a_cols = Out, b_rows = Out, b_cols = N, m = In, n = N;
        break;
      case Kind::backward_weights:  // dw^T (In x Out) += x^T (In x N) (dy^T (Out x N))^T
        tb = CUBLAS_OP_T, a_rows = In, a_cols = N, b_rows = Out, b_cols = N, m = In, n = Out;
        out_type = CUDA_R_32F;
        p.beta = 1.0f;
        break;
    }
    check_cublas(cublasLtMatmulDescCreate(&p.op, CUBLAS_COMPUTE_32F, CUDA_R_32F), "cublasLtMatmulDescCreate");
    check_cublas(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta), "cublasLtMatmulDescSetAttribute (TRANSA)");
    check_cublas(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb), "cublasLtMatmulDescSetAttribute (TRANSB)");
    if (kind == Kind::forward_bias) {
      const cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
      const cudaDataType_t bias_type = CUDA_R_16BF;
      check_cublas(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof epilogue),
                   "cublasLtMatmulDescSetAttribute (EPILOGUE_BIAS)");
      check_cublas(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type, sizeof bias_type),
                   "cublasLtMatmulDescSetAttribute (BIAS_DATA_TYPE)");
    }
    check_cublas(cublasLtMatrixLayoutCreate(&p.a, CUDA_R_16BF, std::uint64_t(a_rows), std::uint64_t(a_cols), a_rows), "cublasLtMatrixLayoutCreate (A)");
    check_cublas(cublasLtMatrixLayoutCreate(&p.b, CUDA_R_16BF, std::uint64_t(b_rows), std::uint64_t(b_cols), b_rows), "cublasLtMatrixLayoutCreate (B)");
    check_cublas(cublasLtMatrixLayoutCreate(&p.c, out_type, std::uint64_t(m), std::uint64_t(n), m), "cublasLtMatrixLayoutCreate (C, D)");
    cublasLtMatmulPreference_t preference = nullptr;
    check_cublas(cublasLtMatmulPreferenceCreate(&preference), "cublasLtMatmulPreferenceCreate");
    const std::size_t limit = workspace_bytes;
    check_cublas(cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &limit, sizeof limit),
                 "cublasLtMatmulPreferenceSetAttribute");
    // Weights sit at any offset of the flat buffer: promise only the alignment the pointers have.
    for (const auto& [attribute, value] : {std::pair{CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, align_a},
                                           std::pair{CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, align_b},
                                           std::pair{CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, align_d},
                                           std::pair{CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, align_d}})
      check_cublas(cublasLtMatmulPreferenceSetAttribute(preference, attribute, &value, sizeof value),
                   "cublasLtMatmulPreferenceSetAttribute (alignment)");
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    const cublasStatus_t status = cublasLtMatmulAlgoGetHeuristic(handle, p.op, p.a, p.b, p.c, p.c, preference, 1, &result, &found);
    cublasLtMatmulPreferenceDestroy(preference);
    check_cublas(status, "cublasLtMatmulAlgoGetHeuristic");
    graft::check(found > 0, "cuBLASLt: no algorithm for the dense layer of batch ", N, ", ", In, " -> ", Out, " features");
    p.algo = result.algo;
    return plans.emplace(key, std::move(p)).first->second;
  }

  void run(Plan& p, const void* a, const void* b, void* d, const bf16* bias, cudaStream_t stream) {
    if (bias)
      check_cublas(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias),
                   "cublasLtMatmulDescSetAttribute (BIAS_POINTER)");
    if (workspace.size() < workspace_bytes) workspace = DeviceBuffer<std::byte>(workspace_bytes, stream);
    const float alpha = 1.0f;
    check_cublas(cublasLtMatmul(handle, p.op, &alpha, a, p.a, b, p.b, &p.beta, d, p.c, d, p.c, &p.algo, workspace.data(),
                                workspace_bytes, stream),
                 "cublasLtMatmul");
  }
};

CublasLt::CublasLt() : impl_(std::make_unique<Impl>()) { check_cublas(cublasLtCreate(&impl_->handle), "cublasLtCreate"); }

CublasLt::~CublasLt() {
  impl_->plans.clear();
  impl_->workspace = {};
  if (impl_->handle) cublasLtDestroy(impl_->handle);
}

void CublasLt::dense_forward(const DenseShape& s, const bf16* x, const bf16* w, const bf16* bias, bf16* y, cudaStream_t stream) {
  std::lock_guard lock(impl_->mutex);
  Plan& p = impl_->plan(bias ? Kind::forward_bias : Kind::forward, s, w, x, y);
  impl_->run(p, w, x, y, bias, stream);
}

void CublasLt::dense_backward_data(const DenseShape& s, const bf16* dy, const bf16* w, bf16* dx, cudaStream_t stream) {
  std::lock_guard lock(impl_->mutex);
  impl_->run(impl_->plan(Kind::backward_data, s, w, dy, dx), w, dy, dx, nullptr, stream);
}

void CublasLt::dense_backward_weights(const DenseShape& s, const bf16* x, const bf16* dy, float* dw, cudaStream_t stream) {
  std::lock_guard lock(impl_->mutex);
  impl_->run(impl_->plan(Kind::backward_weights, s, x, dy, dw), x, dy, dw, nullptr, stream);
}

}  // namespace graft::cuda
