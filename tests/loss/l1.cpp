// Tests of graft/loss/l1.hpp: hand-computed values, the subgradient at zero, the gradient check.
#include <doctest/doctest.h>

#include "graft/loss/l1.hpp"
#include "loss_testing.hpp"

using namespace graft;
using namespace graft::loss;
using namespace graft::loss::testing;

TEST_CASE("l1 of a small hand-made tensor matches the hand computation") {
  Tensor pred({1, 1, 2, 2}), target({1, 1, 2, 2});
  const float p[] = {1.0f, 2.0f, 3.0f, 4.0f}, t[] = {0.0f, 2.0f, 5.0f, 4.5f};
  std::copy_n(p, 4, pred.data());
  std::copy_n(t, 4, target.data());
  CHECK(l1(pred, target).per_sample[0] == doctest::Approx((1 + 0 + 2 + 0.5) / 4.0).epsilon(1e-12));

  // w * sign(p - t) / 4, with 0 where p == t.
  Tensor dpred = Tensor::zeros(pred.shape());
  l1_backward(pred, target, 2.0f, dpred);
  CHECK(dpred[0] == 0.5f);
  CHECK(dpred[1] == 0.0f);
  CHECK(dpred[2] == -0.5f);
  CHECK(dpred[3] == -0.5f);
}

TEST_CASE("l1 gradient agrees with finite differences") {
  // |d| is linear away from its kink and the target keeps every probe away
  // from it, so central differences are exact; what remains is the float
  // rounding of the stored gradient (~1e-8), hence 1e-5.
  Tensor pred = random_image({2, 3, 10, 6}, 11);
  const Tensor target = target_away_from(pred, 12);
  const auto report = check_loss_gradient(
      pred, random_weights(2, 13), [&](ConstView p) { return l1(p, target); },
      [&](ConstView p, const std::vector<float>& w, View dp) { return l1_backward(p, target, w, dp); }, 1e-2);
  CHECK(report.gradient.probed > 32);
  CHECK(report.gradient.relative_error < 1e-5);
  CHECK(report.backward_value_error < 1e-12);
}

TEST_CASE("l1 rejects mismatched shapes and names both") {
  const Tensor pred = random_image({2, 3, 8, 8}, 14);
  const Tensor target = random_image({1, 3, 8, 8}, 15);
  const std::string message = error_message([&] { l1(pred, target); });
  CHECK(contains(message, "graft::loss::l1"));
  CHECK(contains(message, "(2, 3, 8, 8)"));
  CHECK(contains(message, "(1, 3, 8, 8)"));
}
