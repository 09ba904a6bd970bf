// Every CUDA runtime call is checked, and a failure names the call, what it
// was asked to do, the error and where in graft it happened: "cudaMalloc
// (256 MiB): out of memory (cudaErrorMemoryAllocation) at memory.cpp:41".
// A failed call is never ignored; kernel launches are checked with
// check_launch() right after them.
#pragma once

#include <cuda_runtime_api.h>

#include <source_location>
#include <string>

#include "graft/core/error.hpp"

namespace graft::cuda {

inline std::string where(const std::source_location& at) {
  std::string file = at.file_name();
  const auto slash = file.find_last_of('/');
  return (slash == std::string::npos ? file : file.substr(slash + 1)) + ":" + std::to_string(at.line());
}

// `call` names the function and, where it helps, its arguments.
inline void check(cudaError_t status, const std::string& call, std::source_location at = std::source_location::current()) {
  if (status != cudaSuccess) {
    // A failed call also sets the runtime's "last error"; clear it, or the next
    // kernel launch's check would report this failure as its own.
    (void)cudaGetLastError();
    fail(call, ": ", cudaGetErrorString(status), " (", cudaGetErrorName(status), ") at ", where(at));
  }
}

// After a kernel launch: a bad configuration shows up here, an error inside
// the kernel at the next synchronising call.
inline void check_launch(const char* kernel, std::source_location at = std::source_location::current()) {
  check(cudaGetLastError(), std::string("launching ") + kernel, at);
}

}  // namespace graft::cuda
