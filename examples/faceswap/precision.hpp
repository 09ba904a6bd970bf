// --precision, as train and swap take it: what the convolutions multiply in
// (they always sum in f32).
#pragma once

#include <algorithm>
#include <array>
#include <string>
#include <string_view>

#include <graft/backend/cpu/conv.hpp>
#include <graft/core/error.hpp>

namespace faceswap {

// The values --precision takes (for CLI11's IsMember too), and how auto chooses, for the commands' help.
inline const std::array<std::string, 3> precisions{"auto", "f32", "bf16"};
inline constexpr const char* auto_precision_help =
    "auto (the default: bf16 on a GPU and on a CPU with AMX or AVX512-BF16, else f32)";

// "auto", "f32" or "bf16". The GPU backend runs bf16 only (activations and
// weight copies), so f32 with it is refused, naming `command` and why.
inline void validate_precision(std::string_view command, const std::string& precision, const std::string& backend) {
  graft::check(std::ranges::find(precisions, precision) != precisions.end(), command,
               ": --precision must be auto, f32 or bf16, got ", precision);
  graft::check(backend != "cuda" || precision != "f32", command,
               ": --precision f32: the cuda backend runs in bf16 (activations and weight copies; training keeps f32 master "
               "weights and optimizer state); use --backend cpu for f32, or leave --precision at auto");
}

// The precision with auto resolved for this machine: bf16 on a GPU and on a
// CPU with native bf16 (AMX or AVX512-BF16), else f32.
inline std::string effective_precision(const std::string& precision, const std::string& backend) {
  if (precision != "auto") return precision;
  return backend == "cuda" || graft::cpu::has_native_bf16() ? "bf16" : "f32";
}

// The CPU convolutions' setting for a run (a GPU run has no CPU convolutions).
inline graft::cpu::ConvPrecision cpu_conv_precision(const std::string& precision, const std::string& backend) {
  return backend == "cpu" && effective_precision(precision, backend) == "bf16" ? graft::cpu::ConvPrecision::bf16
                                                                               : graft::cpu::ConvPrecision::f32;
}

}  // namespace faceswap
