// A trained model loaded for inference (swap, export): its parameters only,
// from the training folder's checkpoint, refused unless it is this variant.
#pragma once

#include <filesystem>
#include <graft/io/checkpoint.hpp>
#include <memory>
#include <string>

namespace faceswap {

template <class Step>
std::unique_ptr<typename Step::Model> load_trained_model(const std::filesystem::path& folder, const std::string& name) {
  auto model = std::make_unique<typename Step::Model>(0);
  graft::io::load_checkpoint(folder / "model.safetensors", *model, {}, {.model = name, .parameters_only = true});
  return model;
}

}  // namespace faceswap
