// DistributedSampler: every sample once per epoch across ranks, orders that change with the epoch and repeat with the seed.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>

#include "graft/ddp/distributed_sampler.hpp"

using namespace graft;

namespace {

std::vector<std::vector<std::int64_t>> deal(std::int64_t size, int ranks, std::uint64_t epoch, ddp::SamplerOptions options) {
  std::vector<std::vector<std::int64_t>> out;
  for (int r = 0; r < ranks; ++r) out.push_back(ddp::DistributedSampler(size, ranks, r, options).indices(epoch));
  return out;
}

}  // namespace

TEST_CASE("DistributedSampler: every sample exactly once per epoch across ranks when the size divides") {
  for (int ranks : {1, 2, 3, 4}) {
    const std::int64_t size = 12 * 5;
    for (std::uint64_t epoch : {0u, 1u, 17u}) {
      const auto dealt = deal(size, ranks, epoch, {.seed = 3});
      std::vector<std::int64_t> all;
      for (const auto& mine : dealt) {
        CHECK(static_cast<std::int64_t>(mine.size()) == size / ranks);
        all.insert(all.end(), mine.begin(), mine.end());
      }
      std::ranges::sort(all);
      std::vector<std::int64_t> expected(static_cast<std::size_t>(size));
      std::iota(expected.begin(), expected.end(), 0);
      CHECK(all == expected);
    }
  }
}

TEST_CASE("DistributedSampler: pad repeats the fewest samples, drop leaves out the fewest") {
  const std::int64_t size = 10;
  const int ranks = 4;
  std::map<std::int64_t, int> seen;
  for (const auto& mine : deal(size, ranks, 2, {.seed = 5, .remainder = ddp::Remainder::pad})) {
    CHECK(mine.size() == 3u);
    for (auto i : mine) ++seen[i];
  }
  CHECK(seen.size() == 10u);  // every sample, two of them twice
  int twice = 0;
  for (const auto& [index, count] : seen) twice += count == 2;
  CHECK(twice == 2);

  seen.clear();
  for (const auto& mine : deal(size, ranks, 2, {.seed = 5, .remainder = ddp::Remainder::drop})) {
    CHECK(mine.size() == 2u);
    for (auto i : mine) ++seen[i];
  }
  CHECK(seen.size() == 8u);  // 8 distinct samples, none twice
  for (const auto& [index, count] : seen) CHECK(count == 1);
}

TEST_CASE("DistributedSampler: orders differ across epochs and repeat for the same seed") {
  const ddp::DistributedSampler a(1000, 2, 1, {.seed = 11});
  const ddp::DistributedSampler b(1000, 2, 1, {.seed = 11});
  const ddp::DistributedSampler other_seed(1000, 2, 1, {.seed = 12});
  CHECK(a.indices(0) == b.indices(0));
  CHECK(a.indices(5) == b.indices(5));
  CHECK(a.indices(0) != a.indices(1));
  CHECK(a.indices(0) != other_seed.indices(0));
  // A real shuffle: not the identity, and each position is uniform enough
  // that the first 100 of 1000 are not mostly small indices.
  const auto order = a.permutation(3);
  std::int64_t small = std::ranges::count_if(order.begin(), order.begin() + 100, [](std::int64_t i) { return i < 500; });
  CHECK(small > 30);
  CHECK(small < 70);
  const ddp::DistributedSampler in_order(10, 2, 0, {.shuffle = false});
  CHECK(in_order.indices(4) == std::vector<std::int64_t>{0, 2, 4, 6, 8});
}

TEST_CASE("DistributedSampler: bad arguments are named") {
  CHECK_THROWS_WITH_AS(ddp::DistributedSampler(10, 2, 2), doctest::Contains("rank 2 of 2 does not exist"), Error);
  CHECK_THROWS_WITH_AS(ddp::DistributedSampler(3, 4, 0), doctest::Contains("3 samples cannot be shared by 4 ranks"), Error);
}
