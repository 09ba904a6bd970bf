#include "line_plot.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <opencv2/imgproc.hpp>

#include "face/image_file.hpp"

namespace faceswap {

void write_line_plot(const std::filesystem::path& path, std::span<const PlotSeries> series, const PlotOptions& options) {
  const int width = options.width, height = options.height, margin = 40, legend_line = 16;
  const int top = margin + legend_line * int(series.size());
  cv::Mat plot(height + legend_line * int(series.size()), width, CV_8UC3, cv::Scalar(255, 255, 255));
  // BGR: blue, orange, green, red, purple, brown, pink, grey.
  const std::array<cv::Scalar, 8> colours{cv::Scalar(200, 80, 0),  cv::Scalar(0, 100, 230),   cv::Scalar(40, 160, 40),
                                              cv::Scalar(40, 40, 210),  cv::Scalar(180, 100, 150), cv::Scalar(60, 90, 140),
                                              cv::Scalar(190, 120, 230), cv::Scalar(120, 120, 120)};
  const auto y_of = [&](double y) { return options.log_y ? std::log10(std::max(y, 1e-9)) : y; };
  double x_low = INFINITY, x_high = -INFINITY, y_low = INFINITY, y_high = -INFINITY;
  for (const auto& s : series)
    for (const auto& [x, y] : s.points) {
      x_low = std::min(x_low, x), x_high = std::max(x_high, x);
      y_low = std::min(y_low, y_of(y)), y_high = std::max(y_high, y_of(y));
    }
  const int plot_bottom = plot.rows - margin;
  if (x_high > x_low) {
    if (y_high - y_low < 1e-6) y_high = y_low + 1e-3;
    const auto at = [&](double x, double y) {
      return cv::Point(int(margin + (width - 2 * margin) * (x - x_low) / (x_high - x_low)),
                       int(plot_bottom - (plot_bottom - top) * (y_of(y) - y_low) / (y_high - y_low)));
    };
    for (std::size_t i = 0; i < series.size(); ++i) {
      if (series[i].points.size() < 2) continue;
      std::vector<cv::Point> line;
      for (const auto& [x, y] : series[i].points) line.push_back(at(x, y));
      cv::polylines(plot, line, false, colours[i % colours.size()], 1, cv::LINE_AA);
    }
    const auto unlog = [&](double v) { return options.log_y ? std::pow(10, v) : v; };
    char label[256];
    std::snprintf(label, sizeof label, "%s: x %.4g .. %.4g, y %.4g .. %.4g%s", options.title.c_str(), x_low, x_high,
                  unlog(y_low), unlog(y_high), options.log_y ? " (log)" : "");
    cv::putText(plot, label, {margin, 25}, cv::FONT_HERSHEY_SIMPLEX, 0.45, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
    // The ranges again at the box's corners, where the eye looks for them.
    const auto corner = [&](double value, cv::Point at) {
      char text[32];
      std::snprintf(text, sizeof text, "%.3g", value);
      cv::putText(plot, text, at, cv::FONT_HERSHEY_SIMPLEX, 0.35, cv::Scalar(80, 80, 80), 1, cv::LINE_AA);
    };
    corner(unlog(y_high), {2, top + 10});
    corner(unlog(y_low), {2, plot_bottom});
    corner(x_low, {margin, plot_bottom + 14});
    corner(x_high, {width - margin - 30, plot_bottom + 14});
  }
  for (std::size_t i = 0; i < series.size(); ++i) {
    const int y = margin + legend_line * int(i) + 4;
    cv::line(plot, {margin + 4, y}, {margin + 28, y}, colours[i % colours.size()], 2, cv::LINE_AA);
    cv::putText(plot, series[i].label, {margin + 34, y + 4}, cv::FONT_HERSHEY_SIMPLEX, 0.4, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
  }
  cv::rectangle(plot, {margin, top}, {width - margin, plot_bottom}, cv::Scalar(160, 160, 160));
  write_image_atomically(path, plot);
}

}  // namespace faceswap
