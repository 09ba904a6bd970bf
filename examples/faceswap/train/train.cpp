// faceswap train, swap and export: from (model, resolution) to a compiled variant.
#include <algorithm>
#include <cstdio>
#include <graft/backend/cpu/conv.hpp>
#include <graft/core/error.hpp>
#include <graft/io/safetensors.hpp>

#include "precision.hpp"
#include "variants.hpp"

namespace faceswap {
namespace {

// What each compiled variant provides (variants.hpp), in one table.
struct Variant {
  std::string_view arch;
  int resolution;
  TrainSummary (*train)(const TrainOptions&);
  SwapReport (*swap)(const SwapOptions&);
  void (*export_onnx)(const ExportOptions&);
};

#define FACESWAP_VARIANT_ENTRY(arch, res) \
  Variant{#arch, res, &train_##arch##_##res, &swap_##arch##_##res, &export_##arch##_##res},
constexpr Variant variants[] = {FACESWAP_VARIANTS(FACESWAP_VARIANT_ENTRY)};
#undef FACESWAP_VARIANT_ENTRY

// The variant of `model` (as users write it, df-ud) at `resolution`; `where`
// starts the error that lists the built variants when there is none.
const Variant& find_variant(const std::string& model, int resolution, const std::string& where) {
  const std::string token = variant_token(model);
  for (const Variant& v : variants)
    if (v.arch == token && v.resolution == resolution) return v;
  graft::fail(
      where, ": ", model, " at resolution ", resolution, " is not built into this program (built: ", built_variants(),
      "; to build more, list them as architecture:resolution in the CMake variable FACESWAP_VARIANTS: " FACESWAP_RESOLUTION_RULE
      ")");
}

// The variant a training folder's checkpoint was trained with.
const Variant& trained_variant(const std::filesystem::path& folder) {
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
  return find_variant(config.value("model", ""), config.value("resolution", 0), checkpoint.string());
}

}  // namespace

std::string built_variants() {
  std::string built;
  for (std::size_t i = 0; i < std::size(variants); ++i) {
    const Variant& v = variants[i];
    const bool new_arch = std::none_of(variants, variants + i, [&](const Variant& u) { return u.arch == v.arch; });
    if (!new_arch) continue;
    std::string arch(v.arch);
    std::replace(arch.begin(), arch.end(), '_', '-');  // as users write it
    built += (built.empty() ? "" : "; ") + arch;
    const char* separator = " ";
    for (const Variant& u : variants)
      if (u.arch == v.arch) built += separator + std::to_string(u.resolution), separator = ", ";
  }
  return built;
}

TrainSummary train(const TrainOptions& o) {
  validate(o);
  const Variant& variant = find_variant(o.model, o.resolution, "train");
  std::error_code ec;
  std::filesystem::create_directories(o.output, ec);
  graft::check(!ec, o.output.string(), ": cannot create the model folder: ", ec.message());
  // The CPU's convolutions for this run (the GPU step is bf16 by construction).
  const graft::cpu::ConvPrecisionScope precision(cpu_conv_precision(o.precision, o.backend));
  return variant.train(o);
}

SwapReport swap(const SwapOptions& o) {
  graft::check(!o.inputs.empty() && !o.output.empty(), "swap: --input and --output are required");
  validate_precision("swap", o.precision, o.backend);
  const graft::cpu::ConvPrecisionScope precision(cpu_conv_precision(o.precision, o.backend));
  return trained_variant(o.model).swap(o);
}

void export_onnx(const ExportOptions& o) {
  graft::check(!o.output.empty(), "export: --output (the .onnx file) is required");
  trained_variant(o.model).export_onnx(o);
}

}  // namespace faceswap
