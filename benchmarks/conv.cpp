// Convolution forward, backward-data and backward-weights at the shapes of
// SAEHD-df at resolution 64 (8 images per side: the encoder sees 16, each
// decoder 8). benchmarks/torch_cpu_reference.py times PyTorch on the same
// shapes and thread count; docs/benchmarks.md has both.
#include <benchmark/benchmark.h>

#include <graft/backend/cpu/conv.hpp>
#include <graft/core/tensor.hpp>

#include "saehd_shapes.hpp"

namespace {

using graft::cpu::Conv2dGeometry;

struct Buffers {
  graft::Tensor x, w, b, y;
  explicit Buffers(const Conv2dGeometry& g)
      : x(graft::Shape{g.batch, g.in_channels, g.in_h, g.in_w}, 0.5f),
        w(graft::Shape{g.out_channels, g.in_channels, g.kernel, g.kernel}, 0.01f),
        b(graft::Shape{g.out_channels}, 0.1f),
        y(graft::Shape{g.batch, g.out_channels, g.out_h(), g.out_w()}, 0.25f) {}
};

void conv_forward(benchmark::State& state, Conv2dGeometry g) {
  Buffers t(g);
  for (auto _ : state) graft::cpu::conv2d_forward(g, t.x.data(), t.w.data(), t.b.data(), t.y.data());
  graft::bench::report_gflops(state, g);
}

void conv_backward_data(benchmark::State& state, Conv2dGeometry g) {
  Buffers t(g);
  for (auto _ : state) graft::cpu::conv2d_backward_data(g, t.y.data(), t.w.data(), t.x.data());
  graft::bench::report_gflops(state, g);
}

void conv_backward_weights(benchmark::State& state, Conv2dGeometry g) {
  Buffers t(g);
  graft::Tensor dw(t.w.shape(), 0.0f), db(t.b.shape(), 0.0f);
  for (auto _ : state) graft::cpu::conv2d_backward_weights(g, t.x.data(), t.y.data(), dw.data(), db.data());
  graft::bench::report_gflops(state, g);
}

const bool registered = [] {
  graft::bench::register_convolution_benchmarks("conv", conv_forward, conv_backward_data, conv_backward_weights);
  return true;
}();

}  // namespace
