// export for one model variant (see export.hpp).
#pragma once

#include <graft/core/philox.hpp>
#include <graft/io/onnx.hpp>
#include <graft/io/safetensors.hpp>

#include "swap/export.hpp"
#include "swap/trained_model.hpp"
#include "train_step.hpp"

namespace faceswap {

template <class Step>
void export_with(const ExportOptions& o, const std::string& name) {
  constexpr int r = Step::resolution;
  const auto model = load_trained_model<Step>(o.model, name);
  const Step step;
  graft::io::OnnxGraph graph(name);
  step.export_swap(graph, *model);
  graph.save(o.output);
  if (o.check.empty()) return;

  constexpr std::int64_t n = 2;
  graft::Tensor faces(graft::Shape{n, 3, r, r});
  const graft::Philox rng(2024);
  for (std::int64_t i = 0; i < faces.numel(); ++i) faces.data()[i] = rng.uniform(std::uint64_t(i));
  const graft::Tensor drawn = step.swap(*model, faces.view());  // (n, 4, R, R)
  graft::Tensor swapped(graft::Shape{n, 3, r, r}), mask(graft::Shape{n, 1, r, r});
  const std::int64_t plane = std::int64_t{r} * r;
  for (std::int64_t b = 0; b < n; ++b) {
    std::copy_n(drawn.data() + b * 4 * plane, 3 * plane, swapped.data() + b * 3 * plane);
    std::copy_n(drawn.data() + (b * 4 + 3) * plane, plane, mask.data() + b * plane);
  }
  const std::vector<graft::io::TensorBytes> tensors{graft::io::f32_tensor("face", {n, 3, r, r}, faces.span()),
                                                    graft::io::f32_tensor("swapped", {n, 3, r, r}, swapped.span()),
                                                    graft::io::f32_tensor("mask", {n, 1, r, r}, mask.span())};
  graft::io::write_safetensors(o.check, tensors);
}

}  // namespace faceswap
