// parallel_each (examples/faceswap/parallel_each.hpp): every index runs once
// whatever the thread count, and an exception inside the OpenMP region comes
// out of it as the lowest index's, after all have run.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <stdexcept>
#include <string>
#include <vector>

#include "parallel_each.hpp"

TEST_CASE("parallel_each runs every index once on any number of threads") {
  for (const int threads : {1, 2, 3, 8}) {
    std::vector<int> runs(37, 0);
    faceswap::parallel_each(runs.size(), threads, [&](std::size_t i) { ++runs[i]; });  // each index its own slot
    CHECK(std::count(runs.begin(), runs.end(), 1) == 37);
  }
  faceswap::parallel_each(0, 4, [](std::size_t) { FAIL("no index to run"); });
}

TEST_CASE("parallel_each rethrows the lowest index's exception after every index has run") {
  std::atomic<int> ran{0};
  CHECK_THROWS_WITH_AS(faceswap::parallel_each(20, 3,
                                               [&](std::size_t i) {
                                                 ++ran;
                                                 if (i == 13 || i == 5) throw std::runtime_error("frame " + std::to_string(i));
                                               }),
                       "frame 5", std::runtime_error);
  CHECK(ran == 20);
}
