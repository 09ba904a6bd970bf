// AdaBelief in DeepFaceLab's form, SAEHD's default optimizer.
//
// AdaBelief (Zhuang et al. 2020) scales the step by how far the gradient is
// from its running mean rather than by its size. DeepFaceLab's version
// (core/leras/optimizers/AdaBelief.py) differs from the paper's: no bias
// correction, eps 1e-6 added outside the square root, and the deviation
// taken from the already-updated mean. SAEHD's trained models and their
// published learning rate (5e-5) assume exactly this form, so it is kept.
// lr_dropout is DFL's option of updating only a random part of the weights
// each step.
#pragma once

#include "graft/optim/optimizer.hpp"
#include "graft/optim/update_rules.hpp"

namespace graft::optim {

struct AdaBeliefConfig {
  static constexpr std::string_view json_name = "AdaBelief config";

  float lr = 5e-5f;  // the base rate a schedule starts from; step() takes the rate of each step
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-6f;
  float lr_dropout = 1.0f;  // the probability that a weight is updated in a step; 1 turns it off
  std::uint64_t lr_dropout_seed = 0;

  void validate() const {
    check(beta1 >= 0.0f && beta1 < 1.0f && beta2 >= 0.0f && beta2 < 1.0f, json_name, ": beta1 and beta2 must be in [0, 1), got ",
          beta1, " and ", beta2);
    check(eps > 0.0f, json_name, ": eps must be > 0, got ", eps);
    check(lr_dropout > 0.0f && lr_dropout <= 1.0f, json_name, ": lr_dropout must be in (0, 1], got ", lr_dropout);
  }

  bool operator==(const AdaBeliefConfig&) const = default;

  static constexpr auto fields() {
    return std::tuple{Field{"lr", &AdaBeliefConfig::lr},
                      Field{"beta1", &AdaBeliefConfig::beta1},
                      Field{"beta2", &AdaBeliefConfig::beta2},
                      Field{"eps", &AdaBeliefConfig::eps},
                      Field{"lr_dropout", &AdaBeliefConfig::lr_dropout},
                      Field{"lr_dropout_seed", &AdaBeliefConfig::lr_dropout_seed}};
  }
};

// m = beta1 m + (1 - beta1) g
// v = beta2 v + (1 - beta2) (g - m)^2
// w -= keep * lr * m / (sqrt(v) + eps)       keep: the lr_dropout mask, else 1
class AdaBelief : public OptimizerState<2> {
 public:
  using Config = AdaBeliefConfig;
  static constexpr std::string_view name = "adabelief";

  explicit AdaBelief(Config config = {}) : OptimizerState("optim::AdaBelief", {"m", "v"}), config_(config) { config.validate(); }

  const Config& config() const { return config_; }

  // The update of step t at learning rate lr (shared with the CUDA backend).
  AdaBeliefRule::Hyper hyper() const { return {config_.beta1, config_.beta2, config_.eps}; }
  AdaBeliefRule rule(float lr, std::int64_t t) const { return AdaBeliefRule::at(hyper(), lr, t); }

  void step(std::span<float> params, std::span<const float> grads, float lr) {
    const std::int64_t t = begin_step(params, grads);
    apply_rule(rule(lr, t), params, grads, {slot(0), slot(1)}, config_.lr_dropout, config_.lr_dropout_seed, t);
  }

 private:
  Config config_;
};

static_assert(Optimizer<AdaBelief>);

}  // namespace graft::optim
