// The autoencoder example learns, and a seed fixes every bit of the run.
#include <doctest/doctest.h>

#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <numeric>

#include <graft/comm/threads.hpp>

#include "../../examples/autoencoder/autoencoder.hpp"

namespace {
double mean_of(const std::vector<double>& v, std::size_t first, std::size_t count) {
  return std::accumulate(v.begin() + static_cast<std::ptrdiff_t>(first), v.begin() + static_cast<std::ptrdiff_t>(first + count),
                         0.0) /
         static_cast<double>(count);
}
}  // namespace

TEST_CASE("The autoencoder's loss falls below 0.04 within 250 steps") {
  const auto losses = autoencoder::train({.steps = 250, .batch = 16, .seed = 1});
  const double start = mean_of(losses, 0, 10);
  const double end = mean_of(losses, losses.size() - 25, 25);
  INFO("mean loss of the first 10 steps " << start << ", of the last 25 " << end);
  CHECK(end < 0.04);
  CHECK(end < 0.5 * start);
}

TEST_CASE("The same seed gives the same losses to the bit") {
  const autoencoder::Config config{.steps = 30, .batch = 8, .seed = 7};
  const auto a = autoencoder::train(config);
  const auto b = autoencoder::train(config);
  CHECK(a == b);
  const auto c = autoencoder::train({.steps = 30, .batch = 8, .seed = 8});
  CHECK(a != c);
}

TEST_CASE("A bad configuration is one clear error") {
  CHECK_THROWS_WITH_AS(autoencoder::train({.steps = 10, .batch = 0}),
                       doctest::Contains("need steps > 0 and 0 < batch <= dataset size"), graft::Error);
}

TEST_CASE("Resuming from a checkpoint continues the run exactly") {
  const auto dir = std::filesystem::temp_directory_path() / ("graft-autoencoder-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto whole = autoencoder::train({.steps = 40, .batch = 8, .seed = 3, .checkpoint = dir / "whole.safetensors"});
  const auto first = autoencoder::train({.steps = 25, .batch = 8, .seed = 3, .checkpoint = dir / "half.safetensors"});
  const auto rest = autoencoder::train(
      {.steps = 40, .batch = 8, .seed = 3, .checkpoint = dir / "resumed.safetensors", .resume = dir / "half.safetensors"});
  REQUIRE(rest.size() == 15);
  CHECK(std::equal(rest.begin(), rest.end(), whole.begin() + 25));

  // Same parameters and optimizer state, bit for bit: the two files are identical.
  auto bytes = [](const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  CHECK(bytes(dir / "whole.safetensors") == bytes(dir / "resumed.safetensors"));

  CHECK_THROWS_WITH_AS(autoencoder::train({.steps = 20, .batch = 8, .seed = 3, .resume = dir / "half.safetensors"}),
                       doctest::Contains("already at step 25"), graft::Error);
  std::filesystem::remove_all(dir);
}

TEST_CASE("Resuming refuses other data settings and keeps the checkpoint") {
  const auto dir = std::filesystem::temp_directory_path() / ("graft-autoencoder-settings-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto saved = dir / "run.safetensors";
  autoencoder::train({.steps = 5, .batch = 8, .seed = 3, .checkpoint = saved});
  CHECK_THROWS_WITH_AS(autoencoder::train({.steps = 10, .batch = 8, .seed = 4, .checkpoint = saved, .resume = saved}),
                       doctest::Contains("was saved with seed 3, this one asks for 4"), graft::Error);
  CHECK(autoencoder::train({.steps = 10, .batch = 8, .seed = 3, .resume = saved}).size() == 5);
  std::filesystem::remove_all(dir);
}

TEST_CASE("The autoencoder on 2 and 4 thread ranks sees the same images and learns the same") {
  const autoencoder::Config config{.steps = 30, .batch = 16, .seed = 5};
  const auto one = autoencoder::train(config);
  for (int ranks : {2, 4}) {
    std::vector<double> losses;
    graft::comm::run_threads(ranks, [&](graft::comm::Threads& comm) {
      auto mine = autoencoder::train(config, comm);
      if (comm.rank() == 0) losses = std::move(mine);
    });
    REQUIRE(losses.size() == one.size());
    // Only the order of float additions differs; Adam magnifies it slowly.
    CHECK(losses[0] == doctest::Approx(one[0]).epsilon(1e-6));
    for (std::size_t s = 0; s < losses.size(); ++s) CHECK(losses[s] == doctest::Approx(one[s]).epsilon(1e-3));
  }
  CHECK_THROWS_WITH_AS(graft::comm::run_threads(3, [&](graft::comm::Threads& comm) { autoencoder::train(config, comm); }),
                       doctest::Contains("the batch of 16 images does not split evenly over 3 ranks"), graft::Error);
}
