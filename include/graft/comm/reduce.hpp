// The element-wise reduction every host communicator shares.
//
// bf16 values are summed in f32 and rounded once at the end, so a bf16
// all-reduce loses no more than one rounding per element whatever the rank
// count. The ranks are added in rank order, which makes the result
// independent of which rank or thread does the work.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <span>

#include "graft/core/dtype.hpp"

namespace graft::comm {

// For i in [lo, hi): every buffers[r][i] = (sum over r of buffers[r][i]) / divisor.
template <class T>
void sum_across(std::span<T* const> buffers, std::size_t lo, std::size_t hi, int divisor = 1) {
  constexpr std::size_t tile = 1024;
  std::array<float, tile> acc;
  for (std::size_t at = lo; at < hi; at += tile) {
    const std::size_t n = std::min(tile, hi - at);
    for (std::size_t i = 0; i < n; ++i) acc[i] = static_cast<float>(buffers[0][at + i]);
    for (std::size_t r = 1; r < buffers.size(); ++r)
      for (std::size_t i = 0; i < n; ++i) acc[i] += static_cast<float>(buffers[r][at + i]);
    if (divisor != 1)
      for (std::size_t i = 0; i < n; ++i) acc[i] /= static_cast<float>(divisor);
    for (T* b : buffers)
      for (std::size_t i = 0; i < n; ++i) b[at + i] = static_cast<T>(acc[i]);
  }
}

// inout[i] = in[i] + inout[i] over bf16 with one rounding (MPI's user-defined operation).
inline void add_bf16(const bf16* in, bf16* inout, std::size_t count) {
  for (std::size_t i = 0; i < count; ++i) inout[i] = bf16(static_cast<float>(in[i]) + static_cast<float>(inout[i]));
}

}  // namespace graft::comm
