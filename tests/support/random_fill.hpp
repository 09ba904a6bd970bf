// Random test inputs from Philox: uniform values, never all zeros, the same
// on every machine. Kept apart from gradient_check.hpp so that tests of
// folders below nn/ (core, optim) need not include graft::nn.
#pragma once

#include <cstdint>
#include <span>

#include "graft/core/philox.hpp"

namespace graft::testing {

// Fills `values` with uniform numbers in [low, high) from Philox(seed).
inline void fill_uniform(std::span<float> values, std::uint64_t seed, float low = -1.0f, float high = 1.0f) {
  const Philox rng(seed);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = rng.uniform(low, high, i);
}

}  // namespace graft::testing
