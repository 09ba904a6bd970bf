// What every optimizer shares: resuming from saved state bit for bit, zero
// padding that stays zero, the lr_dropout mask, buffer-size errors and the
// JSON form of the configs.
#include <doctest/doctest.h>

#include "random_fill.hpp"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "graft/core/philox.hpp"
#include "graft/optim.hpp"

namespace {

using graft::testing::fill_uniform;

namespace optim = graft::optim;
using nlohmann::json;

// Each optimizer with its options on, so that every term of its update runs.
template <class O>
O make_optimizer();
template <>
optim::Sgd make_optimizer() {
  return optim::Sgd({.momentum = 0.8f, .weight_decay = 0.01f, .nesterov = true});
}
template <>
optim::Adam make_optimizer() {
  return optim::Adam({.weight_decay = 0.01f});
}
template <>
optim::AdamW make_optimizer() {
  return optim::AdamW({.weight_decay = 0.1f});
}
template <>
optim::Rmsprop make_optimizer() {
  return optim::Rmsprop({.lr_dropout = 0.5f, .lr_dropout_seed = 7});
}
template <>
optim::AdaBelief make_optimizer() {
  return optim::AdaBelief({.lr_dropout = 0.3f, .lr_dropout_seed = 9});
}

constexpr std::size_t size = 1001;

// Step t's gradient and rate, the same for every run of a test.
std::vector<float> gradient(int t) {
  std::vector<float> g(size);
  fill_uniform(g, 100 + static_cast<std::uint64_t>(t));
  return g;
}
float rate(int t) { return 0.01f / static_cast<float>(t); }

template <class O>
void run(O& optimizer, std::vector<float>& w, int first, int last) {
  for (int t = first; t <= last; ++t) optimizer.step(w, gradient(t), rate(t));
}

bool same_bits(std::span<const float> a, std::span<const float> b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

#define GRAFT_ALL_OPTIMIZERS optim::Sgd, optim::Adam, optim::AdamW, optim::Rmsprop, optim::AdaBelief

TEST_CASE_TEMPLATE("Optimizer: state and steps copied into a fresh optimizer resume bit for bit", O, GRAFT_ALL_OPTIMIZERS) {
  std::vector<float> start(size);
  fill_uniform(start, 5);

  auto uninterrupted = make_optimizer<O>();
  std::vector<float> w_uninterrupted = start;
  run(uninterrupted, w_uninterrupted, 1, 5);

  auto first = make_optimizer<O>();
  std::vector<float> w_first = start;
  run(first, w_first, 1, 3);

  // What a checkpoint does: bind, copy every slot, set the step count.
  auto resumed = make_optimizer<O>();
  resumed.bind(size);
  const auto saved = first.state();
  auto restored = resumed.state();
  REQUIRE(saved.size() == restored.size());
  for (std::size_t s = 0; s < saved.size(); ++s) {
    CHECK(restored[s].name == saved[s].name);
    REQUIRE(restored[s].values.size() == size);
    std::copy(saved[s].values.begin(), saved[s].values.end(), restored[s].values.begin());
  }
  resumed.set_steps(first.steps());
  std::vector<float> w_resumed = w_first;

  run(first, w_first, 4, 5);
  run(resumed, w_resumed, 4, 5);
  CHECK(resumed.steps() == 5);
  CHECK(same_bits(w_first, w_uninterrupted));
  CHECK(same_bits(w_resumed, w_uninterrupted));
  for (std::size_t s = 0; s < saved.size(); ++s) CHECK(same_bits(resumed.state()[s].values, uninterrupted.state()[s].values));
}

TEST_CASE_TEMPLATE("Optimizer: the result does not depend on the thread count", O, GRAFT_ALL_OPTIMIZERS) {
  std::vector<float> start(size);
  fill_uniform(start, 6);
  const int threads = omp_get_max_threads();
  auto one_thread = make_optimizer<O>(), three_threads = make_optimizer<O>();
  std::vector<float> w_one = start, w_three = start;
  omp_set_num_threads(1);
  run(one_thread, w_one, 1, 3);
  omp_set_num_threads(3);
  run(three_threads, w_three, 1, 3);
  omp_set_num_threads(threads);
  CHECK(same_bits(w_one, w_three));
}

TEST_CASE_TEMPLATE("Optimizer: zero padding with zero gradients stays exactly zero", O, GRAFT_ALL_OPTIMIZERS) {
  // A model's buffer has zeros between tensors; no optimizer may move them.
  std::vector<float> w(size), g(size);
  fill_uniform(w, 7);
  fill_uniform(g, 8);
  for (std::size_t i = 100; i < 140; ++i) w[i] = g[i] = 0.0f;
  auto optimizer = make_optimizer<O>();
  for (int t = 1; t <= 3; ++t) optimizer.step(w, g, 0.1f);
  for (std::size_t i = 100; i < 140; ++i) CHECK(w[i] == 0.0f);
}

TEST_CASE_TEMPLATE("Optimizer: buffers of the wrong size are errors that give both sizes", O, GRAFT_ALL_OPTIMIZERS) {
  auto optimizer = make_optimizer<O>();
  std::vector<float> w(10), g(9);
  fill_uniform(w, 1);
  fill_uniform(g, 2);
  CHECK_THROWS_WITH_AS(optimizer.step(w, g, 0.1f), doctest::Contains("10 parameters but 9 gradients"), graft::Error);
  optimizer.bind(12);
  CHECK_THROWS_WITH_AS(optimizer.bind(10), doctest::Contains("holds 12 elements"), graft::Error);
  CHECK_THROWS_AS(optimizer.set_steps(-1), graft::Error);
  CHECK(optimizer.state().front().values.size() == 12);
}

TEST_CASE("Optimizer: lr_dropout updates exactly the elements whose Philox draw is below the probability") {
  constexpr std::size_t n = 4099;
  constexpr float keep = 0.3f;
  constexpr std::uint64_t seed = 11;
  std::vector<float> w(n), g(n);
  fill_uniform(w, 12);
  fill_uniform(g, 13);
  const std::vector<float> before = w;
  optim::AdaBelief adabelief({.lr_dropout = keep, .lr_dropout_seed = seed});
  adabelief.step(w, g, 0.01f);
  adabelief.step(w, g, 0.01f);

  // Step t draws Philox(seed).uniform(i, t); an element moves when a draw of step 1 or 2 is below keep.
  const graft::Philox rng(seed);
  std::size_t updated = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const bool kept = rng.uniform(i, 1) < keep || rng.uniform(i, 2) < keep;
    CHECK((w[i] != before[i]) == kept);
    updated += kept;
  }
  // 1 - 0.7^2 = 0.51 of the elements, within four standard deviations.
  CHECK(std::abs(static_cast<double>(updated) / static_cast<double>(n) - 0.51) < 4 * std::sqrt(0.51 * 0.49 / static_cast<double>(n)));
  // The moments are updated everywhere, masked or not.
  const auto state = adabelief.state();  // a range-for over state()[1] would read a destroyed temporary
  for (float v : state[1].values) CHECK(v > 0.0f);
}

TEST_CASE("Optimizer: the Optimizer concept rejects a type without state") {
  static_assert(!optim::Optimizer<optim::Cosine>);
  static_assert(!optim::Optimizer<int>);
}

TEST_CASE("Optimizer configs: JSON round trip") {
  const optim::SgdConfig sgd{.lr = 0.5f, .momentum = 0.7f, .dampening = 0.1f, .weight_decay = 1e-4f, .nesterov = false};
  const optim::AdamConfig<false> adam{.lr = 3e-4f, .beta1 = 0.8f, .beta2 = 0.99f, .eps = 1e-7f, .weight_decay = 0.2f};
  const optim::AdamConfig<true> adamw{.lr = 2e-3f, .weight_decay = 0.05f};
  const optim::RmspropConfig rmsprop{.lr = 2e-4f, .rho = 0.8f, .eps = 1e-5f, .lr_dropout = 0.3f, .lr_dropout_seed = 1234};
  const optim::AdaBeliefConfig adabelief{.lr = 1e-4f, .beta1 = 0.5f, .lr_dropout = 0.25f, .lr_dropout_seed = 99};

  CHECK(json(sgd).get<optim::SgdConfig>() == sgd);
  CHECK(json(adam).get<optim::AdamConfig<false>>() == adam);
  CHECK(json(adamw).get<optim::AdamConfig<true>>() == adamw);
  CHECK(json(rmsprop).get<optim::RmspropConfig>() == rmsprop);
  CHECK(json(adabelief).get<optim::AdaBeliefConfig>() == adabelief);
  // Through text too, and the text shows the numbers a person typed.
  CHECK(json::parse(json(adabelief).dump()).get<optim::AdaBeliefConfig>() == adabelief);
  CHECK(json(optim::AdaBeliefConfig{}).dump() ==
        R"({"beta1":0.9,"beta2":0.999,"eps":1e-06,"lr":5e-05,"lr_dropout":1.0,"lr_dropout_seed":0})");
  // Absent keys keep their defaults.
  CHECK(json{{"lr", 1e-4}}.get<optim::AdamConfig<true>>() == optim::AdamConfig<true>{.lr = 1e-4f});
}

TEST_CASE("Optimizer configs: unknown keys, wrong types and bad values name the key") {
  CHECK_THROWS_WITH_AS(json({{"lr", 1e-4}, {"betta1", 0.9}}).get<optim::AdaBeliefConfig>(),
                       doctest::Contains("unknown key \"betta1\""), graft::Error);
  CHECK_THROWS_WITH_AS(json({{"momentun", 0.9}}).get<optim::SgdConfig>(), doctest::Contains("momentun"), graft::Error);
  CHECK_THROWS_WITH_AS(json({{"beta1", "0.9"}}).get<optim::AdamConfig<false>>(), doctest::Contains("\"beta1\" must be a number"),
                       graft::Error);
  CHECK_THROWS_WITH_AS(json({{"nesterov", 1}}).get<optim::SgdConfig>(), doctest::Contains("\"nesterov\" must be true or false"),
                       graft::Error);
  CHECK_THROWS_WITH_AS(json({{"lr_dropout_seed", -3}}).get<optim::RmspropConfig>(),
                       doctest::Contains("\"lr_dropout_seed\" must be a non-negative integer"), graft::Error);
  CHECK_THROWS_WITH_AS(json({{"beta2", 1.5}}).get<optim::AdaBeliefConfig>(), doctest::Contains("beta2"), graft::Error);
  CHECK_THROWS_WITH_AS(json::array({1, 2}).get<optim::RmspropConfig>(), doctest::Contains("expected a JSON object"),
                       graft::Error);
}
