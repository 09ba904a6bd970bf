// Order statistics of measured times (benchmarks report medians: one slow
// step from a noisy neighbour must not move the result).
#pragma once

#include <algorithm>
#include <cmath>
#include <graft/core/error.hpp>
#include <vector>

namespace graft_bench {

// The q-quantile (0 <= q <= 1) by linear interpolation between order statistics.
inline double percentile(std::vector<double> values, double q) {
  graft::check(!values.empty(), "graft-bench: a percentile of no values");
  std::ranges::sort(values);
  const double position = q * double(values.size() - 1);
  const auto below = std::size_t(std::floor(position));
  const std::size_t above = std::min(below + 1, values.size() - 1);
  return values[below] + (position - double(below)) * (values[above] - values[below]);
}

inline double median(const std::vector<double>& values) { return percentile(values, 0.5); }

}  // namespace graft_bench
