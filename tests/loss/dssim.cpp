// Tests of graft/loss/dssim.hpp against a direct double-precision DSSIM, and its gradient.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "graft/loss/dssim.hpp"
#include "loss_testing.hpp"

using namespace graft;
using namespace graft::loss;
using namespace graft::loss::testing;

namespace {

// DFL's nn.dssim written out with no shortcuts: a normalised 2-D window (no
// separability), every moment summed in double, per (b, c) then per sample.
// x and y hold images of `shape` (B, C, H, W) as doubles.
std::vector<double> direct_dssim(const std::vector<double>& x, const std::vector<double>& y, Shape shape, int f,
                                 const DssimOptions& o = {}) {
  const std::int64_t batch = shape[0], channels = shape[1], h = shape[2], w = shape[3];
  std::vector<double> g(static_cast<std::size_t>(f * f));
  double total = 0.0;
  const double centre = (f - 1) / 2.0;
  for (int i = 0; i < f; ++i)
    for (int j = 0; j < f; ++j)
      total += g[static_cast<std::size_t>(i * f + j)] =
          std::exp(-0.5 * ((i - centre) * (i - centre) + (j - centre) * (j - centre)) / (o.sigma * o.sigma));
  for (double& v : g) v /= total;
  const double c1 = std::pow(o.k1 * o.max_val, 2), c2 = std::pow(o.k2 * o.max_val, 2);

  std::vector<double> out(static_cast<std::size_t>(batch), 0.0);
  for (std::int64_t b = 0; b < batch; ++b)
    for (std::int64_t c = 0; c < channels; ++c) {
      const std::int64_t base = (b * channels + c) * h * w;
      double ssim = 0.0;
      for (std::int64_t oy = 0; oy + f <= h; ++oy)
        for (std::int64_t ox = 0; ox + f <= w; ++ox) {
          double mx = 0, my = 0, sq = 0, xy = 0;
          for (int i = 0; i < f; ++i)
            for (int j = 0; j < f; ++j) {
              const double gw = g[static_cast<std::size_t>(i * f + j)];
              const auto at = static_cast<std::size_t>(base + (oy + i) * w + ox + j);
              const double a = x[at], t = y[at];
              mx += gw * a;
              my += gw * t;
              sq += gw * (a * a + t * t);
              xy += gw * a * t;
            }
          const double lum = (2 * mx * my + c1) / (mx * mx + my * my + c1);
          const double cs = (2 * xy - 2 * mx * my + c2) / (sq - (mx * mx + my * my) + c2);
          ssim += lum * cs;
        }
      ssim /= static_cast<double>((h - f + 1) * (w - f + 1));
      out[static_cast<std::size_t>(b)] += (1.0 - ssim) / 2.0 / static_cast<double>(channels);
    }
  return out;
}

std::vector<double> as_doubles(const Tensor& t) { return {t.span().begin(), t.span().end()}; }

std::vector<double> direct_dssim(const Tensor& x, const Tensor& y, int f, const DssimOptions& o = {}) {
  return direct_dssim(as_doubles(x), as_doubles(y), x.shape(), f, o);
}

void check_against_direct(Shape shape, int f, const DssimOptions& options = {}) {
  const Tensor x = random_image(shape, 21 + static_cast<std::uint64_t>(f));
  // A target correlated with x, so that SSIM is far from 0 and both factors matter.
  Tensor y = random_image(shape, 41 + static_cast<std::uint64_t>(f));
  for (std::int64_t i = 0; i < y.numel(); ++i) y[i] = 0.7f * x[i] + 0.3f * y[i];
  const LossValue v = dssim(x, y, f, options);
  const std::vector<double> expected = direct_dssim(x, y, f, options);
  REQUIRE(v.batch() == shape[0]);
  for (std::int64_t b = 0; b < shape[0]; ++b)
    CHECK(std::fabs(v.per_sample[static_cast<std::size_t>(b)] - expected[static_cast<std::size_t>(b)]) < 1e-5);
}

LossGradientReport dssim_gradient(Shape shape, int f, std::uint64_t seed, const DssimOptions& options = {}) {
  Tensor pred = random_image(shape, seed);
  const Tensor target = random_image(shape, seed + 1);
  // The moments are filtered in float, so the loss carries rounding noise
  // that a central difference divides by 2h: the relative error measured
  // here falls from ~5e-4 at h = 1e-3 to ~4e-5 at h = 1e-2, where the O(h^2)
  // truncation of this smooth function is still smaller. Hence h = 1e-2 and
  // a bound of 1e-3.
  return check_loss_gradient(
      pred, random_weights(shape[0], seed + 2), [&](ConstView p) { return dssim(p, target, f, options); },
      [&](ConstView p, const std::vector<float>& w, View dp) { return dssim_backward(p, target, f, w, dp, options); }, 1e-2);
}

}  // namespace

TEST_CASE("dssim forward agrees with a direct double-precision DSSIM") {
  SUBCASE("odd window, as at res 128") { check_against_direct({2, 3, 24, 24}, 11); }
  SUBCASE("even window, centred on a half pixel, as at res 96") { check_against_direct({2, 3, 24, 24}, 8); }
  SUBCASE("non-square image") { check_against_direct({2, 2, 20, 27}, 5); }
  SUBCASE("DFL's largest window (res 640), whose negligible tails are skipped") { check_against_direct({1, 2, 60, 64}, 55); }
  SUBCASE("an even window with skipped tails (res 512)") { check_against_direct({1, 2, 48, 50}, 44); }
  SUBCASE("window as large as the image: a 1x1 map") { check_against_direct({1, 3, 9, 9}, 9); }
  SUBCASE("other sigma, k1, k2 and max_val") {
    check_against_direct({2, 3, 16, 16}, 7, {.sigma = 2.0, .k1 = 0.02, .k2 = 0.05, .max_val = 2.0});
  }
}

TEST_CASE("dssim of identical images is zero") {
  const Tensor x = random_image({2, 3, 24, 24}, 31);
  const LossValue v = dssim(x, x, 11);
  for (double d : v.per_sample) CHECK(std::fabs(d) < 1e-6);
}

TEST_CASE("dssim gradient agrees with finite differences") {
  auto check_report = [](const LossGradientReport& r) {
    CHECK(r.gradient.probed > 32);
    CHECK(r.gradient.analytic_norm > 0.0);
    CHECK(r.gradient.relative_error < 1e-3);
    CHECK(r.backward_value_error < 1e-12);
  };
  SUBCASE("odd window") { check_report(dssim_gradient({2, 3, 24, 24}, 11, 51)); }
  SUBCASE("even window") { check_report(dssim_gradient({2, 3, 24, 24}, 8, 61)); }
  SUBCASE("largest window, tails skipped") { check_report(dssim_gradient({1, 2, 58, 60}, 55, 75)); }
  SUBCASE("non-square, small window") { check_report(dssim_gradient({3, 2, 13, 19}, 5, 71)); }
  SUBCASE("other options") {
    check_report(dssim_gradient({2, 3, 16, 16}, 7, 81, {.sigma = 2.0, .k1 = 0.02, .k2 = 0.05, .max_val = 2.0}));
  }
}

TEST_CASE("dssim's float gradient agrees with double finite differences of the direct DSSIM") {
  // The reference is differenced in double (step 1e-6), so the only error
  // left is the float arithmetic of graft's backward.
  for (const auto& [shape, f] : {std::pair{Shape{2, 3, 20, 20}, 11}, std::pair{Shape{2, 2, 17, 15}, 8}}) {
    const Tensor pred = random_image(shape, 95), target = random_image(shape, 96);
    const auto weights = random_weights(shape[0], 97);
    Tensor analytic = Tensor::zeros(shape);
    dssim_backward(pred, target, f, weights, analytic);
    std::vector<double> p = as_doubles(pred);
    const std::vector<double> t = as_doubles(target);
    const auto report = graft::testing::check_gradient(
        std::span<double>(p), std::span<const float>(analytic.span()),
        [&] {
          const auto v = direct_dssim(p, t, shape, f);
          double s = 0.0;
          for (std::size_t b = 0; b < v.size(); ++b) s += weights[b] * v[b];
          return s;
        },
        64, 1e-6);
    INFO("window " << f << ": relative error " << report.relative_error);
    CHECK(report.relative_error < 1e-4);
    CHECK(report.analytic_norm > 0.0);
  }
}

TEST_CASE("dssim backward accumulates into dpred") {
  const Tensor pred = random_image({2, 3, 16, 16}, 91), target = random_image({2, 3, 16, 16}, 92);
  Tensor once = Tensor::zeros(pred.shape()), twice = Tensor::zeros(pred.shape());
  dssim_backward(pred, target, 5, 1.0f, once);
  dssim_backward(pred, target, 5, 1.0f, twice);
  dssim_backward(pred, target, 5, 1.0f, twice);
  for (std::int64_t i = 0; i < pred.numel(); ++i) CHECK(twice[i] == doctest::Approx(2.0f * once[i]).epsilon(1e-6));
}

TEST_CASE("dssim filter sizes follow DFL's table") {
  const int resolution[] = {64, 96, 128, 160, 192, 224, 256, 320, 384, 448, 512, 640};
  const int first[] = {5, 8, 11, 13, 16, 19, 22, 27, 33, 38, 44, 55};
  const int second[] = {0, 0, 0, 0, 0, 0, 11, 13, 16, 19, 22, 27};
  for (int i = 0; i < 12; ++i) {
    CHECK(dssim_filter_size(resolution[i]) == first[i]);
    if (resolution[i] >= 256) CHECK(dssim_second_filter_size(resolution[i]) == second[i]);
  }
}

TEST_CASE("dssim rejects bad shapes and windows, naming the shapes") {
  const Tensor pred = random_image({2, 3, 8, 8}, 101);
  const Tensor target = random_image({2, 3, 9, 8}, 102);
  const std::string mismatch = error_message([&] { dssim(pred, target, 3); });
  CHECK(contains(mismatch, "graft::loss::dssim"));
  CHECK(contains(mismatch, "(2, 3, 8, 8)"));
  CHECK(contains(mismatch, "(2, 3, 9, 8)"));

  const std::string too_large = error_message([&] { dssim(pred, pred, 11); });
  CHECK(contains(too_large, "filter_size 11"));
  CHECK(contains(too_large, "(2, 3, 8, 8)"));
  CHECK_THROWS_AS(dssim(pred, pred, 0), graft::Error);
  CHECK_THROWS_AS(dssim(pred, pred, 3, {.sigma = 0.0}), graft::Error);

  Tensor dpred = Tensor::zeros({2, 3, 8, 8});
  CHECK_THROWS_WITH_AS(dssim_backward(pred, pred, 3, std::vector<float>{1.0f}, dpred),
                       doctest::Contains("1 sample weights for pred of shape (2, 3, 8, 8)"), graft::Error);
}
