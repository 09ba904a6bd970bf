// comm::Mpi and DataParallel over it; run by ctest under mpirun with 2 and 4
// processes (each process runs every test case; the collectives pair up
// because doctest runs the cases in the same order everywhere).
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <numeric>
#include <string_view>

#include "ddp_training.hpp"
#include "graft/comm/compressed.hpp"
#include "graft/comm/mpi.hpp"
#include "random_fill.hpp"

using namespace graft;
using namespace graft::testing::ddp_training;

namespace {

comm::Mpi& world() {
  static comm::Mpi mpi({.timeout = std::chrono::seconds(60)});
  return mpi;
}

std::vector<float> input_of(int rank, std::size_t count) {
  std::vector<float> v(count);
  testing::fill_uniform(v, 40 + static_cast<std::uint64_t>(rank));
  return v;
}

// True on every rank when every rank holds the same bytes as rank 0.
bool same_on_every_rank(std::vector<float> values) {
  auto root = values;
  world().broadcast(std::span(root), 0);
  const int mine = root == values ? 1 : 0;
  const auto all = comm::all_gather_value(world(), mine);
  return std::ranges::count(all, 1) == world().size();
}

}  // namespace

TEST_CASE("Mpi: all_reduce_sum and mean over f32 and bf16, broadcast, all_gather") {
  comm::Mpi& c = world();
  REQUIRE(c.size() >= 2);
  const std::size_t count = 3000;
  std::vector<double> exact(count, 0.0);
  for (int r = 0; r < c.size(); ++r) {
    const auto v = input_of(r, count);
    for (std::size_t i = 0; i < count; ++i) exact[i] += v[i];
  }
  auto x = input_of(c.rank(), count);
  c.all_reduce_sum(std::span(x));
  auto mean = input_of(c.rank(), count);
  c.all_reduce_mean(std::span(mean));
  std::vector<bf16> h(count);
  const auto v = input_of(c.rank(), count);
  for (std::size_t i = 0; i < count; ++i) h[i] = bf16(v[i]);
  c.all_reduce_sum(std::span(h));
  int far = 0;
  for (std::size_t i = 0; i < count; ++i) {
    // MPI may add in any order: a few float roundings of values below 4.
    far += std::abs(x[i] - exact[i]) > 4e-6;
    far += std::abs(mean[i] - exact[i] / c.size()) > 2e-6;
    far += std::abs(static_cast<float>(h[i]) - exact[i]) > 0x1p-8 * (c.size() + std::abs(exact[i]) * 2);
  }
  CHECK(far == 0);
  CHECK(same_on_every_rank(x));

  auto b = input_of(c.rank(), 100);
  c.broadcast(std::span(b), c.size() - 1);
  CHECK(b == input_of(c.size() - 1, 100));
  const auto ranks = comm::all_gather_value(c, c.rank() * 10);
  for (int r = 0; r < c.size(); ++r) CHECK(ranks[static_cast<std::size_t>(r)] == r * 10);
  c.barrier();
}

TEST_CASE("Mpi: local_rank numbers the ranks of each machine 0..local_size-1, as MPI places them") {
  comm::Mpi& c = world();
  // Each rank's machine (by MPI's processor name), local rank and local size.
  struct Place {
    std::array<char, MPI_MAX_PROCESSOR_NAME> machine{};
    int local_rank = -1, local_size = -1;
  } mine;
  int length = 0;
  MPI_Get_processor_name(mine.machine.data(), &length);
  mine.local_rank = c.local_rank();
  mine.local_size = c.local_size();
  const auto all = comm::all_gather_value(c, mine);
  for (const Place& place : all) {
    std::vector<int> local_ranks;
    for (const Place& other : all)
      if (std::string_view(other.machine.data()) == std::string_view(place.machine.data())) {
        CHECK(other.local_size == place.local_size);
        local_ranks.push_back(other.local_rank);
      }
    std::ranges::sort(local_ranks);
    std::vector<int> expected(local_ranks.size());
    std::iota(expected.begin(), expected.end(), 0);
    CHECK(local_ranks == expected);
    CHECK(place.local_size == static_cast<int>(local_ranks.size()));
  }
  // Compressed sees through to the ranks it wraps.
  comm::Compressed<comm::Mpi> compressed(c);
  CHECK(compressed.local_rank() == c.local_rank());
  CHECK(compressed.local_size() == c.local_size());
}

TEST_CASE("Mpi: DataParallel with N processes x B/N samples trains like one rank x B samples") {
  const auto alone = train_alone(steps, batch);  // every process computes the reference itself
  const auto params = train_rank(world(), steps, batch, 1);
  CHECK(same_on_every_rank(params));
  MESSAGE(world().size(), " processes: largest parameter difference from one rank ", max_difference(params, alone));
  CHECK(max_difference(params, alone) <= tolerance);
}

TEST_CASE("Mpi: no_sync accumulation across processes") {
  const auto alone = train_alone(steps, batch);
  const auto params = train_rank(world(), steps, batch, 2);
  CHECK(same_on_every_rank(params));
  CHECK(max_difference(params, alone) <= tolerance);
}

TEST_CASE("Compressed<Mpi>: bf16 gradients stay close to f32 ones") {
  const auto alone = train_alone(steps, batch);
  comm::Compressed<comm::Mpi> wire(world());
  const auto params = train_rank(wire, steps, batch, 1);
  CHECK(same_on_every_rank(params));
  const float difference = max_difference(params, alone);
  MESSAGE("bf16 all-reduce: largest parameter difference ", difference);
  // Gradients lose about 2^-8 of themselves; three SGD steps at lr 0.05 with
  // gradients below 1 move parameters by well under 1e-2 in all, so their
  // difference stays below 1e-3 of that.
  CHECK(difference < 1e-4f);
  CHECK(difference > 1e-8f);  // and it really went through bf16 (the f32 path differs by about 2e-9)
}
