// DistributedSampler: which samples of a data set each rank sees in an epoch.
//
// Every epoch the whole index range is shuffled by a Philox permutation keyed
// by (seed, epoch), identically on every rank, and rank r takes positions
// r, r + N, r + 2N, ... So the ranks see disjoint samples, every sample once
// per epoch, in an order that changes with the epoch and repeats with the
// seed. Ranks must take the same number of steps, so when the size does not
// divide by the rank count the tail is either padded with the permutation's
// first samples (Remainder::pad, seen twice that epoch) or dropped
// (Remainder::drop, left out that epoch: a different set each epoch).
#pragma once

#include <cstdint>
#include <numeric>
#include <vector>

#include "graft/core/error.hpp"
#include "graft/core/philox.hpp"

namespace graft::ddp {

enum class Remainder { pad, drop };

struct SamplerOptions {
  std::uint64_t seed = 0;
  Remainder remainder = Remainder::pad;
  bool shuffle = true;
};

class DistributedSampler {
 public:
  DistributedSampler(std::int64_t dataset_size, int ranks, int rank, SamplerOptions options = {})
      : size_(dataset_size), ranks_(ranks), rank_(rank), options_(options) {
    check(ranks > 0 && rank >= 0 && rank < ranks, "ddp::DistributedSampler: rank ", rank, " of ", ranks, " does not exist");
    check(dataset_size >= ranks, "ddp::DistributedSampler: ", dataset_size, " samples cannot be shared by ", ranks,
          " ranks; every rank needs at least one");
  }

  std::int64_t samples_per_rank() const {
    return options_.remainder == Remainder::pad ? (size_ + ranks_ - 1) / ranks_ : size_ / ranks_;
  }

  // The whole data set in the epoch's order, before it is dealt to ranks.
  std::vector<std::int64_t> permutation(std::uint64_t epoch) const {
    std::vector<std::int64_t> order(static_cast<std::size_t>(size_));
    std::iota(order.begin(), order.end(), std::int64_t{0});
    if (!options_.shuffle) return order;
    const Philox rng(options_.seed);
    // Fisher-Yates; position i draws from [0, i] with 64 random bits, so the bias is below 2^-32.
    for (std::int64_t i = size_ - 1; i > 0; --i) {
      const auto u = static_cast<std::uint64_t>(i);
      const std::uint64_t bits = (std::uint64_t{rng.bits(2 * u, epoch)} << 32) | rng.bits(2 * u + 1, epoch);
      std::swap(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(bits % (u + 1))]);
    }
    return order;
  }

  // This rank's samples of `epoch`, in the order to visit them.
  std::vector<std::int64_t> indices(std::uint64_t epoch) const {
    const std::vector<std::int64_t> order = permutation(epoch);
    const std::int64_t per_rank = samples_per_rank();
    std::vector<std::int64_t> mine;
    mine.reserve(static_cast<std::size_t>(per_rank));
    for (std::int64_t k = 0; k < per_rank; ++k) {
      const std::int64_t position = rank_ + k * ranks_;
      mine.push_back(order[static_cast<std::size_t>(position % size_)]);
    }
    return mine;
  }

 private:
  std::int64_t size_;
  int ranks_, rank_;
  SamplerOptions options_;
};

}  // namespace graft::ddp
