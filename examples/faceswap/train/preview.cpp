#include "preview.hpp"

#include <array>
#include <graft/core/error.hpp>
#include <graft/io/atomic_file.hpp>
#include <opencv2/imgproc.hpp>

#include "face/image_file.hpp"
#include "face/planes.hpp"
#include "line_plot.hpp"

namespace faceswap {
namespace {

// Sample n of an NCHW view as an 8-bit BGR image (its first three channels).
cv::Mat to_image(graft::ConstView v, std::int64_t n) {
  const int channels = int(v.shape[1]), h = int(v.shape[2]), w = int(v.shape[3]);
  cv::Mat planes(h, w, CV_32FC3), out;
  from_planes(v.data + n * channels * h * w, planes);
  planes.convertTo(out, CV_8UC3, 255.0);
  return out;
}

}  // namespace

void write_preview(std::span<const std::filesystem::path> paths, graft::ConstView src, graft::ConstView src_predicted,
                   graft::ConstView dst, graft::ConstView dst_predicted, graft::ConstView swap) {
  std::vector<cv::Mat> rows;
  for (std::int64_t n = 0; n < src.shape[0]; ++n) {
    cv::Mat row;
    cv::hconcat(std::vector<cv::Mat>{to_image(src, n), to_image(src_predicted, n), to_image(dst, n), to_image(dst_predicted, n),
                                     to_image(swap, n)},
                row);
    rows.push_back(row);
  }
  cv::Mat grid;
  cv::vconcat(rows, grid);
  const std::vector<unsigned char> bytes = encode_image(paths.front(), grid);
  for (const auto& path : paths) graft::io::write_file_atomically(path, std::as_bytes(std::span(bytes)));
}

void write_loss_plot(const std::filesystem::path& path, const std::vector<LossPoint>& history) {
  std::array<PlotSeries, 2> series{PlotSeries{"src"}, PlotSeries{"dst"}};
  for (const auto& p : history) {
    series[0].points.emplace_back(double(p.step), p.src);
    series[1].points.emplace_back(double(p.step), p.dst);
  }
  write_line_plot(path, series, {.title = "loss against step"});
}

}  // namespace faceswap
