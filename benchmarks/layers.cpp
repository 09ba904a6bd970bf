// Forward and backward of the nn layers other than the convolutions
// (benchmarks/conv.cpp), each at the largest shape at which SAEHD-df at
// resolution 128 (ae 256, e 64, d 64; examples/faceswap/saehd.hpp) runs it,
// and Dense at both of the inter's, 8 images per side. The LeakyReLU<0.1f> inside Downscale and Upscale is
// fused into its convolution; the one that runs alone is a residual block's.
//
// Bytes processed are the least any implementation must move: the layer's
// inputs read and outputs written once, its parameters read and their
// gradients read and written. A layer that takes more passes over memory
// shows up as a lower bandwidth. Dense, a GEMM, also reports GFLOP/s.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <utility>

#include <graft/nn.hpp>

#include "micro_benchmark.hpp"

namespace {

namespace nn = graft::nn;
using graft::Shape;
using graft::Tensor;
using graft::bench::images_per_side;
using graft::bench::random_tensor;

// What a layer's backward reads besides dy and its parameters.
enum class BackwardReads { nothing, input, output };

// One batch through layer L: forward has run once, so backward has its y and trace.
template <class L, Shape In>
struct LayerRun {
  using Impl = nn::Bound<L, In>;
  static constexpr std::int64_t parameters = nn::parameter_count<L, In>;

  Tensor p = random_tensor(Shape{nn::parameter_span<L, In>}, 1, -0.05f, 0.05f);
  Tensor g = random_tensor(p.shape(), 2);
  Tensor x = random_tensor(graft::batched(images_per_side, In), 3);
  Tensor y{graft::batched(images_per_side, Impl::out)};
  Tensor dy = random_tensor(y.shape(), 4);
  Tensor dx{x.shape()};
  typename Impl::Trace trace;

  LayerRun() { forward(); }
  void forward() { Impl::forward(p.data(), x, y, trace); }
  void backward() { Impl::backward(p.data(), g.data(), x, y, dy, dx, trace); }
};

void report_gflops(benchmark::State& state, double flops) {
  if (flops > 0.0) state.counters["GFLOP"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// gemm_flops: the FLOPs of one sample's forward GEMM (Dense), else 0;
// backward runs two such GEMMs, for the weight and for the input gradient.
template <class L, Shape In>
void layer_forward(benchmark::State& state, double gemm_flops) {
  LayerRun<L, In> run;
  for (auto _ : state) run.forward();
  graft::bench::report_floats_moved(state, run.x.numel() + run.y.numel() + run.parameters);
  report_gflops(state, gemm_flops * images_per_side);
}

template <class L, Shape In>
void layer_backward(benchmark::State& state, BackwardReads reads, double gemm_flops) {
  LayerRun<L, In> run;
  for (auto _ : state) run.backward();
  const std::int64_t activation_read = reads == BackwardReads::input    ? run.x.numel()
                                       : reads == BackwardReads::output ? run.y.numel()
                                                                        : 0;
  graft::bench::report_floats_moved(state, run.dy.numel() + run.dx.numel() + activation_read + 3 * run.parameters);
  report_gflops(state, 2.0 * gemm_flops * images_per_side);
}

// Registers "<layer>_forward/<where>" and "<layer>_backward/<where>".
template <class L, Shape In>
void register_layer(const std::string& layer, const std::string& where, BackwardReads reads, double gemm_flops = 0.0) {
  benchmark::RegisterBenchmark((layer + "_forward/" + where).c_str(), layer_forward<L, In>, gemm_flops)
      ->Unit(benchmark::kMicrosecond)
      ->UseRealTime();
  benchmark::RegisterBenchmark((layer + "_backward/" + where).c_str(), layer_backward<L, In>, reads, gemm_flops)
      ->Unit(benchmark::kMicrosecond)
      ->UseRealTime();
}

template <int Out, Shape In>
void register_dense(const std::string& where) {
  register_layer<nn::Dense<Out>, In>("dense", where, BackwardReads::input, 2.0 * static_cast<double>(In[0]) * Out);
}

// The decoder's output is ConcatBranches of its rgb (3) and mask (1) heads:
// its own work is concat_channels forward and split_channels backward (the
// loss splits the output the same way).
constexpr Shape decoder_rgb{images_per_side, 3, 128, 128}, decoder_mask{images_per_side, 1, 128, 128},
    decoder_output{images_per_side, 4, 128, 128};

void concat_rgb_and_mask(benchmark::State& state) {
  const Tensor rgb = random_tensor(decoder_rgb, 1), mask = random_tensor(decoder_mask, 2);
  Tensor out(decoder_output);
  for (auto _ : state) nn::concat_channels_into({rgb.view(), mask.view()}, out.view());
  graft::bench::report_floats_moved(state, 2 * out.numel());
}

void split_rgb_and_mask(benchmark::State& state) {
  const Tensor d_out = random_tensor(decoder_output, 3);
  for (auto _ : state) benchmark::DoNotOptimize(nn::split_channels(d_out.view(), {3, 1}));
  graft::bench::report_floats_moved(state, 2 * d_out.numel());
}

const bool registered = [] {
  using enum BackwardReads;
  // Dense first: Google Benchmark's CSV output takes its columns from the
  // first benchmark and aborts on a counter (GFLOP) that appears only later.
  register_dense<256, Shape{32768}>("inter.dense1");
  register_dense<16384, Shape{256}>("inter.dense2");
  register_layer<nn::Flatten, Shape{512, 8, 8}>("flatten", "encoder.flatten", nothing);
  register_layer<nn::PixelNorm, Shape{32768}>("pixel_norm", "encoder.pixel_norm", input);  // df-ud only
  register_layer<nn::Reshape<256, 8, 8>, Shape{16384}>("reshape", "inter.reshape", nothing);
  register_layer<nn::DepthToSpace<2>, Shape{512, 64, 64}>("depth_to_space", "decoder.upscale2", nothing);
  register_layer<nn::LeakyReLU<0.2f>, Shape{128, 128, 128}>("leaky_relu", "decoder.res2.post", output);
  // An Identity body leaves what Residual adds around it: two buffers from
  // the allocator's cache, the add and Post (plus the body's one copy).
  register_layer<nn::Residual<nn::Identity, nn::LeakyReLU<0.2f>>, Shape{128, 128, 128}>("residual_identity_body", "decoder.res2",
                                                                                        output);
  register_layer<nn::Sigmoid, Shape{3, 128, 128}>("sigmoid", "decoder.rgb_out", output);
  for (auto [name, run] : {std::pair{"concat_channels/decoder.rgb_mask", &concat_rgb_and_mask},
                           std::pair{"split_channels/decoder.rgb_mask", &split_rgb_and_mask}})
    benchmark::RegisterBenchmark(name, run)->Unit(benchmark::kMicrosecond)->UseRealTime();
  return true;
}();

}  // namespace
