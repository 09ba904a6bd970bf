// Adam and AdamW against torch.optim.Adam / AdamW, written out in double.
#include <doctest/doctest.h>

#include "random_fill.hpp"

#include <cmath>
#include <span>
#include <vector>

#include "graft/core/philox.hpp"
#include "graft/optim/adam.hpp"

namespace {

using graft::testing::fill_uniform;

using graft::optim::Adam;
using graft::optim::AdamW;

doctest::Approx close(double expected) { return doctest::Approx(expected).epsilon(1e-5).scale(0.1); }

// Three steps on 37 random weights, each checked against PyTorch's formulas in double.
template <class O>
void check_three_updates(const typename O::Config& config, bool decoupled) {
  constexpr std::size_t n = 37;
  std::vector<float> w(n), g(n);
  fill_uniform(w, 2);
  std::vector<double> expected_w(w.begin(), w.end()), expected_m(n, 0.0), expected_v(n, 0.0);
  const double beta1 = config.beta1, beta2 = config.beta2, eps = config.eps, decay = config.weight_decay;

  O adam(config);
  const float lrs[] = {0.1f, 0.05f, 0.02f};
  for (int t = 1; t <= 3; ++t) {
    fill_uniform(g, 20 + t);
    const double lr = lrs[t - 1];
    adam.step(w, g, lrs[t - 1]);
    for (std::size_t i = 0; i < n; ++i) {
      double& wi = expected_w[i];
      double d = g[i];
      if (decoupled)
        wi *= 1.0 - lr * decay;
      else
        d += decay * wi;
      expected_m[i] = beta1 * expected_m[i] + (1.0 - beta1) * d;
      expected_v[i] = beta2 * expected_v[i] + (1.0 - beta2) * d * d;
      const double m_hat = expected_m[i] / (1.0 - std::pow(beta1, t));
      const double v_hat = expected_v[i] / (1.0 - std::pow(beta2, t));
      wi -= lr * m_hat / (std::sqrt(v_hat) + eps);
    }
    const auto state = adam.state();
    REQUIRE(state.size() == 2);
    CHECK(state[0].name == "m");
    CHECK(state[1].name == "v");
    for (std::size_t i = 0; i < n; ++i) {
      CHECK(w[i] == close(expected_w[i]));
      CHECK(state[0].values[i] == close(expected_m[i]));
      CHECK(state[1].values[i] == doctest::Approx(expected_v[i]).epsilon(1e-5));
    }
  }
}

}  // namespace

TEST_CASE("Adam: the first three updates follow PyTorch's Adam") {
  SUBCASE("defaults") { check_three_updates<Adam>({}, false); }
  SUBCASE("other betas, L2 weight decay") {
    check_three_updates<Adam>({.beta1 = 0.8f, .beta2 = 0.95f, .eps = 1e-6f, .weight_decay = 0.1f}, false);
  }
}

TEST_CASE("AdamW: the first three updates follow PyTorch's AdamW") {
  SUBCASE("defaults") { check_three_updates<AdamW>({}, true); }
  SUBCASE("strong decoupled decay") { check_three_updates<AdamW>({.beta1 = 0.85f, .weight_decay = 0.5f}, true); }
}

TEST_CASE("Adam and AdamW: a worked example") {
  // w = 0.5, lr 0.1, defaults; gradients 0.2 then -0.1.
  // step 1: m = 0.02, v = 4e-5; m_hat = 0.02 / 0.1 = 0.2, v_hat = 4e-5 / 0.001 = 0.04;
  //         w = 0.5 - 0.1 * 0.2 / (0.2 + 1e-8) = 0.4 (Adam's first step is lr * sign(g))
  // step 2: m = 0.9 * 0.02 + 0.1 * -0.1 = 0.008, v = 0.999 * 4e-5 + 0.001 * 0.01 = 4.996e-5;
  //         m_hat = 0.008 / 0.19 = 0.0421053, v_hat = 4.996e-5 / 0.001999 = 0.0249925, sqrt = 0.158090;
  //         w = 0.4 - 0.1 * 0.0421053 / 0.158090 = 0.4 - 0.0266337 = 0.3733663
  // AdamW (weight_decay 0.01), step 1: w = 0.5 * (1 - 0.1 * 0.01) - 0.1 = 0.3995
  std::vector<float> w{0.5f}, w_decoupled{0.5f};
  Adam adam;
  AdamW adamw;
  adam.step(w, std::vector<float>{0.2f}, 0.1f);
  adamw.step(w_decoupled, std::vector<float>{0.2f}, 0.1f);
  CHECK(w[0] == doctest::Approx(0.4));
  CHECK(w_decoupled[0] == doctest::Approx(0.3995));
  adam.step(w, std::vector<float>{-0.1f}, 0.1f);
  CHECK(w[0] == doctest::Approx(0.3733663));
}
