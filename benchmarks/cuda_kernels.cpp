// The CUDA backend's own kernels at SAEHD-df-128's sizes: the fused
// optimizer step over the whole flat buffer, and the memory-bound layers.
// Timed with CUDA events (manual time), reported as bytes per second to
// compare with the card's memory bandwidth (H100 SXM: 3.35 TB/s).
// Runs on a GPU (tests/gpu/run.sh).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#include "graft/backend/cuda/conv.hpp"
#include "graft/backend/cuda/dense.hpp"
#include "graft/backend/cuda/elementwise.hpp"
#include "graft/backend/cuda/memory.hpp"
#include "graft/backend/cuda/optim.hpp"
#include "graft/backend/cuda/stream.hpp"
#include "graft/optim/adabelief.hpp"
#include "graft/optim/adam.hpp"
#include "random_fill.hpp"

namespace cuda = graft::cuda;

namespace {

constexpr std::int64_t df128_parameters = 57'500'000;  // SAEHD-df-128's flat buffer, rounded

// Random values, without drawing hundreds of millions of them one by one on
// the host (Google Benchmark may set a benchmark up several times): a block
// of Philox draws, repeated.
cuda::DeviceBuffer<float> random_device(std::size_t n, std::uint64_t seed, cudaStream_t stream) {
  std::vector<float> block(std::min<std::size_t>(n, 1 << 16)), host(n);
  graft::testing::fill_uniform(block, seed, -1e-2f, 1e-2f);
  for (std::size_t i = 0; i < n; i += block.size()) std::copy_n(block.begin(), std::min(block.size(), n - i), host.begin() + std::ptrdiff_t(i));
  cuda::DeviceBuffer<float> d(n, stream);
  d.copy_from_host(host.data());
  return d;
}

// Runs `work` once per iteration between two events; `bytes` moved per run.
template <class Work>
void time_on_device(benchmark::State& state, cudaStream_t stream, double bytes, Work&& work) {
  cuda::Event start(true), stop(true);
  work();  // warm-up
  for (auto _ : state) {
    start.record(stream);
    work();
    stop.record(stream);
    stop.synchronize();
    state.SetIterationTime(stop.milliseconds_since(start) / 1e3);
  }
  state.SetBytesProcessed(std::int64_t(bytes) * state.iterations());
}

template <class Optimizer>
void optimizer_step(benchmark::State& state) {
  const cuda::Stream stream;
  const auto n = std::size_t(df128_parameters);
  auto w = random_device(n, 1, stream), g = random_device(n, 2, stream);
  cuda::DeviceBuffer<graft::bf16> copy(n, stream);
  cuda::DeviceOptimizer<Optimizer> optimizer({}, std::int64_t(n), stream);
  // Read w, g and the two moments; write w, the moments and the bf16 copy.
  const double bytes = double(n) * (4 * 4 + 3 * 4 + 2);
  time_on_device(state, stream, bytes, [&] { optimizer.step(w.data(), g.data(), copy.data(), 5e-5f); });
}
BENCHMARK(optimizer_step<graft::optim::AdaBelief>)->Name("adabelief_step/df128")->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(optimizer_step<graft::optim::Adam>)->Name("adam_step/df128")->UseManualTime()->Unit(benchmark::kMicrosecond);

// decoder.res2's activation at resolution 128, batch 64 per side: 128 x 128 x 128 x 128 values.
void leaky_relu_bf16(benchmark::State& state) {
  const cuda::Stream stream;
  const std::int64_t n = 128LL * 128 * 128 * 128;
  cuda::DeviceBuffer<float> x = random_device(std::size_t(n), 3, stream);
  cuda::DeviceBuffer<graft::bf16> xb(std::size_t(n), stream), yb(std::size_t(n), stream);
  cuda::to_bf16(x.data(), xb.data(), n, stream);
  time_on_device(state, stream, double(n) * 4, [&] { cuda::leaky_relu_forward(xb.data(), yb.data(), n, 0.1f, stream); });
}
BENCHMARK(leaky_relu_bf16)->UseManualTime()->Unit(benchmark::kMicrosecond);

// decoder.upscale2 at resolution 128, batch 128: (64, 64, 512) -> (128, 128, 128),
// in f32 and in bf16 (as the model runs it).
template <class T>
void depth_to_space(benchmark::State& state) {
  const cuda::Stream stream;
  const std::int64_t batch = 128, h = 64, w = 64, c = 128;
  const std::int64_t n = batch * h * w * 4 * c;
  auto f = random_device(std::size_t(n), 4, stream);
  cuda::DeviceBuffer<T> in(std::size_t(n), stream), out(std::size_t(n), stream);
  if constexpr (std::is_same_v<T, float>)
    cuda::check(cudaMemcpyAsync(in.data(), f.data(), f.bytes(), cudaMemcpyDeviceToDevice, stream), "cudaMemcpyAsync");
  else
    cuda::to_bf16(f.data(), in.data(), n, stream);
  time_on_device(state, stream, double(n) * 2 * sizeof(T),
                 [&] { cuda::depth_to_space_forward(in.data(), out.data(), batch, h, w, c, 2, stream); });
}
BENCHMARK(depth_to_space<float>)->Name("depth_to_space")->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(depth_to_space<graft::bf16>)->Name("depth_to_space_bf16")->UseManualTime()->Unit(benchmark::kMicrosecond);

template <class T>
cuda::DeviceBuffer<T> random_bf16(std::size_t n, std::uint64_t seed, cudaStream_t stream) {
  auto f = random_device(n, seed, stream);
  cuda::DeviceBuffer<T> out(n, stream);
  cuda::to_bf16(f.data(), out.data(), std::int64_t(n), stream);
  return out;
}

// The backward of decoder.upscale2 before its convolution's gradients, at
// resolution 128, batch 128: conv output y (64, 64, 512), dy from
// DepthToSpace's output (128, 128, 128). Mode 0: DepthToSpace's backward, then
// LeakyReLU backward + bias gradient (two passes); mode 1: one pass reading dy
// through DepthToSpace; mode 2: the LeakyReLU + bias pass alone.
void upscale_backward(benchmark::State& state) {
  const cuda::Stream stream;
  const std::int64_t batch = 128, h = 64, w = 64, channels = 512, rows = batch * h * w, n = rows * channels;
  auto y = random_bf16<graft::bf16>(std::size_t(n), 5, stream), dy = random_bf16<graft::bf16>(std::size_t(n), 6, stream);
  cuda::DeviceBuffer<graft::bf16> dy_rows(std::size_t(n), stream), d_pre(std::size_t(n), stream);
  cuda::DeviceBuffer<float> db(std::size_t(channels), stream);
  db.fill_bytes(0);
  const auto mode = state.range(0);
  const double bytes = double(n) * 2 * (mode == 0 ? 5 : 3);  // each pass reads and writes n bf16 values
  time_on_device(state, stream, bytes, [&] {
    if (mode == 1) {
      cuda::leaky_relu_bias_gradient_from_depth_to_space(y.data(), dy.data(), 0.1f, d_pre.data(), db.data(), batch, h, w, channels, 2,
                                                         stream);
      return;
    }
    if (mode == 0) cuda::depth_to_space_backward(dy.data(), dy_rows.data(), batch, h, w, channels / 4, 2, stream);
    cuda::leaky_relu_bias_gradient(y.data(), mode == 0 ? dy_rows.data() : dy.data(), 0.1f, d_pre.data(), db.data(), rows, channels,
                                   stream);
  });
}
BENCHMARK(upscale_backward)->ArgName("mode")->Arg(0)->Arg(1)->Arg(2)->UseManualTime()->Unit(benchmark::kMicrosecond);

// Tensor-core work: FLOP/s of the SAEHD-df-128 layers at batch 128 (64 per side), bf16.
void set_flops(benchmark::State& state, double flops) {
  state.counters["TFLOP/s"] = benchmark::Counter(flops * double(state.iterations()) / 1e12, benchmark::Counter::kIsRate);
}

#if defined(GRAFT_WITH_CUDNN)
// Two SAEHD-df-128 convolutions at batch 128 (64 per side): "encoder:0" is
// decoder.upscale1's (256 -> 4 x 256 channels at 16 x 16, 3x3), "encoder:1"
// encoder.down2's (128 -> 256, 5x5, stride 2, 32 x 32 in). Forward, the data
// gradient and the weight gradient (with cuDNN's heuristic engine, and with
// CudnnOptions::tune_engines: the weight gradients took half the SAEHD step on an H200).
struct ConvCase {
  graft::cpu::Conv2dGeometry g;
  cuda::DeviceBuffer<graft::bf16> x, w, b, y;
  cuda::DeviceBuffer<float> dw;
  double flops;
  ConvCase(bool encoder, cudaStream_t stream)
      : g(encoder ? graft::cpu::Conv2dGeometry{128, 128, 32, 32, 256, 5, 2, 2}
                  : graft::cpu::Conv2dGeometry{128, 256, 16, 16, 1024, 3, 1, 1}),
        x(random_bf16<graft::bf16>(std::size_t(g.batch * g.in_channels * g.in_h * g.in_w), 5, stream)),
        w(random_bf16<graft::bf16>(std::size_t(g.out_channels * g.in_channels * g.kernel * g.kernel), 6, stream)),
        b(random_bf16<graft::bf16>(std::size_t(g.out_channels), 7, stream)),
        y(random_bf16<graft::bf16>(std::size_t(g.batch * g.out_channels * g.out_h() * g.out_w()), 8, stream)),
        dw(std::size_t(g.out_channels * g.in_channels * g.kernel * g.kernel), stream),
        flops(2.0 * double(g.batch * g.out_channels * g.out_h() * g.out_w() * g.in_channels * g.kernel * g.kernel)) {}
};

void conv_forward(benchmark::State& state) {
  const cuda::Stream stream;
  cuda::Cudnn cudnn;
  ConvCase c(state.range(0) == 1, stream);
  time_on_device(state, stream, 0, [&] { cudnn.conv2d_forward(c.g, c.x.data(), c.w.data(), c.b.data(), c.y.data(), 0.1f, stream); });
  set_flops(state, c.flops);
}
BENCHMARK(conv_forward)->Arg(0)->Arg(1)->ArgName("encoder")->UseManualTime()->Unit(benchmark::kMicrosecond);

void conv_backward_data(benchmark::State& state) {
  const cuda::Stream stream;
  cuda::Cudnn cudnn;
  ConvCase c(state.range(0) == 1, stream);
  cuda::DeviceBuffer<graft::bf16> dx(std::size_t(c.g.batch * c.g.in_channels * c.g.in_h * c.g.in_w), stream);
  time_on_device(state, stream, 0, [&] { cudnn.conv2d_backward_data(c.g, c.y.data(), c.w.data(), dx.data(), stream); });
  set_flops(state, c.flops);
}
BENCHMARK(conv_backward_data)->Arg(0)->Arg(1)->ArgName("encoder")->UseManualTime()->Unit(benchmark::kMicrosecond);

// mode 0: the heuristic's engine, bf16 output (the default); 1: f32 output; 2: tuned (engines and output type timed).
void conv_backward_weights(benchmark::State& state) {
  const cuda::Stream stream;
  cuda::Cudnn cudnn({.weight_gradient_in_bf16 = state.range(1) != 1, .tune_engines = state.range(1) == 2});
  ConvCase c(state.range(0) == 1, stream);
  time_on_device(state, stream, 0, [&] { cudnn.conv2d_backward_weights(c.g, c.x.data(), c.y.data(), c.dw.data(), stream); });
  set_flops(state, c.flops);
}
BENCHMARK(conv_backward_weights)
    ->ArgsProduct({{0, 1}, {0, 1, 2}})
    ->ArgNames({"encoder", "mode"})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
#endif

// inter.dense1: 32768 -> 256 features at batch 128.
void dense_forward(benchmark::State& state) {
  const cuda::Stream stream;
  cuda::CublasLt lt;
  const cuda::DenseShape s{128, 32768, 256};
  auto x = random_bf16<graft::bf16>(std::size_t(s.batch * s.in_features), 8, stream);
  auto w = random_bf16<graft::bf16>(std::size_t(s.out_features * s.in_features), 9, stream);
  auto b = random_bf16<graft::bf16>(std::size_t(s.out_features), 10, stream);
  cuda::DeviceBuffer<graft::bf16> y(std::size_t(s.batch * s.out_features), stream);
  time_on_device(state, stream, 0, [&] { lt.dense_forward(s, x.data(), w.data(), b.data(), y.data(), stream); });
  set_flops(state, 2.0 * double(s.batch * s.in_features * s.out_features));
}
BENCHMARK(dense_forward)->UseManualTime()->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
