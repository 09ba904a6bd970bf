// Line plots as PNG: the training loss plot, and graft-bench's loss against
// wall time for several machines. Written atomically (a viewer never opens
// half a PNG).
#pragma once

#include <filesystem>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace faceswap {

struct PlotSeries {
  std::string label;
  std::vector<std::pair<double, double>> points;  // (x, y), x increasing
};

struct PlotOptions {
  std::string title;  // what the axes are, printed above the plot with their ranges
  bool log_y = true;  // losses span decades
  int width = 800, height = 300;
};

// Every series in its own colour (eight, then they repeat), with a legend;
// series with fewer than two points are listed but not drawn.
void write_line_plot(const std::filesystem::path& path, std::span<const PlotSeries> series, const PlotOptions& options);

}  // namespace faceswap
