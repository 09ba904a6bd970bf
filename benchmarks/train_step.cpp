// One full SAEHD-df training step on the CPU at resolution 64, 8 images per
// side: forward, DeepFaceLab's masked DSSIM + MSE + mask loss, backward, Adam.
// The PyTorch counterpart is shared/anchors/torch_faceswap.py --cpu --res 64
// --batch 8 --variants eager_fp32 (same model, loss and optimizer).
#include <benchmark/benchmark.h>

#include <graft/optim/adam.hpp>

#include "gradient_check.hpp"
#include "train_step.hpp"

namespace {

constexpr faceswap::Options df64{.resolution = 64};

struct Side {
  graft::Tensor warped, target, mask, loss_mask;
  Side(std::int64_t batch, std::uint64_t seed)
      : warped(graft::batched(batch, faceswap::image_shape<df64>)),
        target(warped.shape()),
        mask(graft::Shape{batch, 1, 64, 64}),
        loss_mask(mask.shape()) {
    graft::testing::fill_uniform(warped.span(), seed, 0.0f, 1.0f);
    graft::testing::fill_uniform(target.span(), seed + 1, 0.0f, 1.0f);
    graft::testing::fill_uniform(mask.span(), seed + 2, 0.0f, 1.0f);
    for (float& m : mask.span()) m = m > 0.3f ? 1.0f : 0.0f;
    std::copy_n(mask.data(), mask.numel(), loss_mask.data());
  }
  faceswap::SideBatch view() const { return {warped, target, mask, loss_mask}; }
};

void saehd_df64_train_step(benchmark::State& state) {
  const std::int64_t batch = state.range(0);
  using Step = faceswap::DfStep<df64>;
  Step::Model model(1);
  Step step;
  graft::optim::Adam adam({.lr = 5e-5f});
  const Side src(batch, 10), dst(batch, 20);
  for (auto _ : state) {
    model.zero_gradients();
    const auto losses = step.forward_backward(model, src.view(), dst.view());
    adam.step(model.parameter_buffer(), model.gradient_buffer(), 5e-5f);
    benchmark::DoNotOptimize(losses);
  }
  state.counters["img/s"] = benchmark::Counter(static_cast<double>(2 * batch), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(saehd_df64_train_step)->Arg(8)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(5.0);

}  // namespace
