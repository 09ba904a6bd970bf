#include "yaw_sampler.hpp"

#include <algorithm>
#include <cmath>
#include <graft/core/error.hpp>

#include "face/head_turn.hpp"

namespace faceswap {
namespace {

// The p-quantile (0..1) of values, by nearest rank.
double quantile(std::span<const double> span, double p) {
  std::vector<double> values(span.begin(), span.end());
  const auto k = std::size_t(p * double(values.size() - 1) + 0.5);
  std::ranges::nth_element(values, values.begin() + std::ptrdiff_t(k));
  return values[k];
}

}  // namespace

std::vector<double> yaws_of(const FaceSet& set, const std::string& what) {
  graft::check(set.size() > 0 && set.metadata().size() == set.size(), what,
               ": the faces' yaw needs their landmarks, and this face set has no metadata");
  std::vector<double> yaws;
  yaws.reserve(set.size());
  for (const auto& m : set.metadata()) yaws.push_back(yaw_degrees(m.landmarks));
  return yaws;
}

std::string yaw_coverage(std::span<const double> s, std::span<const double> d) {
  graft::check(!s.empty() && !d.empty(), "yaw coverage: a face set is empty");
  const auto degrees = [](double x) { return std::to_string(int(std::lround(x))); };  // whole: never "-0"
  const double s_low = quantile(s, 0.02), s_high = quantile(s, 0.98), d_low = quantile(d, 0.02), d_high = quantile(d, 0.98);
  std::string line = "yaw (nominal degrees, nose towards the image's right positive): src " + degrees(s_low) + " to " +
                     degrees(s_high) + ", dst " + degrees(d_low) + " to " + degrees(d_high);
  // 10 degrees of margin: the model generalises a little past what it saw.
  const double short_low = s_low - d_low, short_high = d_high - s_high;
  for (const auto& [short_by, side] : {std::pair{short_low, "left"}, std::pair{short_high, "right"}})
    if (short_by > 10)
      line += "; dst turns " + degrees(short_by) + " degrees further " + side +
              " than src has faces for: those frames will swap poorly (add src faces turned that way)";
  return line;
}

UniformYawSampler::UniformYawSampler(std::span<const double> yaw_degrees) {
  graft::check(!yaw_degrees.empty(), "uniform yaw: the face set is empty");
  std::vector<std::vector<std::size_t>> by_bin(bins);
  for (std::size_t i = 0; i < yaw_degrees.size(); ++i) {
    const double place = (yaw_degrees[i] + limit_degrees) / (2 * limit_degrees) * bins;
    by_bin[std::size_t(std::clamp(int(std::floor(place)), 0, bins - 1))].push_back(i);
  }
  for (auto& faces : by_bin)
    if (!faces.empty()) occupied_.push_back(std::move(faces));
}

std::size_t UniformYawSampler::pick(double bin_draw, double face_draw) const {
  const auto& faces = occupied_[std::min(occupied_.size() - 1, std::size_t(bin_draw * double(occupied_.size())))];
  return faces[std::min(faces.size() - 1, std::size_t(face_draw * double(faces.size())))];
}

}  // namespace faceswap
