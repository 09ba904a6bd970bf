// The CPU backend's GEMM and elementwise kernels against textbook loops, and
// the host allocator's alignment, reuse and limit.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "graft/backend/cpu/conv.hpp"
#include "graft/backend/cpu/elementwise.hpp"
#include "graft/backend/cpu/gemm.hpp"
#include "graft/core/buffer.hpp"
#include "graft/core/dtype.hpp"
#include "random_fill.hpp"

using namespace graft;
using cpu::Transpose;

TEST_CASE("gemm matches the naive product for every transpose combination, with alpha and beta") {
  const std::int64_t m = 7, n = 5, k = 9;
  std::vector<float> a(m * k), b(k * n), c0(m * n);
  testing::fill_uniform(a, 1);
  testing::fill_uniform(b, 2);
  testing::fill_uniform(c0, 3);
  for (auto ta : {Transpose::no, Transpose::yes})
    for (auto tb : {Transpose::no, Transpose::yes}) {
      // A is stored as op(A)^T when transposed: element (i, p) of op(A).
      auto at = [&](std::int64_t i, std::int64_t p) { return ta == Transpose::yes ? a[p * m + i] : a[i * k + p]; };
      auto bt = [&](std::int64_t p, std::int64_t j) { return tb == Transpose::yes ? b[j * k + p] : b[p * n + j]; };
      std::vector<float> c = c0;
      cpu::gemm(ta, tb, m, n, k, 0.5f, a.data(), b.data(), 2.0f, c.data());
      for (std::int64_t i = 0; i < m; ++i)
        for (std::int64_t j = 0; j < n; ++j) {
          double expected = 2.0 * c0[i * n + j];
          for (std::int64_t p = 0; p < k; ++p) expected += 0.5 * at(i, p) * bt(p, j);
          REQUIRE(c[i * n + j] == doctest::Approx(expected).epsilon(1e-5));
        }
    }
}

TEST_CASE("elementwise kernels match their formulas, in parallel and serial sizes") {
  for (std::int64_t n : {std::int64_t{37}, cpu::parallel_threshold * 3 + 5}) {
    std::vector<float> x(n), y(n), dy(n), out(n);
    testing::fill_uniform(x, 4);
    testing::fill_uniform(y, 5);
    testing::fill_uniform(dy, 6);
    cpu::add(x.data(), y.data(), out.data(), n);
    for (std::int64_t i = 0; i < n; ++i) REQUIRE(out[i] == x[i] + y[i]);
    out = y;
    cpu::axpy(-1.5f, x.data(), out.data(), n);
    for (std::int64_t i = 0; i < n; ++i) REQUIRE(out[i] == doctest::Approx(y[i] - 1.5f * x[i]));
    cpu::leaky_relu_forward(x.data(), out.data(), n, 0.2f);
    for (std::int64_t i = 0; i < n; ++i) REQUIRE(out[i] == (x[i] > 0 ? x[i] : 0.2f * x[i]));
    std::vector<float> dx(n);
    cpu::leaky_relu_backward(out.data(), dy.data(), dx.data(), n, 0.2f);
    for (std::int64_t i = 0; i < n; ++i) REQUIRE(dx[i] == (x[i] > 0 ? dy[i] : 0.2f * dy[i]));
    cpu::sigmoid_forward(x.data(), out.data(), n);
    for (std::int64_t i = 0; i < n; ++i) REQUIRE(out[i] == doctest::Approx(1.0 / (1.0 + std::exp(-static_cast<double>(x[i])))));
    cpu::sigmoid_backward(out.data(), dy.data(), dx.data(), n);
    for (std::int64_t i = 0; i < n; ++i) REQUIRE(dx[i] == doctest::Approx(dy[i] * out[i] * (1.0 - out[i])));
    double dot = 0.0;
    for (std::int64_t i = 0; i < n; ++i) dot += static_cast<double>(x[i]) * y[i];
    CHECK(cpu::dot(x.data(), y.data(), n) == doctest::Approx(dot).epsilon(1e-12));
  }
}

TEST_CASE("the host allocator aligns, reuses freed blocks and keeps its cache bounded") {
  auto& allocator = HostAllocator::instance();
  allocator.release_cached();
  void* first = nullptr;
  {
    AlignedBuffer<float> a(1000);
    first = a.data();
    CHECK(reinterpret_cast<std::uintptr_t>(first) % 64 == 0);
  }
  CHECK(allocator.cached_bytes() >= 4000);
  AlignedBuffer<float> b(1000);  // the same size again: the cached block
  CHECK(b.data() == first);
  CHECK(allocator.cached_bytes() == 0);
  {
    // Larger than the whole cache (4 GiB by default): freed, not cached. Never touched, so it costs no memory.
    AlignedBuffer<std::uint8_t> huge((std::size_t{5} << 30));
  }
  CHECK(allocator.cached_bytes() == 0);
}

TEST_CASE("conv2d_backward gives exactly what backward-data and backward-weights give") {
  for (const cpu::Conv2dGeometry g : {cpu::Conv2dGeometry{2, 32, 9, 9, 48, 3, 1, 1}, cpu::Conv2dGeometry{3, 3, 8, 8, 16, 5, 2, 2},
                                      cpu::Conv2dGeometry{2, 16, 6, 6, 3, 1, 1, 0}}) {
    std::vector<float> x(g.batch * g.in_channels * g.in_h * g.in_w), w(g.out_channels * g.in_channels * g.kernel * g.kernel),
        dy(g.batch * g.out_channels * g.out_h() * g.out_w());
    testing::fill_uniform(x, 7);
    testing::fill_uniform(w, 8);
    testing::fill_uniform(dy, 9);
    std::vector<float> dx1(x.size()), dx2(x.size()), dw1(w.size(), 0.25f), dw2 = dw1, db1(g.out_channels, 0.5f), db2 = db1;
    cpu::conv2d_backward_data(g, dy.data(), w.data(), dx1.data());
    cpu::conv2d_backward_weights(g, x.data(), dy.data(), dw1.data(), db1.data());
    cpu::conv2d_backward(g, x.data(), dy.data(), w.data(), dx2.data(), dw2.data(), db2.data());
    CHECK(dx1 == dx2);
    CHECK(dw1 == dw2);
    CHECK(db1 == db2);
  }
}

namespace {

// Textbook convolution in double over NCHW / OIHW: y, then the gradients of sum(y * dy).
struct ReferenceConv {
  const cpu::Conv2dGeometry& g;
  template <class Visit>  // visit(x index, w index, y index) for every product the convolution adds
  void each_product(Visit&& visit) const {
    for (std::int64_t n = 0; n < g.batch; ++n)
      for (std::int64_t o = 0; o < g.out_channels; ++o)
        for (std::int64_t oy = 0; oy < g.out_h(); ++oy)
          for (std::int64_t ox = 0; ox < g.out_w(); ++ox)
            for (std::int64_t c = 0; c < g.in_channels; ++c)
              for (std::int64_t ky = 0; ky < g.kernel; ++ky)
                for (std::int64_t kx = 0; kx < g.kernel; ++kx) {
                  const std::int64_t iy = oy * g.stride - g.padding + ky, ix = ox * g.stride - g.padding + kx;
                  if (iy < 0 || iy >= g.in_h || ix < 0 || ix >= g.in_w) continue;
                  visit(((n * g.in_channels + c) * g.in_h + iy) * g.in_w + ix,
                        ((o * g.in_channels + c) * g.kernel + ky) * g.kernel + kx,
                        ((n * g.out_channels + o) * g.out_h() + oy) * g.out_w() + ox);
                }
  }
};

std::vector<float> rounded_to_bf16(std::vector<float> v) {
  for (float& f : v) f = static_cast<float>(bf16(f));
  return v;
}

}  // namespace

TEST_CASE("bf16 convolutions: exact products of the bf16-rounded operands, summed in f32, in every direction") {
  CHECK(cpu::conv_precision() == cpu::ConvPrecision::f32);  // the default
  MESSAGE("this CPU multiplies bf16 ", cpu::has_native_bf16() ? "in hardware" : "by oneDNN's emulation");
  // Blocked layouts, the image input's 3 channels, and a 3-channel head (plain NCHW).
  for (const cpu::Conv2dGeometry g :
       {cpu::Conv2dGeometry{2, 32, 9, 9, 48, 3, 1, 1}, cpu::Conv2dGeometry{3, 3, 12, 12, 16, 5, 2, 2},
        cpu::Conv2dGeometry{2, 16, 6, 6, 3, 1, 1, 0}}) {
    INFO("in ", g.in_channels, ", out ", g.out_channels, ", kernel ", g.kernel);
    std::vector<float> x(g.batch * g.in_channels * g.in_h * g.in_w), w(g.out_channels * g.in_channels * g.kernel * g.kernel),
        b(g.out_channels), dy(g.batch * g.out_channels * g.out_h() * g.out_w());
    testing::fill_uniform(x, 17);
    testing::fill_uniform(w, 18);
    testing::fill_uniform(b, 19);
    testing::fill_uniform(dy, 20);
    // The exact results for bf16 operands, and the sum of the magnitudes of each one's terms (its f32 summation error's scale).
    const auto xr = rounded_to_bf16(x), wr = rounded_to_bf16(w), dyr = rounded_to_bf16(dy);
    std::vector<double> y(dy.size()), y_scale(dy.size()), dx(x.size()), dx_scale(x.size()), dw(w.size()), dw_scale(w.size());
    ReferenceConv{g}.each_product([&](std::int64_t xi, std::int64_t wi, std::int64_t yi) {
      y[yi] += double(xr[xi]) * wr[wi];
      y_scale[yi] += std::abs(double(xr[xi]) * wr[wi]);
      dx[xi] += double(dyr[yi]) * wr[wi];
      dx_scale[xi] += std::abs(double(dyr[yi]) * wr[wi]);
      dw[wi] += double(dyr[yi]) * xr[xi];
      dw_scale[wi] += std::abs(double(dyr[yi]) * xr[xi]);
    });
    const auto channel_of = [&](std::size_t y_index) { return y_index / std::size_t(g.out_h() * g.out_w()) % b.size(); };
    std::vector<double> db(b.size(), 0.0), db_scale(b.size(), 0.0);
    for (std::size_t i = 0; i < dy.size(); ++i) {
      db[channel_of(i)] += dyr[i];
      db_scale[channel_of(i)] += std::abs(dyr[i]);
    }
    // Off by more than f32 summation allows (2^-20 of the terms' magnitudes, many times float's
    // 2^-24 per addition) anywhere: the count of such elements.
    const auto misses = [](const std::vector<float>& got, const std::vector<double>& exact, const std::vector<double>& scale,
                           double offset = 0.0) {
      int far = 0;
      for (std::size_t i = 0; i < got.size(); ++i) far += std::abs(got[i] - (exact[i] + offset)) > 0x1p-20 * (scale[i] + 1.0);
      return far;
    };

    std::vector<float> y_f32(dy.size()), dx_f32(x.size()), dw_f32(w.size(), 0.0f), db_f32(b.size(), 0.0f);
    cpu::conv2d_forward(g, x.data(), w.data(), nullptr, y_f32.data());
    cpu::conv2d_backward(g, x.data(), dy.data(), w.data(), dx_f32.data(), dw_f32.data(), db_f32.data());
    // f32 convolutions do not round their operands: they miss the bf16 results nearly everywhere.
    CHECK(misses(y_f32, y, y_scale) > int(y.size()) / 2);
    CHECK(misses(dx_f32, dx, dx_scale) > int(dx.size()) / 2);
    CHECK(misses(dw_f32, dw, dw_scale) > int(dw.size()) / 2);

    const cpu::ConvPrecisionScope bf16_convolutions(cpu::ConvPrecision::bf16);
    std::vector<float> y16(dy.size()), y16_leaky(dy.size()), dx16(x.size()), dw16(w.size(), 0.25f), db16(b.size(), 0.5f);
    cpu::conv2d_forward(g, x.data(), w.data(), nullptr, y16.data());
    CHECK(misses(y16, y, y_scale) == 0);
    // The bias is added in f32, and the fused LeakyReLU applies to the f32 sum.
    cpu::conv2d_forward(g, x.data(), w.data(), b.data(), y16_leaky.data(), {.leaky_relu_slope = 0.1f});
    int leaky_far = 0;
    for (std::size_t i = 0; i < y.size(); ++i) {
      const double pre = y[i] + b[channel_of(i)];
      leaky_far += std::abs(y16_leaky[i] - (pre > 0 ? pre : 0.1 * pre)) > 0x1p-20 * (y_scale[i] + 2.0);
    }
    CHECK(leaky_far == 0);
    cpu::conv2d_backward(g, x.data(), dy.data(), w.data(), dx16.data(), dw16.data(), db16.data());
    CHECK(misses(dx16, dx, dx_scale) == 0);
    CHECK(misses(dw16, dw, dw_scale, 0.25) == 0);  // added to what dw held
    CHECK(misses(db16, db, db_scale, 0.5) == 0);   // the sum of the bf16-rounded dy
  }
  CHECK(cpu::conv_precision() == cpu::ConvPrecision::f32);
}
