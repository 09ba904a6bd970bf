// AdaBelief against DeepFaceLab's AdaBelief update, written out in double.
#include <doctest/doctest.h>

#include "random_fill.hpp"

#include <cmath>
#include <span>
#include <vector>

#include "graft/core/philox.hpp"
#include "graft/optim/adabelief.hpp"

namespace {

using graft::testing::fill_uniform;

using graft::optim::AdaBelief;

doctest::Approx close(double expected) { return doctest::Approx(expected).epsilon(1e-5).scale(0.1); }

// Three steps on 37 random weights, each checked against DFL's formulas in double.
void check_three_updates(const AdaBelief::Config& config) {
  constexpr std::size_t n = 37;
  std::vector<float> w(n), g(n);
  fill_uniform(w, 4);
  std::vector<double> expected_w(w.begin(), w.end()), expected_m(n, 0.0), expected_v(n, 0.0);
  const double beta1 = config.beta1, beta2 = config.beta2, eps = config.eps;

  AdaBelief adabelief(config);
  const float lrs[] = {0.01f, 0.005f, 0.002f};
  for (int t = 1; t <= 3; ++t) {
    fill_uniform(g, 40 + t);
    const double lr = lrs[t - 1];
    adabelief.step(w, g, lrs[t - 1]);
    // No bias correction; the deviation is from the updated mean; eps outside the root.
    for (std::size_t i = 0; i < n; ++i) {
      expected_m[i] = beta1 * expected_m[i] + (1.0 - beta1) * g[i];
      const double deviation = g[i] - expected_m[i];
      expected_v[i] = beta2 * expected_v[i] + (1.0 - beta2) * deviation * deviation;
      expected_w[i] -= lr * expected_m[i] / (std::sqrt(expected_v[i]) + eps);
    }
    const auto state = adabelief.state();
    for (std::size_t i = 0; i < n; ++i) {
      CHECK(w[i] == close(expected_w[i]));
      CHECK(state[0].values[i] == close(expected_m[i]));
      CHECK(state[1].values[i] == doctest::Approx(expected_v[i]).epsilon(1e-4));
    }
  }
}

}  // namespace

TEST_CASE("AdaBelief: the first three updates follow DeepFaceLab's AdaBelief") {
  SUBCASE("defaults") { check_three_updates({}); }
  SUBCASE("other betas and eps") { check_three_updates({.beta1 = 0.8f, .beta2 = 0.99f, .eps = 1e-4f}); }
}

TEST_CASE("AdaBelief: a worked example") {
  // w = 0.5, lr 0.01, beta1 0.9, beta2 0.999, eps 1e-6; gradients 0.2 then -0.1.
  // step 1: m = 0.02, v = 0.001 * (0.2 - 0.02)^2 = 3.24e-5, sqrt(v) = 0.0056921;
  //         w = 0.5 - 0.01 * 0.02 / 0.0056931 = 0.5 - 0.0351302 = 0.4648698
  // step 2: m = 0.9 * 0.02 + 0.1 * -0.1 = 0.008, v = 0.999 * 3.24e-5 + 0.001 * (-0.108)^2 = 4.40316e-5,
  //         sqrt(v) = 0.0066356; w = 0.4648698 - 0.01 * 0.008 / 0.0066366 = 0.4648698 - 0.0120543 = 0.4528154
  std::vector<float> w{0.5f};
  AdaBelief adabelief;
  CHECK(adabelief.config().lr == 5e-5f);
  adabelief.step(w, std::vector<float>{0.2f}, 0.01f);
  CHECK(w[0] == doctest::Approx(0.4648698));
  adabelief.step(w, std::vector<float>{-0.1f}, 0.01f);
  CHECK(w[0] == doctest::Approx(0.4528154));
}
