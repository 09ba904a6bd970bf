// The SAEHD training steps: their whole-model gradient agrees with finite
// differences of the loss, and a few optimizer steps lower the loss.
#include <doctest/doctest.h>

#include <graft/comm/threads.hpp>
#include <graft/ddp/data_parallel.hpp>
#include <graft/optim/adam.hpp>

#include "gradient_check.hpp"
#include "random_faces.hpp"
#include "train_step.hpp"

using namespace graft;

namespace {

constexpr faceswap::Options tiny{.resolution = 32, .ae_dims = 16, .e_dims = 8, .d_dims = 8, .d_mask_dims = 4};
constexpr faceswap::Options tiny_ud{
    .resolution = 32, .ae_dims = 16, .e_dims = 8, .d_dims = 8, .d_mask_dims = 4, .u = true, .d = true};

using Side = testing::RandomSide;

// Glorot weights with zero biases put almost every LeakyReLU input of a fresh
// model next to the kink, where finite differences mean nothing; random
// biases move them off it without changing what is being checked.
template <class Model>
void randomise_biases(Model& model, std::uint64_t seed) {
  for (const auto& spec : Model::parameters)
    if (spec.init == nn::Init::zeros)
      testing::fill_uniform(
          model.parameter_buffer().subspan(static_cast<std::size_t>(spec.offset), static_cast<std::size_t>(spec.shape.numel())),
          seed + static_cast<std::uint64_t>(spec.offset), -0.2f, 0.2f);
}

// Checks each part's gradient along its own direction (see
// check_gradient_direction): the encoder's and inter's gradients sum two
// uses, the decoders' come through the split rgb/mask heads and the losses.
template <class Step>
void check_step_gradient() {
  typename Step::Model model(5);
  randomise_biases(model, 50);
  const Side src(2, 32, 10), dst(2, 32, 20);
  const Step step;
  model.zero_gradients();
  step.forward_backward(model, src.view(), dst.view());
  const std::vector<float> analytic(model.gradient_buffer().begin(), model.gradient_buffer().end());
  // The differentiated quantity: the batch sum of L_src + L_dst.
  auto loss = [&] {
    const auto l = step.forward_backward(model, src.view(), dst.view());
    return 2.0 * (l.src + l.dst);
  };
  const auto& offsets = Step::Model::part_offsets;
  for (std::size_t part = 0; part < offsets.size(); ++part) {
    const auto begin = static_cast<std::size_t>(offsets[part]);
    const auto end = part + 1 < offsets.size() ? static_cast<std::size_t>(offsets[part + 1]) : analytic.size();
    const double error =
        testing::check_gradient_direction(model.parameter_buffer().subspan(begin, end - begin),
                                          std::span<const float>(analytic).subspan(begin, end - begin), loss, 3e-4);
    INFO("part " << part << ": relative error along the gradient " << error);
    CHECK(error < 2e-2);  // a deep float stack with LeakyReLU kinks; seen <= 1e-2
  }
}

template <class Step>
void check_step_learns() {
  typename Step::Model model(6);
  const Side src(4, 32, 30), dst(4, 32, 40);
  const Step step;
  optim::Adam adam({.lr = 1e-3f});
  double first = 0.0, last = 0.0;
  for (int i = 0; i < 40; ++i) {
    model.zero_gradients();
    const auto l = step.forward_backward(model, src.view(), dst.view());
    adam.step(model.parameter_buffer(), model.gradient_buffer(), 1e-3f);
    (i == 0 ? first : last) = l.src + l.dst;
  }
  INFO("loss " << first << " -> " << last);
  CHECK(last < 0.8 * first);
}

}  // namespace

TEST_CASE("SAEHD-df step: the whole-model gradient matches finite differences") { check_step_gradient<faceswap::DfStep<tiny>>(); }
TEST_CASE("SAEHD-liae-ud step: the whole-model gradient matches finite differences") {
  check_step_gradient<faceswap::LiaeStep<tiny_ud>>();
}
TEST_CASE("SAEHD-df-ud and liae steps lower the loss") {
  check_step_learns<faceswap::DfStep<tiny_ud>>();
  check_step_learns<faceswap::LiaeStep<tiny>>();
}

// DataParallel requires every forward of a module before its backward; a
// step that interleaves them (a shared decoder run and differentiated side by
// side) is refused. Both steps must run under it, and 2 ranks x 1 sample must
// give the gradient of 1 rank x 2 samples (DeepFaceLab's loss is a batch sum).
template <class Step>
void check_step_data_parallel() {
  const Side src(2, 32, 10), dst(2, 32, 20);
  typename Step::Model alone(9);
  alone.zero_gradients();
  Step{}.forward_backward(alone, src.view(), dst.view());
  std::vector<float> reduced;
  comm::run_threads(2, [&](comm::Threads& c) {
    typename Step::Model model(9);
    ddp::DataParallel parallel(model, c, {.average = ddp::GradientAverage::sum});
    const auto one = [&](const Side& s) {
      const std::int64_t per = s.warped.numel() / 2, per_mask = s.mask.numel() / 2;
      const auto r = c.rank();
      const Shape image{1, 3, 32, 32}, mask{1, 1, 32, 32};
      return faceswap::SideBatch{{s.warped.data() + r * per, image},
                                 {s.target.data() + r * per, image},
                                 {s.mask.data() + r * per_mask, mask},
                                 {s.loss_mask.data() + r * per_mask, mask}};
    };
    model.zero_gradients();
    parallel.forward_backward([&] { Step{}.forward_backward(model, one(src), one(dst)); });
    if (c.rank() == 0) reduced.assign(model.gradient_buffer().begin(), model.gradient_buffer().end());
  });
  REQUIRE(reduced.size() == alone.gradient_buffer().size());
  double worst = 0, scale = 0;
  for (std::size_t i = 0; i < reduced.size(); ++i) {
    worst = std::max(worst, double(std::abs(reduced[i] - alone.gradient_buffer()[i])));
    scale = std::max(scale, double(std::abs(alone.gradient_buffer()[i])));
  }
  CHECK(worst <= 1e-5 * scale);
}

TEST_CASE("SAEHD-df and liae steps under DataParallel: 2 ranks x 1 sample = 1 rank x 2 samples") {
  check_step_data_parallel<faceswap::DfStep<tiny>>();
  check_step_data_parallel<faceswap::LiaeStep<tiny>>();
}

TEST_CASE("Eyes-and-mouth priority adds 300 x the masked L1 of the eyes and mouth, value and gradient") {
  using Step = faceswap::DfStep<tiny>;
  const Side src(2, 32, 10), dst(2, 32, 20);
  Tensor em(Shape{2, 1, 32, 32});
  testing::fill_uniform(em.span(), 77, 0.0f, 1.0f);
  Step::Model plain(3), prioritised(3);
  plain.zero_gradients();
  prioritised.zero_gradients();
  const auto without = Step{}.forward_backward(plain, src.view(), dst.view());
  faceswap::SideBatch src_em = src.view();
  src_em.eyes_mouth = em.view();
  const auto with = Step{}.forward_backward(prioritised, src_em, dst.view());
  CHECK(with.dst == without.dst);
  // The extra term, computed directly on decoder_src's output.
  auto encoder = plain.part<"encoder">();
  auto features = encoder.forward(src.warped);
  auto code = plain.part<"inter">().forward(features.view());
  auto out = plain.part<"decoder_src">().forward(code.view());
  auto parts = nn::split_channels(out.view(), {3, 1});
  const Tensor& rgb = parts[0];
  Tensor ignored = Tensor::zeros(rgb.shape());
  const double extra = 300.0 * loss::masked_l1_backward(rgb.view(), src.target, em.view(), 300.0f, ignored.view()).mean();
  CHECK(with.src == doctest::Approx(without.src + extra).epsilon(1e-6));
  // Only the src side's gradients change, and the decoder_src ones do.
  double moved = 0;
  for (std::size_t i = 0; i < plain.gradient_buffer().size(); ++i)
    moved = std::max(moved, double(std::abs(plain.gradient_buffer()[i] - prioritised.gradient_buffer()[i])));
  CHECK(moved > 0);
}
