// SAEHD's loss terms on one side's batch (8 RGB images) at resolution 128
// and 256: masked DSSIM with DeepFaceLab's windows (11 at 128; 22 and 11 at
// 256, where it runs both), masked MSE and masked L1 (the eyes-and-mouth
// term). Each is timed as the value alone and as the value with its gradient,
// which is what a training step calls. Items are pixels (batch x H x W), so
// the rate is pixels per second.
#include <benchmark/benchmark.h>

#include <string>

#include <graft/loss/dssim.hpp>
#include <graft/loss/l1.hpp>
#include <graft/loss/mse.hpp>

#include "micro_benchmark.hpp"
#include "random_faces.hpp"

namespace {

namespace loss = graft::loss;
using graft::ConstView;
using graft::bench::images_per_side;

void report_pixels(benchmark::State& state, int resolution) {
  state.SetItemsProcessed(state.iterations() * images_per_side * resolution * resolution);
}

// loss(pred, target, mask) -> LossValue
template <class Loss>
void loss_value(benchmark::State& state, int resolution, Loss loss) {
  const graft::testing::RandomSide side(images_per_side, resolution, 1);
  for (auto _ : state) benchmark::DoNotOptimize(loss(side.warped, side.target, side.loss_mask));
  report_pixels(state, resolution);
}

// loss(pred, target, mask, weights, dpred) -> LossValue, adding to dpred
template <class LossBackward>
void loss_gradient(benchmark::State& state, int resolution, LossBackward loss) {
  const graft::testing::RandomSide side(images_per_side, resolution, 1);
  graft::Tensor dpred = graft::Tensor::zeros(side.warped.shape());
  for (auto _ : state) benchmark::DoNotOptimize(loss(side.warped, side.target, side.loss_mask, 10.0f, dpred.view()));
  report_pixels(state, resolution);
}

// Registers "<name>/<resolution><suffix>" and "<name>_backward/<resolution><suffix>".
template <class Loss, class LossBackward>
void register_loss(const std::string& name, int resolution, const std::string& suffix, Loss value, LossBackward gradient) {
  const std::string where = "/" + std::to_string(resolution) + suffix;
  benchmark::RegisterBenchmark((name + where).c_str(), loss_value<Loss>, resolution, value)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
  benchmark::RegisterBenchmark((name + "_backward" + where).c_str(), loss_gradient<LossBackward>, resolution, gradient)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
}

void register_masked_dssim(int resolution, int filter) {
  register_loss(
      "masked_dssim", resolution, "/filter:" + std::to_string(filter),
      [filter](ConstView p, ConstView t, ConstView m) { return loss::masked_dssim(p, t, m, filter); },
      [filter](ConstView p, ConstView t, ConstView m, const loss::SampleWeights& w, graft::View dp) {
        return loss::masked_dssim_backward(p, t, m, filter, w, dp);
      });
}

const bool registered = [] {
  register_masked_dssim(128, loss::dssim_filter_size(128));
  register_masked_dssim(256, loss::dssim_filter_size(256));
  register_masked_dssim(256, loss::dssim_second_filter_size(256));
  for (int resolution : {128, 256}) {
    register_loss("masked_mse", resolution, "", loss::masked_mse, loss::masked_mse_backward);
    register_loss("masked_l1", resolution, "", loss::masked_l1, loss::masked_l1_backward);
  }
  return true;
}();

}  // namespace
