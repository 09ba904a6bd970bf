// The CPU backend's GEMM and elementwise kernels against textbook loops, and
// the host allocator's alignment, reuse and limit.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "graft/backend/cpu/conv.hpp"
#include "graft/backend/cpu/elementwise.hpp"
#include "graft/backend/cpu/gemm.hpp"
#include "graft/core/buffer.hpp"
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
