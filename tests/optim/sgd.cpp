// Sgd against torch.optim.SGD's update, written out in double.
#include <doctest/doctest.h>

#include "random_fill.hpp"

#include <span>
#include <vector>

#include "graft/core/philox.hpp"
#include "graft/optim/sgd.hpp"

namespace {

using graft::testing::fill_uniform;

using graft::optim::Sgd;

doctest::Approx close(double expected) { return doctest::Approx(expected).epsilon(1e-5).scale(0.1); }

// Three steps of `config` on 37 random weights (an odd count, so the SIMD
// remainder is covered), each checked against the same formulas in double.
void check_three_updates(const Sgd::Config& config) {
  constexpr std::size_t n = 37;
  std::vector<float> w(n), g(n);
  fill_uniform(w, 1);
  std::vector<double> expected_w(w.begin(), w.end()), expected_b(n, 0.0);
  const double momentum = config.momentum, dampening = config.dampening, decay = config.weight_decay;

  Sgd sgd(config);
  const float lrs[] = {0.1f, 0.05f, 0.02f};
  for (int t = 1; t <= 3; ++t) {
    fill_uniform(g, 10 + t);
    const float lr = lrs[t - 1];
    sgd.step(w, g, lr);
    for (std::size_t i = 0; i < n; ++i) {
      const double d = g[i] + decay * expected_w[i];
      expected_b[i] = t == 1 ? d : momentum * expected_b[i] + (1.0 - dampening) * d;
      const double update = config.nesterov ? d + momentum * expected_b[i] : expected_b[i];
      expected_w[i] -= static_cast<double>(lr) * update;
    }
    const auto buffer = sgd.state()[0].values;
    for (std::size_t i = 0; i < n; ++i) {
      CHECK(w[i] == close(expected_w[i]));
      CHECK(buffer[i] == close(expected_b[i]));
    }
  }
  CHECK(sgd.steps() == 3);
}

}  // namespace

TEST_CASE("Sgd: the first three updates follow PyTorch's SGD") {
  SUBCASE("momentum") { check_three_updates({.momentum = 0.9f}); }
  SUBCASE("momentum, dampening and weight decay") {
    check_three_updates({.momentum = 0.8f, .dampening = 0.3f, .weight_decay = 0.05f});
  }
  SUBCASE("nesterov") { check_three_updates({.momentum = 0.9f, .weight_decay = 0.01f, .nesterov = true}); }
  SUBCASE("no momentum") { check_three_updates({.momentum = 0.0f, .weight_decay = 0.1f}); }
}

TEST_CASE("Sgd: a worked example") {
  // w = 0.5, lr 0.1, momentum 0.9; gradients 0.2 then -0.1.
  // step 1: b = 0.2;                    w = 0.5 - 0.1 * 0.2 = 0.48
  // step 2: b = 0.9 * 0.2 - 0.1 = 0.08; w = 0.48 - 0.1 * 0.08 = 0.472
  // Nesterov, step 1: w = 0.5 - 0.1 * (0.2 + 0.9 * 0.2) = 0.462
  std::vector<float> w{0.5f}, nesterov_w{0.5f};
  Sgd sgd({.momentum = 0.9f}), nesterov({.momentum = 0.9f, .nesterov = true});
  sgd.step(w, std::vector<float>{0.2f}, 0.1f);
  nesterov.step(nesterov_w, std::vector<float>{0.2f}, 0.1f);
  CHECK(w[0] == doctest::Approx(0.48));
  CHECK(nesterov_w[0] == doctest::Approx(0.462));
  sgd.step(w, std::vector<float>{-0.1f}, 0.1f);
  CHECK(w[0] == doctest::Approx(0.472));
}

TEST_CASE("Sgd: nesterov without momentum is a configuration error") {
  CHECK_THROWS_WITH_AS(Sgd({.momentum = 0.0f, .nesterov = true}), doctest::Contains("nesterov"), graft::Error);
}
