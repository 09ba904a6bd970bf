// Every layer's forward against a naive reference, and every layer's
// backward through the generic gradient checker.
#include <doctest/doctest.h>

#include <graft/nn.hpp>

#include "gradient_check.hpp"
#include "saehd.hpp"

using namespace graft;
using graft::testing::check_layer;
using graft::testing::fill_uniform;

namespace {

// Float kernels against double references: 1e-4 relative to the output scale.
void check_close(const float* actual, const std::vector<double>& expected, double tolerance = 1e-4) {
  double scale = 0.0;
  for (double e : expected) scale = std::max(scale, std::abs(e));
  for (std::size_t i = 0; i < expected.size(); ++i)
    REQUIRE(std::abs(actual[i] - expected[i]) <= tolerance * std::max(1.0, scale));
}

// The double reference forward (reference_model.hpp) of a one-part model.
template <class L, Shape In, class M>
std::vector<double> reference_forward(M& model, const Tensor& x) {
  const std::vector<double> p(model.parameter_buffer().begin(), model.parameter_buffer().end());
  return testing::reference::Of<L, In>::forward(p.data(), std::vector<double>(x.span().begin(), x.span().end()), x.batch());
}

template <int O, int K, int S, int P, Shape In>
void check_conv_against_reference() {
  using L = nn::Conv2d<O, K, S, P>;
  using M = nn::Model<nn::Part<"conv", L, In>>;
  M model(3);
  fill_uniform(model.parameter_buffer(), 11, -0.5f, 0.5f);
  Tensor x(batched(3, In));
  fill_uniform(x.span(), 12);
  auto out = model.template part<"conv">().forward(x.view());
  const auto ref = reference_forward<L, In>(model, x);
  REQUIRE(static_cast<std::size_t>(out.value.numel()) == ref.size());
  check_close(out.value.data(), ref);
}

// Float backward against double finite differences (gradient_check.hpp);
// float forward against the double reference.
constexpr double gradient_tolerance = 1e-3, forward_tolerance = 1e-4;

template <class L, Shape In>
void check_backward(std::int64_t batch = 2) {
  const auto report = check_layer<L, In>(batch);
  INFO("forward error " << report.forward_error << ", input relative error " << report.input.relative_error);
  CHECK(report.forward_error < forward_tolerance);
  CHECK(report.input.relative_error < gradient_tolerance);
  for (const auto& [name, r] : report.parameters) {
    INFO(name << " relative error " << r.relative_error);
    CHECK(r.relative_error < gradient_tolerance);
    CHECK(r.analytic_norm > 0.0);
  }
}

}  // namespace

TEST_CASE("Conv2d forward matches the naive convolution") {
  check_conv_against_reference<8, 5, 2, 2, Shape{3, 16, 16}>();  // SAEHD Downscale
  check_conv_against_reference<12, 3, 1, 1, Shape{5, 9, 7}>();   // Upscale / residual, odd sizes
  check_conv_against_reference<3, 1, 1, 0, Shape{6, 8, 8}>();    // output head
  check_conv_against_reference<4, 4, 1, 2, Shape{2, 7, 7}>();    // even kernel, DeepFaceLab pad
  // oneDNN's blocked layouts (16 channels and more), as in every inner SAEHD layer.
  check_conv_against_reference<64, 3, 1, 1, Shape{32, 6, 6}>();
  check_conv_against_reference<32, 5, 2, 2, Shape{16, 9, 9}>();
  check_conv_against_reference<3, 1, 1, 0, Shape{16, 5, 5}>();
}

TEST_CASE("Conv2d backward agrees with finite differences in oneDNN's blocked layouts") {
  check_backward<nn::Conv2d<48, 3>, Shape{32, 5, 5}>();
  check_backward<nn::Conv2d<16, 5, 2>, Shape{16, 8, 8}>();
}

TEST_CASE("Dense forward matches the naive product; weights are [out, in]") {
  using M = nn::Model<nn::Part<"fc", nn::Dense<7>, Shape{13}>>;
  M model(5);
  fill_uniform(model.parameter_buffer(), 21);
  CHECK(M::parameters[0].shape == Shape{7, 13});
  Tensor x(Shape{4, 13});
  fill_uniform(x.span(), 22);
  auto out = model.part<"fc">().forward(x.view());
  check_close(out.value.data(), reference_forward<nn::Dense<7>, Shape{13}>(model, x));
}

TEST_CASE("DepthToSpace follows TensorFlow's DCR order") {
  constexpr Shape in{12, 3, 2};  // C_out = 3, block 2
  using M = nn::Model<nn::Part<"d2s", nn::DepthToSpace<2>, in>>;
  static_assert(nn::output_shape<nn::DepthToSpace<2>, in> == Shape{3, 6, 4});
  M model;
  Tensor x(batched(2, in));
  fill_uniform(x.span(), 31);
  auto out = model.part<"d2s">().forward(x.view());
  for (int n = 0; n < 2; ++n)
    for (int c = 0; c < 3; ++c)
      for (int h = 0; h < 3; ++h)
        for (int w = 0; w < 2; ++w)
          for (int i = 0; i < 2; ++i)
            for (int j = 0; j < 2; ++j) {
              const float expected = x[n * in.numel() + (((i * 2 + j) * 3 + c) * 3 + h) * 2 + w];
              REQUIRE(out.value[n * 72 + (c * 6 + 2 * h + i) * 4 + 2 * w + j] == expected);
            }
}

TEST_CASE("Flatten and Reshape keep C, H, W order") {
  using M = nn::Model<nn::Part<"f", nn::Seq<nn::Flatten, nn::Reshape<2, 6, 2>>, Shape{3, 2, 4}>>;
  static_assert(nn::output_shape<nn::Flatten, Shape{3, 2, 4}> == Shape{24});
  M model;
  Tensor x(batched(2, Shape{3, 2, 4}));
  for (std::int64_t i = 0; i < x.numel(); ++i) x[i] = static_cast<float>(i) + 0.5f;
  auto out = model.part<"f">().forward(x.view());
  CHECK(out.value.shape() == Shape{2, 2, 6, 2});
  // Element (c, h, w) of sample n lands at n*24 + c*8 + h*4 + w: the memory order is unchanged.
  for (std::int64_t i = 0; i < x.numel(); ++i) REQUIRE(out.value[i] == x[i]);
}

TEST_CASE("LeakyReLU, Sigmoid, Residual and ConcatBranches forwards match their formulas") {
  constexpr Shape in{2, 3, 3};
  Tensor x(batched(2, in));
  fill_uniform(x.span(), 81);
  using Net = nn::ConcatBranches<nn::LeakyReLU<0.2f>, nn::Sigmoid, nn::Residual<nn::Sigmoid, nn::LeakyReLU<0.1f>>>;
  using M = nn::Model<nn::Part<"net", Net, in>>;
  static_assert(nn::output_shape<Net, in> == Shape{6, 3, 3});
  M model;
  auto out = model.part<"net">().forward(x.view());
  for (int n = 0; n < 2; ++n)
    for (int c = 0; c < 2; ++c)
      for (int i = 0; i < 9; ++i) {
        const double v = x[n * 18 + c * 9 + i];
        const double sigmoid = 1.0 / (1.0 + std::exp(-v));
        const double sum = v + sigmoid;
        REQUIRE(out.value[n * 54 + c * 9 + i] == doctest::Approx(v > 0 ? v : 0.2 * v));
        REQUIRE(out.value[n * 54 + 18 + c * 9 + i] == doctest::Approx(sigmoid));
        REQUIRE(out.value[n * 54 + 36 + c * 9 + i] == doctest::Approx(sum > 0 ? sum : 0.1 * sum));
      }
}

TEST_CASE("PixelNorm divides each sample by its root mean square") {
  using M = nn::Model<nn::Part<"pn", nn::PixelNorm, Shape{10}>>;
  M model;
  Tensor x(Shape{2, 10});
  fill_uniform(x.span(), 41);
  auto out = model.part<"pn">().forward(x.view());
  for (int n = 0; n < 2; ++n) {
    double ms = 0.0;
    for (int i = 0; i < 10; ++i) ms += static_cast<double>(x[n * 10 + i]) * x[n * 10 + i] / 10.0;
    for (int i = 0; i < 10; ++i)
      CHECK(out.value[n * 10 + i] == doctest::Approx(x[n * 10 + i] / std::sqrt(ms + 1e-6)).epsilon(1e-6));
  }
}

TEST_CASE("Every layer's forward matches its double reference and its backward double finite differences") {
  SUBCASE("Conv2d") {
    check_backward<nn::Conv2d<4, 5, 2>, Shape{3, 8, 8}>();
    check_backward<nn::Conv2d<5, 3>, Shape{4, 6, 5}>();
    check_backward<nn::Conv2d<3, 1>, Shape{6, 4, 4}>();
    check_backward<nn::Conv2d<3, 4, 1, 2, false>, Shape{2, 5, 5}>();
  }
  SUBCASE("Dense") { check_backward<nn::Dense<6>, Shape{9}>(); }
  SUBCASE("LeakyReLU") {
    check_backward<nn::LeakyReLU<0.1f>, Shape{3, 4, 4}>();
    check_backward<nn::LeakyReLU<0.2f>, Shape{7}>();
  }
  SUBCASE("Sigmoid") { check_backward<nn::Sigmoid, Shape{2, 3, 3}>(); }
  SUBCASE("DepthToSpace") { check_backward<nn::DepthToSpace<2>, Shape{8, 3, 2}>(); }
  SUBCASE("Flatten and Reshape") { check_backward<nn::Seq<nn::Flatten, nn::Reshape<4, 2, 3>>, Shape{2, 3, 4}>(); }
  SUBCASE("PixelNorm") { check_backward<nn::PixelNorm, Shape{12}>(); }
  SUBCASE("Residual") { check_backward<nn::Residual<nn::Conv2d<4, 3>, nn::Sigmoid>, Shape{4, 5, 5}>(); }
  SUBCASE("ConcatBranches") {
    check_backward<nn::ConcatBranches<nn::Conv2d<2, 1>, nn::Seq<nn::Conv2d<3, 3>, nn::Sigmoid>>, Shape{3, 4, 4}>();
  }
  SUBCASE("SAEHD blocks") {
    check_backward<faceswap::ResidualBlock<4>, Shape{4, 5, 5}>();
    check_backward<faceswap::Upscale<3>, Shape{5, 3, 3}>();
    check_backward<faceswap::Downscale<4>, Shape{3, 8, 8}>();
    constexpr faceswap::Options tiny{
        .resolution = 32, .ae_dims = 8, .e_dims = 4, .d_dims = 2, .d_mask_dims = 2, .u = true, .d = true};
    check_backward<faceswap::Encoder<tiny>, faceswap::image_shape<tiny>>();
    check_backward<faceswap::Inter<tiny, 8>, faceswap::code_shape<tiny>>();
    check_backward<faceswap::Decoder<tiny>, faceswap::DF<tiny>::inter_out>();
  }
}

TEST_CASE("The gradient checker catches a gradient that is 5% off") {
  using M = nn::Model<nn::Part<"conv", nn::Conv2d<4, 3>, Shape{3, 6, 6}>>;
  M model(1);
  auto conv = model.part<"conv">();
  Tensor x(batched(2, Shape{3, 6, 6})), r(batched(2, Shape{4, 6, 6}));
  fill_uniform(x.span(), 61);
  fill_uniform(r.span(), 62);
  auto out = conv.forward(x.view());
  Tensor dx = conv.backward(out, r.view());
  for (float& v : dx.span()) v *= 1.05f;
  const auto report = testing::check_gradient(x.span(), dx.span(), [&] {
    auto o = conv.forward(x.view());
    double s = 0.0;
    for (std::int64_t i = 0; i < o.value.numel(); ++i) s += static_cast<double>(o.value[i]) * r[i];
    return s;
  });
  CHECK(report.relative_error > 10 * gradient_tolerance);
}

TEST_CASE("A module applied twice accumulates the gradients of both uses") {
  using L = nn::Seq<nn::Conv2d<4, 3>, nn::LeakyReLU<0.1f>, nn::Flatten, nn::Dense<3>>;
  constexpr Shape in{2, 5, 5};
  using M = nn::Model<nn::Part<"enc", L, in>>;
  M twice(9), once(9);
  Tensor a(batched(2, in)), b(batched(3, in)), dya(Shape{2, 3}), dyb(Shape{3, 3});
  fill_uniform(a.span(), 51);
  fill_uniform(b.span(), 52);
  fill_uniform(dya.span(), 53);
  fill_uniform(dyb.span(), 54);

  auto enc = twice.part<"enc">();
  auto out_a = enc.forward(a.view());
  auto out_b = enc.forward(b.view());
  enc.backward(out_a, dya.view());
  enc.backward(out_b, dyb.view());

  // The same data as one batch of 5.
  Tensor ab(batched(5, in)), dyab(Shape{5, 3});
  std::copy_n(a.data(), a.numel(), ab.data());
  std::copy_n(b.data(), b.numel(), ab.data() + a.numel());
  std::copy_n(dya.data(), dya.numel(), dyab.data());
  std::copy_n(dyb.data(), dyb.numel(), dyab.data() + dya.numel());
  auto enc1 = once.part<"enc">();
  auto out_ab = enc1.forward(ab.view());
  enc1.backward(out_ab, dyab.view());

  const auto g2 = twice.gradient_buffer(), g1 = once.gradient_buffer();
  double max_diff = 0.0, max_abs = 0.0;
  for (std::size_t i = 0; i < g1.size(); ++i) {
    max_diff = std::max(max_diff, static_cast<double>(std::abs(g1[i] - g2[i])));
    max_abs = std::max(max_abs, static_cast<double>(std::abs(g1[i])));
  }
  CHECK(max_abs > 0.0);
  CHECK(max_diff <= 1e-5 * max_abs);
}

TEST_CASE("Initialisation: Glorot-uniform weights, zero biases, a function of the seed") {
  using M = nn::Model<nn::Part<"net", nn::Seq<nn::Conv2d<16, 5, 2>, nn::Flatten, nn::Dense<32>>, Shape{8, 8, 8}>>;
  M a(123), b(123), c(124);
  CHECK(std::equal(a.parameter_buffer().begin(), a.parameter_buffer().end(), b.parameter_buffer().begin()));
  CHECK(!std::equal(a.parameter_buffer().begin(), a.parameter_buffer().end(), c.parameter_buffer().begin()));
  for (const auto& spec : M::parameters) {
    const float* p = a.parameter_buffer().data() + spec.offset;
    const std::int64_t n = spec.shape.numel();
    if (spec.init == nn::Init::zeros) {
      CHECK(std::all_of(p, p + n, [](float v) { return v == 0.0f; }));
      continue;
    }
    const double limit = std::sqrt(6.0 / static_cast<double>(spec.fan_in + spec.fan_out));
    double sum = 0.0, sum2 = 0.0;
    for (std::int64_t i = 0; i < n; ++i) {
      REQUIRE(std::abs(p[i]) <= limit);
      sum += p[i];
      sum2 += static_cast<double>(p[i]) * p[i];
    }
    INFO(spec.name.view());
    CHECK(std::abs(sum / n) < 0.05 * limit);
    // The variance of U(-l, l), l^2 / 3, within four standard deviations of a
    // mean of n squares (relative sd sqrt(0.8 / n)); scale(0): relative only.
    CHECK(sum2 / n == doctest::Approx(limit * limit / 3.0).epsilon(4 * std::sqrt(0.8 / static_cast<double>(n))).scale(0));
  }
  CHECK(M::parameters[0].fan_in == 8 * 25);
  CHECK(M::parameters[0].fan_out == 16 * 25);
}

TEST_CASE("Seq fuses Conv2d + LeakyReLU without changing results or names") {
  constexpr Shape in{3, 9, 9};
  using Fused = nn::Seq<nn::Conv2d<6, 3>, nn::LeakyReLU<0.1f>, nn::Conv2d<2, 3>>;
  using Apart = nn::Seq<nn::Conv2d<6, 3>, nn::Identity, nn::LeakyReLU<0.1f>, nn::Conv2d<2, 3>>;
  static_assert(nn::Bound<Fused, in>::count == 2);
  static_assert(nn::Bound<Apart, in>::count == 4);
  constexpr auto& names = nn::Bound<Fused, in>::params;
  static_assert(names[0].name.view() == "0.weight" && names[2].name.view() == "2.weight");  // indices as written

  using MF = nn::Model<nn::Part<"net", Fused, in>>;
  using MA = nn::Model<nn::Part<"net", Apart, in>>;
  MF fused(4);
  MA apart(4);
  fill_uniform(fused.parameter_buffer(), 71, -0.5f, 0.5f);
  std::copy(fused.parameter_buffer().begin(), fused.parameter_buffer().end(), apart.parameter_buffer().begin());
  Tensor x(batched(2, in)), dy(batched(2, Shape{2, 9, 9}));
  fill_uniform(x.span(), 72);
  fill_uniform(dy.span(), 73);
  auto f = fused.part<"net">();
  auto a = apart.part<"net">();
  auto yf = f.forward(x.view());
  auto ya = a.forward(x.view());
  for (std::int64_t i = 0; i < yf.value.numel(); ++i) REQUIRE(yf.value[i] == doctest::Approx(ya.value[i]).epsilon(1e-5));
  Tensor dxf = f.backward(yf, dy.view());
  Tensor dxa = a.backward(ya, dy.view());
  for (std::int64_t i = 0; i < dxf.numel(); ++i) REQUIRE(dxf[i] == doctest::Approx(dxa[i]).epsilon(1e-4).scale(1e-3));
  for (std::size_t i = 0; i < fused.gradient_buffer().size(); ++i)
    REQUIRE(fused.gradient_buffer()[i] == doctest::Approx(apart.gradient_buffer()[i]).epsilon(1e-4).scale(1e-3));
}

TEST_CASE("A wrong input at run time names the module and both shapes") {
  using M = nn::Model<nn::Part<"encoder", nn::Conv2d<4, 3>, Shape{3, 8, 8}>>;
  M model;
  Tensor x(Shape{2, 3, 8, 9});
  CHECK_THROWS_WITH_AS(model.part<"encoder">().forward(x.view()),
                       "encoder: input has shape (2, 3, 8, 9), expected (batch, 3, 8, 8)", graft::Error);
  const Tensor good(Shape{2, 3, 8, 8}, 0.5f);
  auto out = model.part<"encoder">().forward(good.view());
  CHECK_THROWS_WITH_AS(model.part<"encoder">().backward(out, Tensor(Shape{2, 4, 8, 7}).view()),
                       "encoder: gradient has shape (2, 4, 8, 7), the output was (2, 4, 8, 8)", graft::Error);
}
