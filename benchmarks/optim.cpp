// Each optimizer's fused step over one flat buffer the size of SAEHD-df-128's
// parameters (57.5M floats, 230 MB a buffer: far beyond any cache), and over
// its encoder's alone (4.3M floats, 17 MB a buffer), where a step's buffers
// together fit in the 300 MiB of L3 this VM reports.
//
// A step reads and writes the parameters and every state slot and reads the
// gradients, once each, so bytes processed = (3 + 2 x slots) floats per
// parameter: the step should run at the machine's memory bandwidth.
// global_norm (the first pass of clip_by_global_norm) reads the gradients once.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>

#include <graft/optim/adabelief.hpp>
#include <graft/optim/adam.hpp>
#include <graft/optim/clip.hpp>
#include <graft/optim/rmsprop.hpp>
#include <graft/optim/sgd.hpp>

#include "micro_benchmark.hpp"
#include "saehd.hpp"

namespace {

namespace optim = graft::optim;
using graft::Shape;
using graft::Tensor;

constexpr faceswap::Options df128{};
constexpr std::pair<std::string_view, std::int64_t> flat_buffer_sizes[] = {
    {"saehd_df128", faceswap::DF<df128>::Model::buffer_size},
    {"saehd_df128_encoder", graft::nn::parameter_span<faceswap::Encoder<df128>, faceswap::image_shape<df128>>},
};

struct FlatBuffers {
  Tensor params, grads;
};

// Filled once per size and shared by every benchmark: Philox takes about a
// second over 57M floats, and a step moves each parameter by about lr, so the next
// optimizer still sees parameters of the same size.
FlatBuffers& flat_buffers(std::int64_t size) {
  static std::map<std::int64_t, FlatBuffers> filled;
  auto it = filled.find(size);
  if (it == filled.end())
    it = filled
             .emplace(size, FlatBuffers{graft::bench::random_tensor(Shape{size}, 1, -0.05f, 0.05f),
                                        graft::bench::random_tensor(Shape{size}, 2, -1e-3f, 1e-3f)})
             .first;
  return it->second;
}

template <class O>
void optimizer_step(benchmark::State& state, typename O::Config config, std::int64_t size) {
  FlatBuffers& buffers = flat_buffers(size);
  O optimizer(config);
  const auto floats_per_parameter = static_cast<std::int64_t>(3 + 2 * optimizer.state().size());
  // The first step allocates and zeroes the state (and SGD's copies the gradient): not what a step costs after.
  optimizer.step(buffers.params.span(), buffers.grads.span(), config.lr);
  for (auto _ : state) optimizer.step(buffers.params.span(), buffers.grads.span(), config.lr);
  graft::bench::report_floats_moved(state, floats_per_parameter * size);
  state.SetItemsProcessed(state.iterations() * size);
}

void global_norm(benchmark::State& state, std::int64_t size) {
  const FlatBuffers& buffers = flat_buffers(size);
  for (auto _ : state) benchmark::DoNotOptimize(optim::global_norm(buffers.grads.span()));
  graft::bench::report_floats_moved(state, size);
  state.SetItemsProcessed(state.iterations() * size);
}

// Registers "<label>/<size name>" for every flat buffer size.
template <class Run, class... Args>
void register_sizes(const std::string& label, Run run, Args... args) {
  for (const auto& [size_name, size] : flat_buffer_sizes)
    benchmark::RegisterBenchmark((label + "/" + std::string(size_name)).c_str(), run, args..., size)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
}

template <class O>
void register_optimizer(typename O::Config config = {}, const std::string& variant = "") {
  register_sizes(std::string(O::name) + variant, optimizer_step<O>, config);
}

const bool registered = [] {
  register_optimizer<optim::Sgd>();
  register_optimizer<optim::Adam>();
  register_optimizer<optim::AdamW>();
  register_optimizer<optim::Rmsprop>();
  register_optimizer<optim::AdaBelief>();
  // DeepFaceLab's lr_dropout draws a Philox number per weight and step.
  register_optimizer<optim::AdaBelief>({.lr_dropout = 0.3f}, "_lr_dropout");
  register_sizes("global_norm", global_norm);
  return true;
}();

}  // namespace
