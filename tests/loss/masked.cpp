// Tests of the masked losses (graft/loss/masked.hpp and the masked_* forms):
// loss(P*M, T*M) with M broadcast over channels, gradients through the mask,
// and the SAEHD total as a sequence of accumulating calls.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "graft/loss.hpp"
#include "loss_testing.hpp"

using namespace graft;
using namespace graft::loss;
using namespace graft::loss::testing;

namespace {

constexpr Shape image{2, 3, 20, 20};
constexpr Shape mask_shape{2, 1, 20, 20};

// x * m with m broadcast over channels: what DFL feeds its losses.
Tensor apply_mask(const Tensor& x, const Tensor& m) {
  Tensor out(x.shape());
  const std::int64_t channels = x.shape()[1], plane = x.shape()[2] * x.shape()[3];
  for (std::int64_t i = 0; i < x.numel(); ++i) out[i] = x[i] * m[(i / (channels * plane)) * plane + i % plane];
  return out;
}

struct Inputs {
  Tensor pred = random_image(image, 201);
  Tensor target = target_away_from(pred, 202);
  Tensor mask = random_image(mask_shape, 203);
  std::vector<float> weights = random_weights(image[0], 204);
};

void check_values_equal(const LossValue& a, const LossValue& b, double tolerance) {
  REQUIRE(a.batch() == b.batch());
  for (std::size_t i = 0; i < a.per_sample.size(); ++i) CHECK(std::fabs(a.per_sample[i] - b.per_sample[i]) < tolerance);
}

}  // namespace

TEST_CASE("masked losses equal the plain losses of the masked images") {
  const Inputs in;
  const Tensor pm = apply_mask(in.pred, in.mask), tm = apply_mask(in.target, in.mask);
  // Only the rounding of p*m differs: in double inside the pointwise kernel, in float here.
  check_values_equal(masked_mse(in.pred, in.target, in.mask), mse(pm, tm), 1e-7);
  check_values_equal(masked_l1(in.pred, in.target, in.mask), l1(pm, tm), 1e-7);
  check_values_equal(masked_dssim(in.pred, in.target, in.mask, 5), dssim(pm, tm, 5), 1e-9);
}

TEST_CASE("masked gradients agree with finite differences") {
  Inputs in;
  const auto& t = in.target;
  const auto& m = in.mask;
  SUBCASE("masked mse (quadratic: exact up to rounding)") {
    const auto r = check_loss_gradient(
        in.pred, in.weights, [&](ConstView p) { return masked_mse(p, t, m); },
        [&](ConstView p, const std::vector<float>& w, View dp) { return masked_mse_backward(p, t, m, w, dp); }, 1e-2);
    CHECK(r.gradient.relative_error < 1e-4);
    CHECK(r.backward_value_error < 1e-12);
  }
  SUBCASE("masked l1 (piecewise linear, no kink in reach: exact up to rounding)") {
    const auto r = check_loss_gradient(
        in.pred, in.weights, [&](ConstView p) { return masked_l1(p, t, m); },
        [&](ConstView p, const std::vector<float>& w, View dp) { return masked_l1_backward(p, t, m, w, dp); }, 1e-2);
    CHECK(r.gradient.relative_error < 1e-5);
    CHECK(r.backward_value_error < 1e-12);
  }
  SUBCASE("masked dssim, even window (h and bound as for dssim)") {
    const auto r = check_loss_gradient(
        in.pred, in.weights, [&](ConstView p) { return masked_dssim(p, t, m, 8); },
        [&](ConstView p, const std::vector<float>& w, View dp) { return masked_dssim_backward(p, t, m, 8, w, dp); }, 1e-2);
    CHECK(r.gradient.relative_error < 1e-3);
    CHECK(r.backward_value_error < 1e-12);
  }
}

TEST_CASE("pixels outside the mask get no gradient") {
  Inputs in;
  for (std::int64_t i = 0; i < in.mask.numel(); ++i) in.mask[i] = (i % 20) < 10 ? 0.0f : in.mask[i];
  Tensor dpred = Tensor::zeros(image);
  masked_mse_backward(in.pred, in.target, in.mask, 1.0f, dpred);
  masked_l1_backward(in.pred, in.target, in.mask, 1.0f, dpred);
  masked_dssim_backward(in.pred, in.target, in.mask, 5, 1.0f, dpred);
  for (std::int64_t i = 0; i < dpred.numel(); ++i)
    if (i % 20 < 10) CHECK(dpred[i] == 0.0f);
}

TEST_CASE("SAEHD's per-sample total is a sum of accumulating calls") {
  // 10*DSSIM + 10*MSE on the blurred face mask, 300*L1 on the eyes/mouth mask (reference §3.3).
  Inputs in;
  const Tensor eyes_mouth = random_image(mask_shape, 205);
  const auto& t = in.target;
  const auto& m = in.mask;
  auto total = [&](ConstView p) {
    return 10.0 * masked_dssim(p, t, m, 5) + 10.0 * masked_mse(p, t, m) + 300.0 * masked_l1(p, t, eyes_mouth);
  };
  auto total_backward = [&](ConstView p, const std::vector<float>& w, View dp) {
    std::vector<float> w10(w.size()), w300(w.size());
    for (std::size_t b = 0; b < w.size(); ++b) w10[b] = 10.0f * w[b], w300[b] = 300.0f * w[b];
    return 10.0 * masked_dssim_backward(p, t, m, 5, w10, dp) + 10.0 * masked_mse_backward(p, t, m, w10, dp) +
           300.0 * masked_l1_backward(p, t, eyes_mouth, w300, dp);
  };
  // h and bound as for dssim, the noisiest of the three terms.
  const auto r = check_loss_gradient(in.pred, in.weights, total, total_backward, 1e-2);
  CHECK(r.gradient.relative_error < 1e-3);
  CHECK(r.backward_value_error < 1e-9);
}

TEST_CASE("masked losses reject a mask of the wrong shape, naming mask and pred shapes") {
  const Inputs in;
  const Tensor per_channel = random_image(image, 206);
  const Tensor wrong_width = random_image({2, 1, 20, 21}, 207);
  const Tensor wrong_batch = random_image({1, 1, 20, 20}, 208);
  for (const Tensor* mask : {&per_channel, &wrong_width, &wrong_batch}) {
    const std::string shape = to_string(mask->shape());
    const std::string a = error_message([&] { masked_mse(in.pred, in.target, *mask); });
    CHECK(contains(a, "graft::loss::masked_mse: mask has shape " + shape));
    CHECK(contains(a, "expected (2, 1, 20, 20) for pred of shape (2, 3, 20, 20)"));
    CHECK(contains(error_message([&] { masked_l1(in.pred, in.target, *mask); }), "mask has shape " + shape));
    CHECK(contains(error_message([&] { masked_dssim(in.pred, in.target, *mask, 5); }), "mask has shape " + shape));
    Tensor dpred = Tensor::zeros(image);
    CHECK(contains(error_message([&] { masked_dssim_backward(in.pred, in.target, *mask, 5, 1.0f, dpred); }),
                   "mask has shape " + shape));
  }
}

TEST_CASE("masked MSE and L1 float gradients agree with double finite differences of the formulas") {
  const Shape shape{2, 3, 7, 6};
  const Tensor pred = random_image(shape, 201), target = target_away_from(pred, 202), mask = random_image({2, 1, 7, 6}, 203);
  const auto weights = random_weights(2, 204);
  const std::vector<double> t(target.span().begin(), target.span().end()), m(mask.span().begin(), mask.span().end());
  // sum_b w_b mean_{c,h,w} phi((p - t) m), written out in double.
  auto direct = [&](const std::vector<double>& p, auto phi) {
    const std::int64_t per_sample = shape.numel() / 2, plane = 42;
    double s = 0.0;
    for (std::int64_t b = 0; b < 2; ++b) {
      double sample = 0.0;
      for (std::int64_t i = 0; i < per_sample; ++i) {
        const auto at = static_cast<std::size_t>(b * per_sample + i);
        sample += phi((p[at] - t[at]) * m[static_cast<std::size_t>(b * plane + i % plane)]);
      }
      s += weights[static_cast<std::size_t>(b)] * sample / static_cast<double>(per_sample);
    }
    return s;
  };
  auto check_against = [&](auto backward, auto phi) {
    Tensor analytic = Tensor::zeros(shape);
    backward(analytic.view());
    std::vector<double> p(pred.span().begin(), pred.span().end());
    const auto report = graft::testing::check_gradient(
        std::span<double>(p), std::span<const float>(analytic.span()), [&] { return direct(p, phi); }, 64, 1e-6);
    CHECK(report.relative_error < 1e-5);
    CHECK(report.analytic_norm > 0.0);
  };
  check_against([&](View dp) { masked_mse_backward(pred, target, mask, weights, dp); }, [](double d) { return d * d; });
  check_against([&](View dp) { masked_l1_backward(pred, target, mask, weights, dp); }, [](double d) { return std::fabs(d); });
}
