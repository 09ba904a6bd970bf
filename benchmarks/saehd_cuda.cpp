// SAEHD-df training throughput on one GPU: the whole step (forward, masked
// DSSIM + MSE + mask loss, backward, NCCL all-reduce at world size 1, the
// optimizer) captured as one CUDA graph and replayed, batches coming from
// pinned host memory. The same model, batch and optimizer as PyTorch's
// anchor (shared/anchors/torch_faceswap.py: Adam, 4 rotating input sets,
// masks of 0/1), which tests/gpu/run.sh runs in the same call.
//
//   bench_saehd [--res 128|256] [--batch 64] [--steps 50] [--warmup 3] [--plain] [--no-nccl] [--profile] [--heuristic] [--tuned-engines 4] [--wgrad-f32] [--fused-loss] [--model df|liae]
// Prints one JSON line: images per second, ms per step, MFU, and the warm-up's
// seconds. --profile also prints where one plain step's time goes, by kind of
// operation. cuDNN's engines are timed on the first step
// (CudnnOptions::tune_engines), as `faceswap train --backend cuda` does;
// --heuristic takes the heuristic's first engine instead, --tuned-engines N
// times the heuristic's first N (default 4) per graph; --fused-loss runs
// the image loss through the fused kernels (one per direction);
// --wgrad-f32 has cuDNN write weight gradients in f32 (the first H200 run's setting).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <graft/comm/single.hpp>
#include <graft/core/philox.hpp>
#include <graft/optim/adam.hpp>

#include "cuda/df_device_step.hpp"
#include "cuda/liae_device_step.hpp"

namespace {

namespace gpu = graft::cuda;
using faceswap::cuda::SaehdDeviceStep;
using faceswap::cuda::InputStaging;

// FLOPs of one (src, dst) pair's training step of SAEHD-df (forward + both
// backward passes of every convolution and dense layer), as PyTorch's flop
// counter measures the same model (shared/anchors/README.md and its logs).
constexpr double flops_per_pair(int resolution) { return resolution == 256 ? 1331.4e9 : 332.8e9; }
// The bf16 matrix peak measured on an H100 SXM on 2026-11-27 (anchors/README.md).
constexpr double peak_flops = 796e12;

struct Args {
  int resolution = 128;
  std::string model = "df";
  std::int64_t batch = 64;
  int steps = 50, warmup = 3;
  bool graph = true, nccl = true, profile = false, tune = true, wgrad_f32 = false, fused_loss = false;
  int tuned_engines = graft::cuda::CudnnOptions{}.tuned_engines;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string s = argv[i];
    auto text = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_saehd: %s needs a value\n", s.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    auto value = [&]() -> long { return std::strtol(text().c_str(), nullptr, 10); };
    if (s == "--res") a.resolution = int(value());
    else if (s == "--batch") a.batch = value();
    else if (s == "--steps") a.steps = int(value());
    else if (s == "--warmup") a.warmup = int(value());
    else if (s == "--plain") a.graph = false;
    else if (s == "--no-nccl") a.nccl = false;
    else if (s == "--profile") a.profile = true;
    else if (s == "--tune") a.tune = true;  // the default; kept for scripts that name it
    else if (s == "--heuristic") a.tune = false;
    else if (s == "--tuned-engines") a.tuned_engines = int(value());
    else if (s == "--fused-loss") a.fused_loss = true;
    else if (s == "--model") a.model = text();
    else if (s == "--wgrad-f32") a.wgrad_f32 = true;
    else {
      std::fprintf(stderr, "bench_saehd: unknown option %s\n", s.c_str());
      std::exit(2);
    }
  }
  if (a.resolution != 128 && a.resolution != 256) {
    std::fprintf(stderr, "bench_saehd: --res must be 128 or 256 (the resolutions PyTorch's anchor was measured at)\n");
    std::exit(2);
  }
  if (a.model != "df" && a.model != "liae") {
    std::fprintf(stderr, "bench_saehd: --model must be df or liae\n");
    std::exit(2);
  }
  if (a.tuned_engines < 1) {
    std::fprintf(stderr, "bench_saehd: --tuned-engines must be positive\n");
    std::exit(2);
  }
  if (a.batch < 1 || a.steps < 1 || a.warmup < 1) {
    std::fprintf(stderr, "bench_saehd: --batch, --steps and --warmup must be positive\n");
    std::exit(2);
  }
  return a;
}

// Images uniform in [0, 1), masks 0 or 1 (uniform > 0.3), as the anchor's.
void fill(float* batch, const faceswap::cuda::BatchLayout& layout, std::uint64_t seed) {
  const graft::Philox rng(seed);
  for (std::int64_t i = 0; i < layout.mask(); ++i) batch[i] = rng.uniform(0.0f, 1.0f, std::uint64_t(i));
  for (std::int64_t i = layout.mask(); i < layout.floats(); ++i) batch[i] = rng.uniform(0.0f, 1.0f, std::uint64_t(i)) > 0.3f ? 1.0f : 0.0f;
}

template <class Step>
void print_profile(Step& step, const float* inputs) {
  graft::nn::cuda::Timeline timeline;
  step.enqueue(inputs, &timeline);
  const auto totals = timeline.totals();
  std::vector<std::pair<double, std::string>> rows;
  double all = 0;
  for (const auto& [label, ms] : totals) {
    rows.emplace_back(ms, label);
    all += ms;
  }
  std::sort(rows.rbegin(), rows.rend());
  std::printf("| operation (one plain step) | ms | share |\n| --- | ---: | ---: |\n");
  for (const auto& [ms, label] : rows) std::printf("| %s | %.2f | %.1f%% |\n", label.c_str(), ms, 100.0 * ms / all);
  std::printf("| all | %.2f | |\n", all);
}

template <int Resolution>
int run(const Args& args, auto architecture) {
  constexpr faceswap::Options options{.resolution = Resolution};
  using Architecture = typename decltype(architecture)::template type<options>;
  using Model = typename Architecture::Model;
  const gpu::Stream stream;
  const auto host = std::make_unique<Model>(0);
#if defined(GRAFT_WITH_NCCL)
  graft::comm::Single single;
  std::unique_ptr<graft::comm::Nccl> nccl;  // before the step: it outlives the graph that holds its kernels
#endif
  SaehdDeviceStep<Architecture, graft::optim::Adam> step(*host, {.lr = 5e-5f}, args.batch, 5e-5f, stream,
                                               {.weight_gradient_in_bf16 = !args.wgrad_f32, .tune_engines = args.tune, .tuned_engines = args.tuned_engines});
  step.use_fused_loss(args.fused_loss);
#if defined(GRAFT_WITH_NCCL)
  if (args.nccl) {
    nccl = std::make_unique<graft::comm::Nccl>(single, 0);
    step.all_reduce_over(*nccl);
  }
#endif
  InputStaging inputs(step.layout(), 4, stream);
  for (int k = 0; k < inputs.slots(); ++k) fill(inputs.host_slot(k), step.layout(), 1000 + std::uint64_t(k));

  int next = 0;
  auto run_one = [&] {
    inputs.take();
    inputs.upload(next);  // the next batch crosses while this step computes
    next = (next + 1) % inputs.slots();
    if (args.graph && step.captured())
      step.replay();
    else
      step.enqueue(inputs.inputs());
  };
  const auto warmup_start = std::chrono::steady_clock::now();
  inputs.upload(next);
  next = 1;
  for (int i = 0; i < args.warmup; ++i) run_one();
  if (args.graph) {
    inputs.take();
    inputs.upload(next);
    next = (next + 1) % inputs.slots();
    step.capture(inputs.inputs());  // one plain step, then the capture (runs nothing)
    step.replay();
  }
  stream.synchronize();
  // Building (and with --tune, timing) cuDNN's graphs, the first steps and the capture.
  const double warmup_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - warmup_start).count();
  const auto first = step.losses().means(stream);
  if (args.profile) print_profile(step, inputs.inputs());

  gpu::Event begin(true), end(true);
  begin.record(stream);
  for (int i = 0; i < args.steps; ++i) run_one();
  end.record(stream);
  end.synchronize();
  const double ms = end.milliseconds_since(begin) / args.steps;
  const auto last = step.losses().means(stream);
  const double images = 2.0 * double(args.batch) * 1000.0 / ms;
  // The anchor's FLOP count is df's; liae's MFU is left out.
  const double mfu = double(args.batch) * flops_per_pair(Resolution) / (ms * 1e-3) / peak_flops;
  const std::string mfu_json = args.model == "df" ? std::to_string(mfu) : "null";
  const bool finite = std::isfinite(last[0]) && std::isfinite(last[1]);
  std::printf(
      "{\"benchmark\": \"saehd_%s%d\", \"batch_per_side\": %lld, \"graph\": %s, \"nccl\": %s, \"tuned\": %s, \"tuned_engines\": %d, \"fused_loss\": %s, \"wgrad\": \"%s\", \"steps\": %d, \"ms_per_step\": %.3f, "
      "\"images_per_second\": %.1f, \"mfu_vs_796\": %s, \"loss_src\": [%.4f, %.4f], \"loss_dst\": [%.4f, %.4f], "
      "\"optimizer_steps\": %lld, \"warmup_s\": %.1f}\n",
      args.model.c_str(), Resolution, static_cast<long long>(args.batch), args.graph ? "true" : "false", args.nccl ? "true" : "false", args.tune ? "true" : "false",
      args.tuned_engines, args.fused_loss ? "true" : "false", args.wgrad_f32 ? "f32" : "bf16", args.steps, ms, images, mfu_json.c_str(),
      first[0], last[0], first[1], last[1], static_cast<long long>(step.steps()), warmup_seconds);
  if (!finite) {
    std::fprintf(stderr, "bench_saehd: the loss is not finite\n");
    return 1;
  }
  return 0;
}

}  // namespace

// The architectures, as types that carry the Options-templated step parts.
struct Df {
  template <faceswap::Options O>
  using type = faceswap::cuda::DfOnDevice<O>;
};
struct Liae {
  template <faceswap::Options O>
  using type = faceswap::cuda::LiaeOnDevice<O>;
};

int main(int argc, char** argv) try {
  const Args args = parse(argc, argv);
  const auto on = [&](auto architecture) { return args.resolution == 256 ? run<256>(args, architecture) : run<128>(args, architecture); };
  return args.model == "liae" ? on(Liae{}) : on(Df{});
} catch (const std::exception& e) {
  std::fprintf(stderr, "bench_saehd: %s\n", e.what());
  return 1;
}
