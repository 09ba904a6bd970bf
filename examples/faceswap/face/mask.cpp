#include "mask.hpp"

#include <opencv2/imgproc.hpp>
#include <vector>

namespace faceswap {

cv::Mat landmark_hull_mask(const Landmarks& aligned, int size) {
  double brow_y = 0, eye_y = 0;
  for (std::size_t i = 17; i < 27; ++i) brow_y += aligned[i].y / 10;
  for (std::size_t i = 36; i < 48; ++i) eye_y += aligned[i].y / 12;
  const double raise = std::max(0.0, eye_y - brow_y);  // crops are upright: up is -y
  std::vector<cv::Point2f> points;
  for (std::size_t i = 0; i < landmark_count; ++i) {
    const double lift = (i >= 17 && i < 27) ? raise : 0.0;
    points.emplace_back(float(aligned[i].x), float(aligned[i].y - lift));
  }
  std::vector<cv::Point2f> hull;
  cv::convexHull(points, hull);
  std::vector<cv::Point> polygon;
  // Sub-pixel vertices (4 fractional bits) so that the edge does not jump by whole pixels.
  for (const auto& p : hull) polygon.emplace_back(int(std::lround(p.x * 16)), int(std::lround(p.y * 16)));
  cv::Mat mask = cv::Mat::zeros(size, size, CV_8UC1);
  cv::fillConvexPoly(mask, polygon, cv::Scalar(255), cv::LINE_AA, 4);
  return mask;
}

}  // namespace faceswap
