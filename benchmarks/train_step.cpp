// One full SAEHD-df training step on the CPU at resolution 64, 8 images per
// side: forward, DeepFaceLab's masked DSSIM + MSE + mask loss, backward, Adam.
// The PyTorch counterpart is shared/anchors/torch_faceswap.py --cpu --res 64
// --batch 8 --variants eager_fp32 (same model, loss and optimizer).
#include <benchmark/benchmark.h>

#include <graft/optim/adam.hpp>

#include "random_faces.hpp"
#include "train_step.hpp"

namespace {

constexpr faceswap::Options df64{.resolution = 64};

void saehd_df64_train_step(benchmark::State& state) {
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
BENCHMARK(saehd_df64_train_step)->Arg(8)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(5.0);

}  // namespace
