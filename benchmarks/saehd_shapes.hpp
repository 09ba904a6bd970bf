// The convolution geometries of SAEHD-df at resolution 64, 8 images per side,
// shared by the graft benchmarks and, as a table, the PyTorch reference script.
#pragma once

#include <array>
#include <string_view>
#include <utility>

#include <benchmark/benchmark.h>

#include <string>

#include <graft/backend/cpu/conv.hpp>

namespace graft::bench {

// {batch, in_channels, in_h, in_w, out_channels, kernel, stride, padding}
inline constexpr std::array<std::pair<std::string_view, cpu::Conv2dGeometry>, 8> saehd_df64_convolutions{{
    {"encoder.down0", {16, 3, 64, 64, 64, 5, 2, 2}},
    {"encoder.down1", {16, 64, 32, 32, 128, 5, 2, 2}},
    {"encoder.down3", {16, 256, 8, 8, 512, 5, 2, 2}},
    {"decoder.upscale0", {8, 256, 8, 8, 2048, 3, 1, 1}},
    {"decoder.res0", {8, 512, 16, 16, 512, 3, 1, 1}},
    {"decoder.upscale2", {8, 256, 32, 32, 512, 3, 1, 1}},
    {"decoder.res2", {8, 128, 64, 64, 128, 3, 1, 1}},
    {"decoder.out_conv", {8, 128, 64, 64, 3, 1, 1, 0}},
}};

// Multiply-adds of one convolution, counted twice (the usual FLOP count).
inline double convolution_flops(const cpu::Conv2dGeometry& g) {
  return 2.0 * g.batch * g.out_channels * g.out_h() * g.out_w() * g.in_channels * g.kernel * g.kernel;
}

inline void report_gflops(benchmark::State& state, const cpu::Conv2dGeometry& g) {
  state.counters["GFLOP"] = benchmark::Counter(convolution_flops(g) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// Registers "<prefix>_forward/<geometry>", "..._backward_data/..." and
// "..._backward_weights/..." for every geometry above.
using ConvolutionBenchmark = void (*)(benchmark::State&, cpu::Conv2dGeometry);
inline void register_convolution_benchmarks(const std::string& prefix, ConvolutionBenchmark forward,
                                            ConvolutionBenchmark backward_data, ConvolutionBenchmark backward_weights) {
  for (const auto& [name, g] : saehd_df64_convolutions)
    for (const auto& [direction, run] : {std::pair{"_forward/", forward}, std::pair{"_backward_data/", backward_data},
                                         std::pair{"_backward_weights/", backward_weights}})
      benchmark::RegisterBenchmark((prefix + direction + std::string(name)).c_str(), run, g)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
}

}  // namespace graft::bench
