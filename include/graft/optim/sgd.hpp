// Stochastic gradient descent with momentum, as torch.optim.SGD.
//
// The baseline every other optimizer is compared against, and the one whose
// update a reader can check by hand. It follows PyTorch exactly (L2 weight
// decay added to the gradient, the momentum buffer starting at the first
// gradient, optional dampening and Nesterov) so that a run can be checked
// against a PyTorch reference step for step.
#pragma once

#include "graft/optim/optimizer.hpp"
#include "graft/optim/update_rules.hpp"

namespace graft::optim {

struct SgdConfig {
  static constexpr std::string_view json_name = "SGD config";

  float lr = 1e-2f;  // the base rate a schedule starts from; step() takes the rate of each step
  float momentum = 0.9f;
  float dampening = 0.0f;
  float weight_decay = 0.0f;  // L2: added to the gradient as weight_decay * w
  bool nesterov = false;

  void validate() const {
    check(momentum >= 0.0f && weight_decay >= 0.0f && dampening >= 0.0f && dampening <= 1.0f, json_name,
          ": momentum and weight_decay must be >= 0 and dampening in [0, 1], got momentum ", momentum, ", weight_decay ",
          weight_decay, ", dampening ", dampening);
    check(!nesterov || (momentum > 0.0f && dampening == 0.0f), json_name,
          ": nesterov needs momentum > 0 and dampening 0, got momentum ", momentum, ", dampening ", dampening);
  }

  bool operator==(const SgdConfig&) const = default;

  static constexpr auto fields() {
    return std::tuple{Field{"lr", &SgdConfig::lr}, Field{"momentum", &SgdConfig::momentum},
                      Field{"dampening", &SgdConfig::dampening}, Field{"weight_decay", &SgdConfig::weight_decay},
                      Field{"nesterov", &SgdConfig::nesterov}};
  }
};

// d = g + weight_decay * w
// b = d at step 1, else momentum * b + (1 - dampening) * d
// w -= lr * (nesterov ? d + momentum * b : b)      (w -= lr * d when momentum is 0)
class Sgd : public OptimizerState<1> {
 public:
  using Config = SgdConfig;
  static constexpr std::string_view name = "sgd";

  explicit Sgd(Config config = {}) : OptimizerState("optim::Sgd", {"momentum"}), config_(config) { config.validate(); }

  const Config& config() const { return config_; }

  // The update of step t at learning rate lr (shared with the CUDA backend).
  SgdRule::Hyper hyper() const { return {config_.momentum, config_.dampening, config_.weight_decay, config_.nesterov}; }
  SgdRule rule(float lr, std::int64_t t) const { return SgdRule::at(hyper(), lr, t); }

  void step(std::span<float> params, std::span<const float> grads, float lr) {
    const std::int64_t t = begin_step(params, grads);
    apply_rule(rule(lr, t), params, grads, {slot(0)});
  }

 private:
  Config config_;
};

static_assert(Optimizer<Sgd>);

}  // namespace graft::optim
