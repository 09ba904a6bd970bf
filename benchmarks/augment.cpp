// The face-swap data pipeline's cost: one augmented sample (warp, affine,
// flip, loss mask; with each colour transfer mode) on one core, at the SAEHD
// resolutions, and the BatchLoader's throughput with several workers.
// Samples per second per core decide how many loader threads keep a training
// step fed: a GPU step of 128 images at 2000 img/s needs 2000 samples/s.
#include <benchmark/benchmark.h>

#include <opencv2/core/utility.hpp>

#include "data/batch_loader.hpp"

namespace {

const faceswap::FaceSet& demo(int resolution) {
  static std::map<int, faceswap::FaceSet> sets;
  auto it = sets.find(resolution);
  if (it == sets.end())
    it = sets.emplace(resolution, faceswap::FaceSet::load(FACESWAP_DEMO_DIR "/faces/spkA", {.resolution = resolution})).first;
  return it->second;
}

void augment_one_sample(benchmark::State& state) {
  cv::setNumThreads(1);
  const int resolution = int(state.range(0));
  const auto colour = faceswap::ColourTransfer(state.range(1));
  state.SetLabel(std::string(faceswap::name_of(colour)));
  const auto& set = demo(resolution);
  faceswap::SideTensors out(1, resolution);
  std::uint64_t step = 0;
  for (auto _ : state) {
    faceswap::augment_into(set, step % set.size(), {1, step, 0}, {.colour_transfer = colour}, &set, out, 0);
    ++step;
  }
  state.counters["samples/s"] = benchmark::Counter(double(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(augment_one_sample)
    ->ArgsProduct({{64, 128, 256}, benchmark::CreateDenseRange(0, int(faceswap::colour_transfer_names.size()) - 1, 1)})
    ->ArgNames({"res", "colour"})
    ->Unit(benchmark::kMicrosecond);

void batch_loader(benchmark::State& state) {
  const int workers = int(state.range(0));
  const auto& set = demo(128);
  faceswap::BatchLoader loader(set, &set, {.batch = 16, .seed = 1, .workers = workers, .prefetch = 2 * workers});
  for (auto _ : state) benchmark::DoNotOptimize(loader.next().warped.data());
  state.counters["samples/s"] = benchmark::Counter(16.0 * double(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(batch_loader)->Arg(1)->Arg(2)->ArgName("workers")->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
