// Tests of graft/loss/mse.hpp: hand-computed values, accumulate-into gradients, shape errors.
#include <doctest/doctest.h>

#include "graft/loss/mse.hpp"
#include "loss_testing.hpp"

using namespace graft;
using namespace graft::loss;
using namespace graft::loss::testing;

namespace {
Tensor from_values(Shape shape, std::initializer_list<float> values) {
  Tensor t(shape);
  std::copy(values.begin(), values.end(), t.data());
  return t;
}
}  // namespace

TEST_CASE("mse of small hand-made tensors matches the hand computation") {
  // Sample 0: differences 1, 0, -2, -0.5 -> (1 + 0 + 4 + 0.25) / 4. Sample 1: -1, 1, 0, 0 -> 2 / 4.
  const Tensor pred = from_values({2, 2, 1, 2}, {1, 2, 3, 4, 0.5f, 0.5f, 0.5f, 0.5f});
  const Tensor target = from_values({2, 2, 1, 2}, {0, 2, 5, 4.5f, 1.5f, -0.5f, 0.5f, 0.5f});
  const LossValue v = mse(pred, target);
  REQUIRE(v.batch() == 2);
  CHECK(v.per_sample[0] == doctest::Approx(1.3125).epsilon(1e-12));
  CHECK(v.per_sample[1] == doctest::Approx(0.5).epsilon(1e-12));
  CHECK(v.mean() == doctest::Approx(0.90625).epsilon(1e-12));
  CHECK(v.sum() == doctest::Approx(1.8125).epsilon(1e-12));

  SUBCASE("backward adds w_b * 2 (p - t) / (C H W) to what dpred holds") {
    Tensor dpred(pred.shape(), 1.0f);
    const std::vector<float> w{3.0f, -1.0f};
    const LossValue again = mse_backward(pred, target, w, dpred);
    CHECK(again.per_sample == v.per_sample);
    const float expected[] = {1 + 1.5f, 1 + 0.0f, 1 - 3.0f, 1 - 0.75f, 1 + 0.5f, 1 - 0.5f, 1, 1};
    for (int i = 0; i < 8; ++i) CHECK(dpred[i] == doctest::Approx(expected[i]).epsilon(1e-6));
  }
  SUBCASE("one shared weight is the same as that weight for every sample") {
    Tensor shared = Tensor::zeros(pred.shape()), per_sample = Tensor::zeros(pred.shape());
    mse_backward(pred, target, 10.0f, shared);
    mse_backward(pred, target, std::vector<float>{10.0f, 10.0f}, per_sample);
    for (int i = 0; i < 8; ++i) CHECK(shared[i] == per_sample[i]);
  }
}

TEST_CASE("mse gradient agrees with finite differences") {
  // MSE is quadratic, so a central difference is exact up to rounding of the
  // float inputs; 1e-4 leaves room for that and nothing else.
  Tensor pred = random_image({3, 2, 7, 9}, 1);
  const Tensor target = random_image({3, 2, 7, 9}, 2);
  const auto report = check_loss_gradient(
      pred, random_weights(3, 3), [&](ConstView p) { return mse(p, target); },
      [&](ConstView p, const std::vector<float>& w, View dp) { return mse_backward(p, target, w, dp); }, 1e-2);
  CHECK(report.gradient.probed > 32);
  CHECK(report.gradient.relative_error < 1e-4);
  CHECK(report.backward_value_error < 1e-12);
}

TEST_CASE("mse rejects mismatched shapes and names both") {
  const Tensor pred = random_image({2, 3, 8, 8}, 4);
  const Tensor target = random_image({2, 3, 8, 9}, 5);
  const std::string message = error_message([&] { mse(pred, target); });
  CHECK(contains(message, "graft::loss::mse"));
  CHECK(contains(message, "(2, 3, 8, 8)"));
  CHECK(contains(message, "(2, 3, 8, 9)"));

  Tensor wrong_grad = Tensor::zeros({2, 3, 8, 9});
  const std::string grad_message = error_message([&] { mse_backward(pred, pred, 1.0f, wrong_grad); });
  CHECK(contains(grad_message, "dpred has shape (2, 3, 8, 9)"));
  CHECK(contains(grad_message, "(2, 3, 8, 8)"));

  Tensor dpred = Tensor::zeros(pred.shape());
  CHECK_THROWS_WITH_AS(mse_backward(pred, pred, std::vector<float>{1.0f, 2.0f, 3.0f}, dpred),
                       doctest::Contains("3 sample weights for pred of shape (2, 3, 8, 8)"), graft::Error);
  const Tensor flat = random_image({2, 192}, 6);
  CHECK_THROWS_WITH_AS(mse(flat, flat), doctest::Contains("expected (B, C, H, W)"), graft::Error);
}
