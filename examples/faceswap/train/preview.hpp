// What an artist watches during training: a preview grid and a loss plot, as PNGs.
//
// The grid has one row per sample and five columns, as DeepFaceLab's
// preview: src, src reconstructed, dst, dst reconstructed, and the swap
// (dst's expression drawn by the src decoder). Files are written to a
// temporary name and renamed, so a viewer never opens half a PNG.
#pragma once

#include <filesystem>
#include <graft/core/tensor.hpp>
#include <span>
#include <vector>

namespace faceswap {

// Images are NCHW float in [0, 1], BGR; predictions are (n, 4, R, R) of which
// the first three channels are drawn.
// The grid is written to every path of `paths` (encoded once).
void write_preview(std::span<const std::filesystem::path> paths, graft::ConstView src, graft::ConstView src_predicted,
                   graft::ConstView dst, graft::ConstView dst_predicted, graft::ConstView swap);

struct LossPoint {
  std::int64_t step;
  double src, dst;
};

// src and dst loss against step, logarithmic loss axis.
void write_loss_plot(const std::filesystem::path& path, const std::vector<LossPoint>& history);

}  // namespace faceswap
