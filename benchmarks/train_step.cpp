// One full SAEHD-df training step on the CPU at resolution 64, 8 images per
// side: forward, DeepFaceLab's masked DSSIM + MSE + mask loss, backward, Adam,
// with f32 convolutions and with bf16 ones (cpu::ConvPrecision). The PyTorch
// counterparts are shared/anchors/torch_faceswap.py --cpu --res 64 --batch 8
// --variants eager_fp32 eager_bf16_cl (same model, loss and optimizer; the
// second under torch.autocast with channels-last tensors).
#include <benchmark/benchmark.h>

#include <graft/backend/cpu/conv.hpp>
#include <graft/optim/adam.hpp>

#include "random_faces.hpp"
#include "train_step.hpp"

namespace {

constexpr faceswap::Options df64{.resolution = 64};

void saehd_df64_train_step(benchmark::State& state, graft::cpu::ConvPrecision precision) {
  const graft::cpu::ConvPrecisionScope convolutions(precision);
  const std::int64_t batch = state.range(0);
  using Step = faceswap::DfStep<df64>;
  Step::Model model(1);
  Step step;
  graft::optim::Adam adam({.lr = 5e-5f});
  const graft::testing::RandomSide src(batch, 64, 10), dst(batch, 64, 20);
  for (auto _ : state) {
    model.zero_gradients();
    const auto losses = step.forward_backward(model, src.view(), dst.view());
    adam.step(model.parameter_buffer(), model.gradient_buffer(), 5e-5f);
    benchmark::DoNotOptimize(losses);
  }
  state.counters["img/s"] = benchmark::Counter(static_cast<double>(2 * batch), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK_CAPTURE(saehd_df64_train_step, f32, graft::cpu::ConvPrecision::f32)
    ->Arg(8)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(5.0);
BENCHMARK_CAPTURE(saehd_df64_train_step, bf16, graft::cpu::ConvPrecision::bf16)
    ->Arg(8)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(5.0);

}  // namespace
