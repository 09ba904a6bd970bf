// The Optimizer concept and what every optimizer shares.
//
// A model keeps its parameters and gradients in two flat buffers, so an
// optimizer is one fused, element-wise pass over them: no per-tensor loop, no
// per-tensor launch, and the same code for a 100-weight test and a 57M-weight
// SAEHD model. The learning rate comes with each step, so schedules live
// outside (schedule.hpp) and any schedule drives any optimizer. The state is
// a list of named flat buffers plus a step count, which is all a checkpoint
// needs to resume a run bit for bit. Hyper-parameters are an aggregate Config
// that round-trips through JSON; a misspelt key is an error, not a default.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "graft/core/buffer.hpp"
#include "graft/core/error.hpp"
#include "graft/core/philox.hpp"
#include "graft/core/state_slot.hpp"
#include "graft/optim/update_rules.hpp"
#include "graft/optim/config.hpp"

namespace graft::optim {

using graft::StateSlot;  // optimizer moments and the like (core/state_slot.hpp)

// An optimizer is built from its Config, names itself for checkpoints
// ("adam"), updates the whole flat buffer in step() with the rate of that
// step, and exposes its state (named slots and the step count) for a
// checkpoint to save and restore.
template <class O>
concept Optimizer = std::constructible_from<O, typename O::Config> &&
    requires(O& o, const O& co, std::span<float> params, std::span<const float> grads, float lr, std::size_t size,
             std::int64_t steps) {
  { O::name } -> std::convertible_to<std::string_view>;
  { co.config() } -> std::same_as<const typename O::Config&>;
  { o.step(params, grads, lr) } -> std::same_as<void>;
  { o.bind(size) } -> std::same_as<void>;
  { o.state() } -> std::same_as<std::vector<StateSlot>>;
  { co.steps() } -> std::same_as<std::int64_t>;
  { o.set_steps(steps) } -> std::same_as<void>;
};

// The named state buffers and the step count of one optimizer, its base
// class. All slots live in one flat buffer, one after another (each starting
// on a 64-byte boundary), as the parameters and gradients do. They are
// allocated (zeroed) by the first step or by bind(); after
// that they belong to a parameter buffer of that size, and a step on another
// size is an error. A checkpoint restores a run with bind(size), a copy into
// each slot of state() and set_steps().
template <std::size_t SlotCount>
class OptimizerState {
 public:
  OptimizerState(std::string_view who, std::array<std::string_view, SlotCount> names) : who_(who), names_(names) {}

  void bind(std::size_t size) {
    if (bound_) {
      check(size == size_, who_, ": optimizer state holds ", size_, " elements, the parameter buffer has ", size);
      return;
    }
    stride_ = (size + 15) / 16 * 16;
    buffer_ = AlignedBuffer<float>(SlotCount * stride_, 0.0f);
    size_ = size;
    bound_ = true;
  }

  // Empty spans until the state is bound.
  std::vector<StateSlot> state() {
    std::vector<StateSlot> out;
    for (std::size_t i = 0; i < SlotCount; ++i) out.push_back({names_[i], std::span<float>(slot(i), bound_ ? size_ : 0)});
    return out;
  }

  std::int64_t steps() const { return steps_; }
  void set_steps(std::int64_t steps) {
    check(steps >= 0, who_, "::set_steps: the step count must be >= 0, got ", steps);
    steps_ = steps;
  }

 protected:
  // Checks the two buffers of a step, binds the state to them and returns
  // the number of this step, counting from 1.
  std::int64_t begin_step(std::span<float> params, std::span<const float> grads) {
    check(params.size() == grads.size(), who_, "::step: ", params.size(), " parameters but ", grads.size(), " gradients");
    bind(params.size());
    return ++steps_;
  }

  float* slot(std::size_t i) { return buffer_.data() + i * stride_; }

 private:
  std::string_view who_;
  std::array<std::string_view, SlotCount> names_;
  AlignedBuffer<float> buffer_;
  std::size_t size_ = 0, stride_ = 0;
  bool bound_ = false;
  std::int64_t steps_ = 0;
};

// The fused pass: update(i) for every element, threads over contiguous
// chunks (schedule static) and SIMD within a chunk.
template <class Update>
void for_each_element(std::size_t size, Update&& update) {
  const auto n = static_cast<std::int64_t>(size);
#pragma omp parallel for simd schedule(static)
  for (std::int64_t i = 0; i < n; ++i) update(i);
}

// DeepFaceLab's lr_dropout: element i is updated at step t only where
// Philox(seed).uniform(i, t) < keep_probability, so the mask depends on
// (seed, t, i) alone and not on threads or on a resume. update(i, keep) gets
// keep = 1 or 0; with keep_probability >= 1 it is the plain fused pass.
template <class Update>
void for_each_element(std::size_t size, float keep_probability, std::uint64_t seed, std::int64_t step, Update&& update) {
  if (keep_probability >= 1.0f) {
    for_each_element(size, [&](std::int64_t i) { update(i, 1.0f); });
    return;
  }
  // One Philox block gives the draws of four consecutive elements.
  const Philox rng(seed);
  const auto n = static_cast<std::int64_t>(size);
  const std::int64_t blocks = (n + 3) / 4;
#pragma omp parallel for schedule(static)
  for (std::int64_t b = 0; b < blocks; ++b) {
    const Philox::Block bits = rng.block(static_cast<std::uint64_t>(b), static_cast<std::uint64_t>(step));
    for (std::int64_t k = 0; k < 4 && 4 * b + k < n; ++k) {
      update(4 * b + k, lr_dropout_keep(bits[static_cast<std::size_t>(k)], keep_probability));
    }
  }
}

// One optimizer step on the CPU: rule (update_rules.hpp) for every element,
// with its state read from and written back to `slots`.
template <class Rule>
void apply_rule(const Rule& rule, std::span<float> params, std::span<const float> grads,
                const std::array<float*, Rule::slots>& slots, float keep_probability = 1.0f, std::uint64_t seed = 0,
                std::int64_t step = 0) {
  float* w = params.data();
  const float* g = grads.data();
  for_each_element(params.size(), keep_probability, seed, step, [=](std::int64_t i, float keep) {
    float state[Rule::slots];
    for (int k = 0; k < Rule::slots; ++k) state[k] = slots[static_cast<std::size_t>(k)][i];
    rule(w[i], g[i], state, keep);
    for (int k = 0; k < Rule::slots; ++k) slots[static_cast<std::size_t>(k)][i] = state[k];
  });
}

}  // namespace graft::optim
