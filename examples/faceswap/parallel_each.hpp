// parallel_each: f(i) for i < n on several OpenMP threads, for the per-frame
// work of extract and swap (detection, crops, compositing, PNG files).
//
// Frames take uneven time, so the threads take one index at a time. No
// exception may leave an OpenMP region, so each is kept and the first by
// index is rethrown once all have run.
#pragma once

#include <cstddef>
#include <exception>
#include <vector>

namespace faceswap {

template <class F>
void parallel_each(std::size_t n, int threads, const F& f) {
  std::vector<std::exception_ptr> errors(n);
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
  for (std::size_t i = 0; i < n; ++i) {
    try {
      f(i);
    } catch (...) {
      errors[i] = std::current_exception();
    }
  }
  for (const std::exception_ptr& error : errors)
    if (error) std::rethrow_exception(error);
}

}  // namespace faceswap
