// export: the swap path of a trained model as an ONNX file.
//
// The graph takes aligned dst faces "face" (batch, 3, R, R; BGR in [0, 1], as
// extract crops them) and gives "swapped" (batch, 3, R, R) and "mask"
// (batch, 1, R, R), which is what swap composites. With a check file, export
// also runs graft's own inference on random faces and stores inputs and
// outputs, so any runtime can be checked against graft
// (tests/faceswap/check_onnx.py does it with onnxruntime).
#pragma once

#include <filesystem>

namespace faceswap {

struct ExportOptions {
  std::filesystem::path model;   // the training output folder
  std::filesystem::path output;  // the .onnx file
  std::filesystem::path check;   // optional: safetensors of random inputs and graft's outputs
};

void export_onnx(const ExportOptions& options);

}  // namespace faceswap
