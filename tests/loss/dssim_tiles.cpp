// The fused GPU loss's per-tile work (graft/loss/dssim_tiles.hpp), run here
// on the CPU a tile at a time by one thread, against the CPU's masked DSSIM
// and MSE: the same code the CUDA kernels run, so that its indexing (loaded
// squares, output regions, the window's `first` offset, the MSE's partition
// of pixels, the scratch layouts) is checked where there is no GPU. The
// scratch is NaN outside what each phase writes and around the layout, so a
// read out of place or before its write shows up in the results.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "graft/loss/dssim.hpp"
#include "graft/loss/dssim_tiles.hpp"
#include "graft/loss/mse.hpp"
#include "loss_testing.hpp"

namespace tiles = graft::loss::tiles;
using graft::Shape;
using graft::Tensor;

namespace {

struct NoSync {
  void operator()() const {}
};

constexpr std::int64_t guard = 256;

// `floats` of scratch with NaN guards on both sides; the guards must survive.
struct Scratch {
  std::vector<float> v;
  explicit Scratch(int floats) : v(std::size_t(floats + 2 * guard)) {}
  float* fresh() {
    std::fill(v.begin(), v.end(), std::numeric_limits<float>::quiet_NaN());
    return v.data() + guard;
  }
  bool guards_intact() const {
    for (std::int64_t i = 0; i < guard; ++i)
      if (!std::isnan(v[std::size_t(i)]) || !std::isnan(v[v.size() - 1 - std::size_t(i)])) return false;
    return true;
  }
};

}  // namespace

TEST_CASE("The fused loss's tiles, run on the CPU, give the CPU's masked DSSIM and MSE: values and gradients") {
  struct Case {
    std::int64_t side;
    int filter;
    bool masked;
  };
  // SAEHD's windows at 64, 128 and 256 (5, 11, 22 taps), a tiny one, partial
  // tiles, no mask, and windows wider than their taps (23, 49, 55 keep 21
  // taps from index 1, 14 and 17: `first` > 0).
  for (const Case k : {Case{64, 5, true}, Case{45, 11, true}, Case{40, 11, false}, Case{33, 2, true}, Case{70, 23, true},
                       Case{80, 49, true}, Case{96, 55, true}, Case{128, 22, true}}) {
    CAPTURE(k.side);
    CAPTURE(k.filter);
    CAPTURE(k.masked);
    constexpr std::int64_t B = 2, C = 3;
    const Shape images{B, C, k.side, k.side}, masks{B, 1, k.side, k.side};
    const Tensor pred = graft::loss::testing::random_image(images, 90), target = graft::loss::testing::random_image(images, 91);
    Tensor mask = k.masked ? graft::loss::testing::random_image(masks, 92) : Tensor(masks);
    if (!k.masked) std::fill(mask.span().begin(), mask.span().end(), 1.0f);
    constexpr float dssim_weight = 5.0f, mse_weight = 10.0f;

    Tensor expected = Tensor::zeros(images), mse_gradient = Tensor::zeros(images);
    const auto dssim = graft::loss::masked_dssim_backward(pred.view(), target.view(), mask.view(), k.filter, dssim_weight, expected.view());
    const auto mse = graft::loss::masked_mse_backward(pred.view(), target.view(), mask.view(), mse_weight, mse_gradient.view());
    for (std::int64_t i = 0; i < expected.numel(); ++i) expected.data()[i] += mse_gradient.data()[i];

    const tiles::Window w = tiles::window_for(k.side, k.side, k.filter, "test");
    const std::int64_t n = k.side * k.side;
    const auto plane_at = [&](std::int64_t p) {
      return tiles::Plane{pred.data() + p * n, target.data() + p * n, k.masked ? mask.data() + (p / C) * n : nullptr, k.side, k.side};
    };

    // Values: every tile of the valid map, per plane, as the kernel's blocks.
    Scratch values_scratch(tiles::ValuesLayout(w.count).floats());
    const int tiles_y = tiles::tiles_over(w.ho), tiles_x = tiles::tiles_over(w.wo);
    std::vector<double> dssim_values(B, 0.0), mse_values(B, 0.0);
    for (std::int64_t p = 0; p < B * C; ++p) {
      double ssim = 0, squares = 0;
      for (int ty = 0; ty < tiles_y; ++ty)
        for (int tx = 0; tx < tiles_x; ++tx) {
          tiles::values_tile({0, 1}, NoSync{}, plane_at(p), w, ty, tx, tiles_y, tiles_x, true, values_scratch.fresh(), ssim, squares);
          REQUIRE(values_scratch.guards_intact());
        }
      dssim_values[std::size_t(p / C)] += (1.0 - ssim / double(w.ho * w.wo)) / 2.0 / double(C);
      mse_values[std::size_t(p / C)] += squares / double(C * n);
    }
    for (std::int64_t b = 0; b < B; ++b) {
      CHECK(dssim_values[std::size_t(b)] == doctest::Approx(dssim.per_sample[std::size_t(b)]).epsilon(1e-12));
      CHECK(mse_values[std::size_t(b)] == doctest::Approx(mse.per_sample[std::size_t(b)]).epsilon(1e-12));  // each pixel once
    }

    // Gradients: every tile of the input, per plane.
    Scratch gradient_scratch(tiles::GradientLayout(w.count).floats());
    Tensor gradient = Tensor::zeros(images);
    const double dssim_scale = tiles::dssim_scale(C, w, dssim_weight), mse_scale = double(mse_weight) / double(C * n);
    for (std::int64_t p = 0; p < B * C; ++p)
      for (int ty = 0; ty < tiles::tiles_over(k.side); ++ty)
        for (int tx = 0; tx < tiles::tiles_over(k.side); ++tx) {
          tiles::gradient_tile({0, 1}, NoSync{}, plane_at(p), w, ty, tx, dssim_scale, mse_scale, gradient_scratch.fresh(),
                               gradient.data() + p * n);
          REQUIRE(gradient_scratch.guards_intact());
        }
    // f32 sums in another order than the CPU's (its column adjoint runs the
    // taps backwards): ~1e-4 where SSIM's terms cancel. An index error is of order 1.
    double largest = 0, worst = 0;
    for (std::int64_t i = 0; i < expected.numel(); ++i) largest = std::max(largest, double(std::abs(expected.data()[i])));
    for (std::int64_t i = 0; i < expected.numel(); ++i) {
      const double e = std::abs(double(gradient.data()[i]) - expected.data()[i]) /
                       std::max(std::abs(double(expected.data()[i])), 1e-3 * largest);
      worst = std::isnan(e) ? INFINITY : std::max(worst, e);
    }
    CHECK(worst < 2e-3);
  }
}

TEST_CASE("The fused loss's window refuses a filter larger than the images, naming both") {
  CHECK_THROWS_WITH_AS(tiles::window_for(8, 16, 11, "cuda::masked_dssim_mse_values"),
                       doctest::Contains("cuda::masked_dssim_mse_values: filter_size 11 does not fit images of 8x16"),
                       graft::Error);
}
