// What the layer, optimizer and loss micro benchmarks share: random inputs
// and the byte count that turns a time into a bandwidth.
//
// Inputs come from Philox (tests/support/random_fill.hpp), so every run times
// the same numbers and no kernel gets the easy case of all zeros. Most of
// these kernels are bound by memory, not arithmetic, so the bandwidth they
// reach, against what the machine can copy, says how much is left to gain.
#pragma once

#include <cstdint>

#include <benchmark/benchmark.h>

#include <graft/core/tensor.hpp>

#include "random_fill.hpp"

namespace graft::bench {

// Images per side of a SAEHD step, as in the convolution and step benchmarks.
inline constexpr std::int64_t images_per_side = 8;

// A tensor uniform in [low, high) from Philox(seed).
inline Tensor random_tensor(Shape shape, std::uint64_t seed, float low = -1.0f, float high = 1.0f) {
  Tensor t(shape);
  testing::fill_uniform(t.span(), seed, low, high);
  return t;
}

// Reports `floats` read plus written per iteration as bytes processed.
inline void report_floats_moved(benchmark::State& state, std::int64_t floats) {
  state.SetBytesProcessed(state.iterations() * floats * static_cast<std::int64_t>(sizeof(float)));
}

}  // namespace graft::bench
