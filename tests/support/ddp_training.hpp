// Training the tiny SAEHD-df-shaped model with and without DataParallel, for
// the equivalence tests over comm::Threads (tests/ddp) and comm::Mpi (tests/mpi).
#pragma once

#include <algorithm>
#include <cmath>
#include <span>
#include <vector>

#include "graft/ddp/data_parallel.hpp"
#include "graft/optim/sgd.hpp"
#include "tiny_df.hpp"

namespace graft::testing::ddp_training {

namespace tiny_df = testing::tiny_df;
using Model = tiny_df::Model;

// Small buckets, so that the tiny model has many (about ten).
constexpr ddp::DataParallelOptions small_buckets{.buckets = {.first_bytes = 4 << 10, .bytes = 16 << 10}};
constexpr float lr = 0.05f;
constexpr std::uint64_t seed = 7;

inline std::vector<float> copy_of(std::span<const float> s) { return {s.begin(), s.end()}; }

// Samples of step `step`, this rank's `micro`-th micro-batch of `count`.
struct Slice {
  std::int64_t first, count;
};
inline Slice slice_of(int step, int batch, int ranks, int rank, int micro_steps, int micro) {
  const int per_rank = batch / ranks, per_micro = per_rank / micro_steps;
  return {std::int64_t{step} * batch + rank * per_rank + micro * per_micro, per_micro};
}

inline double run_slice(Model& m, Slice s) {
  return tiny_df::forward_backward(m, tiny_df::images(0, s.first, s.count), tiny_df::images(1, s.first, s.count));
}

// One rank, the whole batch, no DataParallel.
inline std::vector<float> train_alone(int steps, int batch) {
  Model m(seed);
  optim::Sgd opt({.lr = lr});
  for (int s = 0; s < steps; ++s) {
    m.zero_gradients();
    run_slice(m, slice_of(s, batch, 1, 0, 1, 0));
    opt.step(m.parameter_buffer(), m.gradient_buffer(), lr);
  }
  return copy_of(m.parameter_buffer());
}

// One DataParallel step loop on communicator c; ranks other than 0 start from
// other weights, which the construction broadcast must replace.
template <class Comm>
std::vector<float> train_rank(Comm& c, int steps, int batch, int micro_steps) {
  Model m(c.rank() == 0 ? seed : seed + 100 + static_cast<std::uint64_t>(c.rank()));
  ddp::DataParallel dp(m, c, small_buckets);
  optim::Sgd opt({.lr = lr});
  for (int s = 0; s < steps; ++s) {
    m.zero_gradients();
    for (int k = 0; k + 1 < micro_steps; ++k)
      dp.no_sync([&] { run_slice(m, slice_of(s, batch, c.size(), c.rank(), micro_steps, k)); });
    dp.forward_backward([&] { run_slice(m, slice_of(s, batch, c.size(), c.rank(), micro_steps, micro_steps - 1)); });
    opt.step(m.parameter_buffer(), m.gradient_buffer(), lr);
  }
  return copy_of(m.parameter_buffer());
}

inline float max_difference(const std::vector<float>& a, const std::vector<float>& b) {
  float worst = a.size() == b.size() ? 0.0f : INFINITY;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i) worst = std::max(worst, std::abs(a[i] - b[i]));
  return worst;
}

// Splitting the batch changes only the order of float additions: per-sample
// gradient contributions summed by oneDNN over B samples, versus over B/N
// samples and then across ranks, and the 1/B scaling applied before versus
// after the sum. Each reordering moves a gradient by a few float ulps of the
// sum of the magnitudes of its terms (about 1e-7 relative); three SGD steps
// at lr 0.05 with momentum 0.9 turn that into parameter differences near
// 1e-9 (measured: 1.9e-9). 1e-6 leaves a wide margin and still catches
// any real error, which moves parameters by lr x gradient, about 1e-3.
constexpr float tolerance = 1e-6f;
constexpr int steps = 3, batch = 8;

}  // namespace graft::testing::ddp_training
