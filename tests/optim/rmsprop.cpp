// Rmsprop against DeepFaceLab's RMSprop update, written out in double.
#include <doctest/doctest.h>

#include "random_fill.hpp"

#include <cmath>
#include <span>
#include <vector>

#include "graft/core/philox.hpp"
#include "graft/optim/rmsprop.hpp"

namespace {

using graft::testing::fill_uniform;

using graft::optim::Rmsprop;

doctest::Approx close(double expected) { return doctest::Approx(expected).epsilon(1e-5).scale(0.1); }

// Three steps on 37 random weights, each checked against DFL's formulas in double.
void check_three_updates(const Rmsprop::Config& config) {
  constexpr std::size_t n = 37;
  std::vector<float> w(n), g(n);
  fill_uniform(w, 3);
  std::vector<double> expected_w(w.begin(), w.end()), expected_a(n, 0.0);
  const double rho = config.rho, eps = config.eps;

  Rmsprop rmsprop(config);
  const float lrs[] = {0.01f, 0.005f, 0.002f};
  for (int t = 1; t <= 3; ++t) {
    fill_uniform(g, 30 + t);
    const double lr = lrs[t - 1];
    rmsprop.step(w, g, lrs[t - 1]);
    for (std::size_t i = 0; i < n; ++i) {
      expected_a[i] = rho * expected_a[i] + (1.0 - rho) * g[i] * g[i];
      expected_w[i] -= lr * g[i] / (std::sqrt(expected_a[i]) + eps);
    }
    const auto accumulator = rmsprop.state()[0].values;
    for (std::size_t i = 0; i < n; ++i) {
      CHECK(w[i] == close(expected_w[i]));
      CHECK(accumulator[i] == doctest::Approx(expected_a[i]).epsilon(1e-5));
    }
  }
}

}  // namespace

TEST_CASE("Rmsprop: the first three updates follow DeepFaceLab's RMSprop") {
  SUBCASE("defaults") { check_three_updates({}); }
  SUBCASE("other rho and eps") { check_three_updates({.rho = 0.7f, .eps = 1e-4f}); }
}

TEST_CASE("Rmsprop: a worked example") {
  // w = 0.5, lr 0.01, rho 0.9, eps 1e-6; gradients 0.2 then -0.1.
  // step 1: a = 0.1 * 0.04 = 0.004, sqrt(a) = 0.0632456;
  //         w = 0.5 - 0.01 * 0.2 / 0.0632466 = 0.5 - 0.0316223 = 0.4683777
  // step 2: a = 0.9 * 0.004 + 0.1 * 0.01 = 0.0046, sqrt(a) = 0.0678233;
  //         w = 0.4683777 + 0.01 * 0.1 / 0.0678243 = 0.4683777 + 0.0147440 = 0.4831217
  std::vector<float> w{0.5f};
  Rmsprop rmsprop;
  rmsprop.step(w, std::vector<float>{0.2f}, 0.01f);
  CHECK(w[0] == doctest::Approx(0.4683777));
  rmsprop.step(w, std::vector<float>{-0.1f}, 0.01f);
  CHECK(w[0] == doctest::Approx(0.4831217));
}
