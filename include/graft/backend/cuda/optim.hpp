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
#include "graft/core/dtype.hpp"
#include "graft/optim/update_rules.hpp"

namespace graft::cuda {

struct LrDropout {
  float keep_probability = 1.0f;  // 1: every weight is updated
  std::uint64_t seed = 0;
};

// w, g, the slots and w_bf16 (may be null) hold n values each, on the device.
template <class Rule>
void fused_step(const Rule& rule, float* w, const float* g, const std::array<float*, Rule::slots>& slots, bf16* w_bf16,
                std::int64_t n, const LrDropout& dropout, std::int64_t step, cudaStream_t stream);

extern template void fused_step(const optim::AdaBeliefRule&, float*, const float*, const std::array<float*, 2>&, bf16*,
                                std::int64_t, const LrDropout&, std::int64_t, cudaStream_t);
extern template void fused_step(const optim::AdamRule&, float*, const float*, const std::array<float*, 2>&, bf16*,
                                std::int64_t, const LrDropout&, std::int64_t, cudaStream_t);
extern template void fused_step(const optim::RmspropRule&, float*, const float*, const std::array<float*, 1>&, bf16*,
                                std::int64_t, const LrDropout&, std::int64_t, cudaStream_t);
extern template void fused_step(const optim::SgdRule&, float*, const float*, const std::array<float*, 1>&, bf16*, std::int64_t,
                                const LrDropout&, std::int64_t, cudaStream_t);

// A CPU optimizer's configuration and step count, with its state in device
// memory: `DeviceOptimizer<optim::AdaBelief> opt(config, n, stream)`, then
// `opt.step(w, g, w_bf16, lr)` each step. Its steps match the CPU
// optimizer's to rounding (tests/gpu).
template <class Optimizer>
class DeviceOptimizer {
 public:
  using Config = typename Optimizer::Config;
  using Rule = decltype(std::declval<const Optimizer&>().rule(0.0f, std::int64_t{1}));

  DeviceOptimizer(Config config, std::int64_t size, cudaStream_t stream)
      : host_(config), size_(size), state_(std::size_t(size) * Rule::slots, stream), stream_(stream) {
    state_.fill_bytes(0);
  }

  void step(float* w, const float* g, bf16* w_bf16, float lr) {
    ++steps_;
    std::array<float*, Rule::slots> slots;
    for (int k = 0; k < Rule::slots; ++k) slots[std::size_t(k)] = state_.data() + k * size_;
    LrDropout dropout;
    if constexpr (requires(const Config& c) { c.lr_dropout; }) dropout = {host_.config().lr_dropout, host_.config().lr_dropout_seed};
    fused_step(host_.rule(lr, steps_), w, g, slots, w_bf16, size_, dropout, steps_, stream_);
  }

  std::int64_t steps() const { return steps_; }
  // Slot k (in the CPU optimizer's order) on the device.
  const float* slot(int k) const { return state_.data() + k * size_; }

 private:
  Optimizer host_;
  std::int64_t size_;
  DeviceBuffer<float> state_;
  cudaStream_t stream_;
  std::int64_t steps_ = 0;
};

}  // namespace graft::cuda
