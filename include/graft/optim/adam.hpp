// Adam and AdamW, as torch.optim.Adam and torch.optim.AdamW.
//
// The default optimizer of most published models, so it follows PyTorch to
// the operation: bias-corrected moments, eps added after the corrected square
// root, and the step size lr / (1 - beta1^t). Adam adds weight decay to the
// gradient (L2); AdamW shrinks the weights before the update (decoupled
// decay, Loshchilov & Hutter), which is why the two are one template with a
// flag rather than two copies. The bias corrections are computed once per
// step in double; the fused pass is float.
#pragma once

#include "graft/optim/optimizer.hpp"
#include "graft/optim/update_rules.hpp"

namespace graft::optim {

template <bool Decoupled>
struct AdamConfig {
  static constexpr std::string_view json_name = Decoupled ? "AdamW config" : "Adam config";

  float lr = 1e-3f;  // the base rate a schedule starts from; step() takes the rate of each step
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = Decoupled ? 1e-2f : 0.0f;  // PyTorch's defaults

  void validate() const {
    check(beta1 >= 0.0f && beta1 < 1.0f && beta2 >= 0.0f && beta2 < 1.0f, json_name, ": beta1 and beta2 must be in [0, 1), got ",
          beta1, " and ", beta2);
    check(eps > 0.0f && weight_decay >= 0.0f, json_name, ": eps must be > 0 and weight_decay >= 0, got eps ", eps,
          ", weight_decay ", weight_decay);
  }

  bool operator==(const AdamConfig&) const = default;

  static constexpr auto fields() {
    return std::tuple{Field{"lr", &AdamConfig::lr}, Field{"beta1", &AdamConfig::beta1}, Field{"beta2", &AdamConfig::beta2},
                      Field{"eps", &AdamConfig::eps}, Field{"weight_decay", &AdamConfig::weight_decay}};
  }
};

// Step t, with g' = g + weight_decay * w for Adam and g' = g for AdamW:
// w *= 1 - lr * weight_decay                                   (AdamW only)
// m = beta1 m + (1 - beta1) g';  v = beta2 v + (1 - beta2) g'^2
// w -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
template <bool Decoupled>
class BasicAdam : public OptimizerState<2> {
 public:
  using Config = AdamConfig<Decoupled>;
  static constexpr std::string_view name = Decoupled ? "adamw" : "adam";

  explicit BasicAdam(Config config = {})
      : OptimizerState(Decoupled ? "optim::AdamW" : "optim::Adam", {"m", "v"}), config_(config) {
    config.validate();
  }

  const Config& config() const { return config_; }

  // The update of step t at learning rate lr (shared with the CUDA backend).
  AdamRule::Hyper hyper() const { return {config_.beta1, config_.beta2, config_.eps, config_.weight_decay, Decoupled}; }
  AdamRule rule(float lr, std::int64_t t) const { return AdamRule::at(hyper(), lr, t); }

  void step(std::span<float> params, std::span<const float> grads, float lr) {
    const std::int64_t t = begin_step(params, grads);
    apply_rule(rule(lr, t), params, grads, {slot(0), slot(1)});
  }

 private:
  Config config_;
};

using Adam = BasicAdam<false>;
using AdamW = BasicAdam<true>;

static_assert(Optimizer<Adam>);
static_assert(Optimizer<AdamW>);

}  // namespace graft::optim
