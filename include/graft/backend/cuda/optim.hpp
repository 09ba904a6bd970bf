// Optimizers on the GPU: one kernel per step over the flat parameter buffer.
//
// Each element runs the optimizer's rule (optim/update_rules.hpp, the same
// code the CPU backend runs), with DeepFaceLab's lr_dropout mask drawn from
// the same Philox words as on the CPU, and writes the bf16 copy of the new
// weight that mixed-precision forward and backward read: fp32 master
// weights and state, bf16 weights for compute, one trip through memory.
#pragma once

#include <cuda_runtime_api.h>

#include <array>
#include <cstdint>
#include <type_traits>

#include "graft/backend/cuda/memory.hpp"
#include "graft/backend/cuda/stream.hpp"
#include "graft/core/dtype.hpp"
#include "graft/optim/update_rules.hpp"

namespace graft::cuda {

struct LrDropout {
  float keep_probability = 1.0f;  // 1: every weight is updated
  std::uint64_t seed = 0;
};

// What changes from step to step, in device memory: the kernel reads it when
// it runs, so a captured step replays as the next step, not as the one it
// was captured at.
struct StepScalars {
  float lr;
  std::int64_t step;  // of the step running now: 1, 2, ...
};

// One step: step += 1 (on the device), then the rule made from `hyper` and
// the scalars for every element. w, g, the slots and w_bf16 (may be null)
// hold n values each, on the device.
template <class Rule>
void fused_step(const typename Rule::Hyper& hyper, StepScalars* scalars, float* w, const float* g,
                const std::array<float*, Rule::slots>& slots, bf16* w_bf16, std::int64_t n, const LrDropout& dropout,
                cudaStream_t stream);

#define GRAFT_CUDA_FUSED_STEP(Rule, extern_)                                                                               \
  extern_ template void fused_step<optim::Rule>(const optim::Rule::Hyper&, StepScalars*, float*, const float*,          \
                                                 const std::array<float*, optim::Rule::slots>&, bf16*, std::int64_t, \
                                                 const LrDropout&, cudaStream_t);
GRAFT_CUDA_FUSED_STEP(AdaBeliefRule, extern)
GRAFT_CUDA_FUSED_STEP(AdamRule, extern)
GRAFT_CUDA_FUSED_STEP(RmspropRule, extern)
GRAFT_CUDA_FUSED_STEP(SgdRule, extern)

// A CPU optimizer's configuration, with its state, step count and learning
// rate in device memory: `DeviceOptimizer<optim::AdaBelief> opt(config, n, stream)`,
// then `opt.step(w, g, w_bf16, lr)` each step, or captured once and replayed.
// Its steps match the CPU optimizer's to rounding (tests/gpu).
//
// The learning rate goes through pinned host memory that the step's copy
// reads when it runs: step() waits, if need be, until the previous step's
// copy has read it; set_lr() changes it for the next replay of a captured
// step (a constant rate, SAEHD's, needs nothing).
template <class Optimizer>
class DeviceOptimizer {
 public:
  using Config = typename Optimizer::Config;
  using Rule = decltype(std::declval<const Optimizer&>().rule(0.0f, std::int64_t{1}));

  DeviceOptimizer(Config config, std::int64_t size, cudaStream_t stream)
      : host_(config), size_(size), state_(std::size_t(size) * Rule::slots, stream), scalars_(1, stream), stream_(stream) {
    state_.fill_bytes(0);
    scalars_.fill_bytes(0);
    check(cudaMallocHost(reinterpret_cast<void**>(&pinned_lr_), sizeof(float)), "cudaMallocHost (the learning rate)");
  }
  ~DeviceOptimizer() { cudaFreeHost(pinned_lr_); }
  DeviceOptimizer(const DeviceOptimizer&) = delete;
  DeviceOptimizer& operator=(const DeviceOptimizer&) = delete;

  // The rate the next replay of a captured step reads (call it once the previous replay has run).
  void set_lr(float lr) { *pinned_lr_ = lr; }

  // Enqueues one step on the stream (capturable).
  void step(float* w, const float* g, bf16* w_bf16, float lr) {
    cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
    check(cudaStreamIsCapturing(stream_, &capturing), "cudaStreamIsCapturing");
    const bool plain = capturing == cudaStreamCaptureStatusNone;
    // Run plainly, the host may be steps ahead of the device: the previous
    // step's copy must have read the rate before it is overwritten.
    if (plain && lr_copy_pending_) lr_copied_.synchronize();
    set_lr(lr);
    check(cudaMemcpyAsync(&scalars_.data()->lr, pinned_lr_, sizeof(float), cudaMemcpyHostToDevice, stream_),
          "cudaMemcpyAsync (the learning rate)");
    if (plain) lr_copied_.record(stream_);
    lr_copy_pending_ = plain;
    std::array<float*, Rule::slots> slots;
    for (int k = 0; k < Rule::slots; ++k) slots[std::size_t(k)] = state_.data() + k * size_;
    LrDropout dropout;
    if constexpr (requires(const Config& c) { c.lr_dropout; }) dropout = {host_.config().lr_dropout, host_.config().lr_dropout_seed};
    fused_step<Rule>(host_.hyper(), scalars_.data(), w, g, slots, w_bf16, size_, dropout, stream_);
  }

  // Steps run so far, replays included (reads the device; synchronises the stream).
  std::int64_t steps() const {
    StepScalars s{};
    check(cudaMemcpyAsync(&s, scalars_.data(), sizeof s, cudaMemcpyDeviceToHost, stream_), "cudaMemcpyAsync (the step count)");
    check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
    return s.step;
  }
  // Slot k (in the CPU optimizer's order) on the device.
  const float* slot(int k) const { return state_.data() + k * size_; }
  float* slot(int k) { return state_.data() + k * size_; }
  static constexpr int slots = Rule::slots;

  // The step count the next step continues from (a resumed run's); synchronises the stream.
  void set_steps(std::int64_t steps) {
    StepScalars s{};
    check(cudaMemcpyAsync(&s, scalars_.data(), sizeof s, cudaMemcpyDeviceToHost, stream_), "cudaMemcpyAsync (the step count)");
    check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
    s.step = steps;
    check(cudaMemcpyAsync(scalars_.data(), &s, sizeof s, cudaMemcpyHostToDevice, stream_), "cudaMemcpyAsync (the step count)");
    check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
  }

 private:
  Optimizer host_;
  std::int64_t size_;
  DeviceBuffer<float> state_;
  DeviceBuffer<StepScalars> scalars_;
  float* pinned_lr_ = nullptr;
  Event lr_copied_;
  bool lr_copy_pending_ = false;
  cudaStream_t stream_;
};

}  // namespace graft::cuda
