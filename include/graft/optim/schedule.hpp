// Learning-rate schedules: the rate of step k as a pure function of k.
//
// An optimizer takes the rate with each step, so a schedule is a small value
// type called with the optimizer's step count before the step (0 for the
// first step). Being a pure function of the step, a schedule resumes from a
// checkpoint by itself: restore the optimizer's steps() and the rates follow.
// Each schedule round-trips its fields through JSON like an optimizer config.
#pragma once

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <numbers>

#include "graft/optim/config.hpp"

namespace graft::optim {

template <class S>
concept Schedule = JsonConfig<S> && requires(const S& s, std::int64_t step) {
  { s(step) } -> std::same_as<float>;
};

struct Constant {
  static constexpr std::string_view json_name = "Constant schedule";

  float lr = 1e-3f;

  float operator()(std::int64_t) const { return lr; }

  void validate() const { check(lr >= 0.0f, json_name, ": lr must be >= 0, got ", lr); }

  bool operator==(const Constant&) const = default;

  static constexpr auto fields() { return std::tuple{Field{"lr", &Constant::lr}}; }
};

// Linear warm-up over warmup_steps (base * (k + 1) / warmup_steps), then half
// a cosine from base down to min, reached at total_steps and kept after.
struct Cosine {
  static constexpr std::string_view json_name = "Cosine schedule";

  float base = 1e-3f;
  float min = 0.0f;
  std::int64_t total_steps = 1;
  std::int64_t warmup_steps = 0;

  float operator()(std::int64_t step) const {
    if (step < warmup_steps) return static_cast<float>(base * static_cast<double>(step + 1) / static_cast<double>(warmup_steps));
    const auto decay_steps = static_cast<double>(std::max<std::int64_t>(1, total_steps - warmup_steps));
    const double progress = std::clamp(static_cast<double>(step - warmup_steps) / decay_steps, 0.0, 1.0);
    return static_cast<float>(min + (static_cast<double>(base) - min) * 0.5 * (1.0 + std::cos(std::numbers::pi * progress)));
  }

  void validate() const {
    check(base >= 0.0f && min >= 0.0f, json_name, ": base and min must be >= 0, got ", base, " and ", min);
    check(total_steps >= 1 && warmup_steps >= 0 && warmup_steps <= total_steps, json_name,
          ": needs total_steps >= 1 and 0 <= warmup_steps <= total_steps, got total_steps ", total_steps, ", warmup_steps ",
          warmup_steps);
  }

  bool operator==(const Cosine&) const = default;

  static constexpr auto fields() {
    return std::tuple{Field{"base", &Cosine::base}, Field{"min", &Cosine::min}, Field{"total_steps", &Cosine::total_steps},
                      Field{"warmup_steps", &Cosine::warmup_steps}};
  }
};

// base * gamma^(k / every): the rate drops by gamma every `every` steps.
struct Step {
  static constexpr std::string_view json_name = "Step schedule";

  float base = 1e-3f;
  float gamma = 0.1f;
  std::int64_t every = 1;

  float operator()(std::int64_t step) const {
    return static_cast<float>(base *
                              std::pow(static_cast<double>(gamma), static_cast<double>(step / std::max<std::int64_t>(1, every))));
  }

  void validate() const {
    check(base >= 0.0f && gamma > 0.0f && every >= 1, json_name, ": needs base >= 0, gamma > 0 and every >= 1, got base ", base,
          ", gamma ", gamma, ", every ", every);
  }

  bool operator==(const Step&) const = default;

  static constexpr auto fields() {
    return std::tuple{Field{"base", &Step::base}, Field{"gamma", &Step::gamma}, Field{"every", &Step::every}};
  }
};

static_assert(Schedule<Constant>);
static_assert(Schedule<Cosine>);
static_assert(Schedule<Step>);

}  // namespace graft::optim
