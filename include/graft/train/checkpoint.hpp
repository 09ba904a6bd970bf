// Saving and resuming a training run: a model, its optimizer and a step.
//
// io/ knows tensors and files, optim/ knows state buffers; this header ties
// them together so that a training program writes one call to save and one
// to resume. A resumed run gets the parameters, every optimizer slot and the
// optimizer's own step count (Adam's bias correction), and a checkpoint of
// another model or another optimizer is refused before anything is copied.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string_view>

#include "graft/io/checkpoint.hpp"
#include "graft/optim/optimizer.hpp"

namespace graft::train {

// Writes the model, the optimizer's state and `config` (the run's settings,
// to which the optimizer's configuration is added under "optimizer").
template <io::HasParameterBuffer M, optim::Optimizer O>
void save_training_checkpoint(const std::filesystem::path& path, const M& model, O& optimizer, std::string_view model_name,
                              std::int64_t step, nlohmann::json config = nlohmann::json::object()) {
  config["optimizer"] = optimizer.config();
  const auto slots = optimizer.state();
  io::save_checkpoint(path, model, slots,
                      {.step = step,
                       .model = std::string(model_name),
                       .config = config.dump(),
                       .optimizer = std::string(O::name),
                       .optimizer_steps = optimizer.steps()});
}

// Loads what save_training_checkpoint wrote into `model` and `optimizer`.
// Returns the checkpoint's info; its config holds the run's settings.
template <io::HasParameterBuffer M, optim::Optimizer O>
io::CheckpointInfo load_training_checkpoint(const std::filesystem::path& path, M& model, O& optimizer,
                                            std::string_view model_name) {
  optimizer.bind(model.parameter_buffer().size());
  const auto slots = optimizer.state();
  const auto info = io::load_checkpoint(path, model, slots, {.model = model_name, .optimizer = O::name});
  optimizer.set_steps(info.optimizer_steps);
  return info;
}

}  // namespace graft::train
