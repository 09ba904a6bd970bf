#include "preview.hpp"

#include <cmath>
#include <graft/core/error.hpp>
#include <graft/io/atomic_file.hpp>
#include <opencv2/imgproc.hpp>

#include "face/image_file.hpp"

namespace faceswap {
namespace {

// Sample n of an NCHW view as an 8-bit BGR image (its first three channels).
cv::Mat to_image(graft::ConstView v, std::int64_t n) {
  const int channels = int(v.shape[1]), h = int(v.shape[2]), w = int(v.shape[3]);
  cv::Mat out(h, w, CV_8UC3);
  const float* base = v.data + n * channels * h * w;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c)
        out.at<cv::Vec3b>(y, x)[c] = cv::saturate_cast<std::uint8_t>(255.0f * base[(std::int64_t(c) * h + y) * w + x] + 0.5f);
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
  const int width = 800, height = 300, margin = 40;
  cv::Mat plot(height, width, CV_8UC3, cv::Scalar(255, 255, 255));
  if (history.size() >= 2) {
    double low = INFINITY, high = 0;
    for (const auto& p : history) low = std::min({low, p.src, p.dst}), high = std::max({high, p.src, p.dst});
    low = std::log10(std::max(low, 1e-6));
    high = std::log10(std::max(high, 1e-6));
    if (high - low < 1e-3) high = low + 1e-3;
    const double first = double(history.front().step), last = double(std::max(history.back().step, history.front().step + 1));
    auto at = [&](std::int64_t step, double loss) {
      const double x = margin + (width - 2 * margin) * (double(step) - first) / (last - first);
      const double y = height - margin - (height - 2 * margin) * (std::log10(std::max(loss, 1e-6)) - low) / (high - low);
      return cv::Point(int(x), int(y));
    };
    std::vector<cv::Point> src, dst;
    for (const auto& p : history) src.push_back(at(p.step, p.src)), dst.push_back(at(p.step, p.dst));
    cv::polylines(plot, src, false, cv::Scalar(200, 80, 0), 1, cv::LINE_AA);   // src: blue
    cv::polylines(plot, dst, false, cv::Scalar(0, 100, 230), 1, cv::LINE_AA);  // dst: orange
    char label[128];
    std::snprintf(label, sizeof label, "loss %.4g .. %.4g (log), steps %lld .. %lld; blue src, orange dst", std::pow(10, low),
                  std::pow(10, high), static_cast<long long>(history.front().step), static_cast<long long>(history.back().step));
    cv::putText(plot, label, {margin, 25}, cv::FONT_HERSHEY_SIMPLEX, 0.45, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
  }
  cv::rectangle(plot, {margin, margin}, {width - margin, height - margin}, cv::Scalar(160, 160, 160));
  write_image_atomically(path, plot);
}

}  // namespace faceswap
