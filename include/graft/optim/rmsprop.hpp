// RMSprop in DeepFaceLab's form, the optimizer of Quick96 and of SAEHD with
// AdaBelief turned off.
//
// DeepFaceLab (core/leras/optimizers/RMSprop.py) keeps one accumulator and no
// momentum, and adds eps outside the square root; PyTorch's RMSprop has the
// same update but other defaults, so the DFL defaults are spelled out here to
// reproduce its runs. lr_dropout is DFL's option of updating only a random
// part of the weights each step (Quick96 uses 0.3).
#pragma once

#include "graft/optim/optimizer.hpp"
#include "graft/optim/update_rules.hpp"

namespace graft::optim {

struct RmspropConfig {
  static constexpr std::string_view json_name = "RMSprop config";

  float lr = 1e-3f;  // the base rate a schedule starts from; step() takes the rate of each step
  float rho = 0.9f;
  float eps = 1e-6f;
  float lr_dropout = 1.0f;  // the probability that a weight is updated in a step; 1 turns it off
  std::uint64_t lr_dropout_seed = 0;

  void validate() const {
    check(rho >= 0.0f && rho < 1.0f && eps > 0.0f, json_name, ": rho must be in [0, 1) and eps > 0, got rho ", rho, ", eps ",
          eps);
    check(lr_dropout > 0.0f && lr_dropout <= 1.0f, json_name, ": lr_dropout must be in (0, 1], got ", lr_dropout);
  }

  bool operator==(const RmspropConfig&) const = default;

  static constexpr auto fields() {
    return std::tuple{Field{"lr", &RmspropConfig::lr}, Field{"rho", &RmspropConfig::rho}, Field{"eps", &RmspropConfig::eps},
                      Field{"lr_dropout", &RmspropConfig::lr_dropout}, Field{"lr_dropout_seed", &RmspropConfig::lr_dropout_seed}};
  }
};

// a = rho a + (1 - rho) g^2
// w -= keep * lr * g / (sqrt(a) + eps)       keep: the lr_dropout mask, else 1
class Rmsprop : public OptimizerState<1> {
 public:
  using Config = RmspropConfig;
  static constexpr std::string_view name = "rmsprop";

  explicit Rmsprop(Config config = {}) : OptimizerState("optim::Rmsprop", {"accumulator"}), config_(config) { config.validate(); }

  const Config& config() const { return config_; }

  // The update of step t at learning rate lr (shared with the CUDA backend).
  RmspropRule::Hyper hyper() const { return {config_.rho, config_.eps}; }
  RmspropRule rule(float lr, std::int64_t t) const { return RmspropRule::at(hyper(), lr, t); }

  void step(std::span<float> params, std::span<const float> grads, float lr) {
    const std::int64_t t = begin_step(params, grads);
    apply_rule(rule(lr, t), params, grads, {slot(0)}, config_.lr_dropout, config_.lr_dropout_seed, t);
  }

 private:
  Config config_;
};

static_assert(Optimizer<Rmsprop>);

}  // namespace graft::optim
