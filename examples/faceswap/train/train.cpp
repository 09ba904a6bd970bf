// faceswap train's dispatch from (model, resolution) to a compiled variant.
#include <algorithm>
#include <cstdio>
#include <graft/core/error.hpp>

#include <graft/io/safetensors.hpp>

#include "variants.hpp"

namespace faceswap {

// "df-ud" (as users write it) -> "df_ud" (as FACESWAP_VARIANTS names it).
std::string variant_token(std::string model) {
  std::ranges::replace(model, '-', '_');
  return model;
}

TrainSummary train(const TrainOptions& o) {
  validate(o);
  std::string built;
  const std::string arch_token = variant_token(o.model);
#define FACESWAP_DISPATCH(arch, res)                                              \
  if (arch_token == #arch && o.resolution == res) return train_##arch##_##res(o); \
  built += std::string(built.empty() ? "" : ", ") + #arch " " #res;
  FACESWAP_VARIANTS(FACESWAP_DISPATCH)
#undef FACESWAP_DISPATCH
  graft::fail("train: ", o.model, " at resolution ", o.resolution, " is not built into this program (built: ", built,
              "; add it to FACESWAP_VARIANTS in examples/faceswap/train/variants.hpp)");
}

namespace {
// The (model, resolution) a training folder's checkpoint was trained with;
// the model as the variant's token (df_ud for df-ud).
std::pair<std::string, int> trained_variant(const std::filesystem::path& folder) {
  const auto checkpoint = folder / "model.safetensors";
  graft::check(std::filesystem::exists(checkpoint), checkpoint.string(),
               ": no trained model here (train one with faceswap train)");
  const graft::io::SafetensorsFile file(checkpoint);
  nlohmann::json config;
  try {
    config = nlohmann::json::parse(file.metadata().at(std::string(graft::io::checkpoint_key::config)))["run"];
  } catch (const std::exception&) {
    graft::fail(checkpoint.string(), ": not a faceswap model (its metadata has no run settings)");
  }
  return {variant_token(config.value("model", "")), config.value("resolution", 0)};
}
}  // namespace

SwapReport swap(const SwapOptions& o) {
  graft::check(!o.inputs.empty() && !o.output.empty(), "swap: --input and --output are required");
  const auto [model, resolution] = trained_variant(o.model);
#define FACESWAP_DISPATCH_SWAP(arch, res) \
  if (model == #arch && resolution == res) return swap_##arch##_##res(o);
  FACESWAP_VARIANTS(FACESWAP_DISPATCH_SWAP)
#undef FACESWAP_DISPATCH_SWAP
  graft::fail((o.model / "model.safetensors").string(), ": a ", model, " model at resolution ", resolution,
              " is not built into this program");
}

void export_onnx(const ExportOptions& o) {
  graft::check(!o.output.empty(), "export: --output (the .onnx file) is required");
  const auto [model, resolution] = trained_variant(o.model);
#define FACESWAP_DISPATCH_EXPORT(arch, res) \
  if (model == #arch && resolution == res) return export_##arch##_##res(o);
  FACESWAP_VARIANTS(FACESWAP_DISPATCH_EXPORT)
#undef FACESWAP_DISPATCH_EXPORT
  graft::fail((o.model / "model.safetensors").string(), ": a ", model, " model at resolution ", resolution,
              " is not built into this program");
}

}  // namespace faceswap
