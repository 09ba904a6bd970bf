#include "colour_transfer.hpp"

#include "weighted_blur.hpp"

#include <algorithm>
#include <graft/core/error.hpp>
#include <graft/core/philox.hpp>
#include <opencv2/imgproc.hpp>
#include <vector>

namespace faceswap {
namespace {

// Added to both covariances: a colour that does not vary along some direction
// (a flat patch, a greyscale face) must not be stretched without bound.
constexpr double covariance_floor = 1e-5;

// An image's pixels, in order, and the indices of those the statistics come
// from: under the mask, or all.
struct ColourSamples {
  std::vector<cv::Vec3f> pixels;
  std::vector<std::size_t> sampled;

  ColourSamples(const cv::Mat& image, const cv::Mat& mask) {
    const cv::Mat flat = image.isContinuous() ? image : image.clone();
    pixels.assign(flat.ptr<cv::Vec3f>(), flat.ptr<cv::Vec3f>() + flat.total());
    const cv::Mat flat_mask = mask.empty() || mask.isContinuous() ? mask : mask.clone();
    graft::check(mask.empty() || (mask.type() == CV_8UC1 && mask.total() == pixels.size()),
                 "colour transfer: the mask is 8-bit, one per pixel");
    sampled.reserve(pixels.size());
    for (std::size_t i = 0; i < pixels.size(); ++i)
      if (mask.empty() || flat_mask.ptr<std::uint8_t>()[i] != 0) sampled.push_back(i);
  }
  bool enough() const { return sampled.size() >= 2; }  // for a spread
};

struct Gaussian {
  cv::Vec3d mean;
  cv::Matx33d covariance;
};

Gaussian gaussian_of(const ColourSamples& s) {
  Gaussian g{cv::Vec3d::all(0), cv::Matx33d::zeros()};
  for (const std::size_t i : s.sampled) g.mean += cv::Vec3d(s.pixels[i]);
  g.mean *= 1.0 / double(s.sampled.size());
  for (const std::size_t i : s.sampled) {
    const cv::Vec3d d = cv::Vec3d(s.pixels[i]) - g.mean;
    g.covariance += d * d.t();
  }
  g.covariance *= 1.0 / double(s.sampled.size());
  g.covariance += cv::Matx33d::eye() * covariance_floor;
  return g;
}

// C^power of a symmetric positive definite C, through its eigenvectors. (The
// covariances are floored; their products, squared variances, are far smaller
// than the floor: eigenvalues are only kept off zero against rounding.)
cv::Matx33d symmetric_power(const cv::Matx33d& c, double power) {
  cv::Mat values, vectors;  // vectors: one eigenvector per row
  cv::eigen(cv::Mat(c), values, vectors);
  const cv::Matx33d v(vectors);
  cv::Matx33d d = cv::Matx33d::zeros();
  for (int k = 0; k < 3; ++k) d(k, k) = std::pow(std::max(values.at<double>(k), 1e-300), power);
  return v.t() * d * v;
}

void clip(cv::Mat& image) { image = cv::min(cv::max(image, 0.0), 1.0); }

// image = map (image - from) + to, clipped to [0, 1].
void apply_linear_map(cv::Mat& image, const cv::Matx33d& map, const cv::Vec3d& from, const cv::Vec3d& to) {
  for (int y = 0; y < image.rows; ++y) {
    auto* p = image.ptr<cv::Vec3f>(y);
    for (int x = 0; x < image.cols; ++x) {
      const cv::Vec3d moved = map * (cv::Vec3d(p[x]) - from) + to;
      for (int c = 0; c < 3; ++c) p[x][c] = float(std::clamp(moved[c], 0.0, 1.0));
    }
  }
}

void reinhard_transfer(cv::Mat& image, const cv::Mat& reference, const cv::Mat& mask) {
  cv::Mat lab, reference_lab;
  cv::cvtColor(image, lab, cv::COLOR_BGR2Lab);
  cv::cvtColor(reference, reference_lab, cv::COLOR_BGR2Lab);
  cv::Scalar mean, stddev, target_mean, target_stddev;
  cv::meanStdDev(lab, mean, stddev, mask);
  cv::meanStdDev(reference_lab, target_mean, target_stddev, mask);
  std::vector<cv::Mat> channels;
  cv::split(lab, channels);
  for (int c = 0; c < 3; ++c) {
    // A flat channel (under half a unit of L*a*b*) is not stretched: it holds no spread to match.
    const double gain = target_stddev[c] / std::max(stddev[c], 0.5);
    channels[std::size_t(c)].convertTo(channels[std::size_t(c)], CV_32F, gain, target_mean[c] - gain * mean[c]);
  }
  cv::merge(channels, lab);
  cv::cvtColor(lab, image, cv::COLOR_Lab2BGR);
  clip(image);
}

// lct or mkl: the affine map that gives the image the reference's mean and covariance.
void linear_transfer(ColourTransfer mode, cv::Mat& image, const cv::Mat& reference, const cv::Mat& mask) {
  const ColourSamples image_samples(image, mask), reference_samples(reference, mask);
  if (!image_samples.enough() || !reference_samples.enough()) return;
  const Gaussian from = gaussian_of(image_samples), to = gaussian_of(reference_samples);
  cv::Matx33d map;
  if (mode == ColourTransfer::lct) {
    map = symmetric_power(to.covariance, 0.5) * symmetric_power(from.covariance, -0.5);
  } else {
    const cv::Matx33d root = symmetric_power(from.covariance, 0.5), inverse_root = symmetric_power(from.covariance, -0.5);
    map = inverse_root * symmetric_power(root * to.covariance * root, 0.5) * inverse_root;
  }
  apply_linear_map(image, map, from.mean, to.mean);
}

// The monotone 1-D map that takes the distribution of the sampled values of
// `from` to that of `to`: each set's histogram over its own range (the CDF
// linear within a bin), the value of `to` at each bin edge's quantile, and
// linear between edges. O(values + bins) where sorting would cost
// O(values log values), 30x more at 128 px; the same up to a bin's detail.
// Beyond the range of `from` it shifts as at the ends.
class QuantileMap {
 public:
  static constexpr int bins = 512;

  QuantileMap(const std::vector<double>& from, const std::vector<std::size_t>& from_sampled, const std::vector<double>& to,
              const std::vector<std::size_t>& to_sampled)
      : from_(from, from_sampled), to_(to, to_sampled) {
    if (from_.step <= 0) return;  // one value: shifted onto the reference's mean
    // For each edge of `from`, the lowest and the highest value of `to` at its
    // quantile: they differ where `to` has empty bins. A value inside a bin
    // of `from` that holds samples maps between the highest at its lower
    // edge and the lowest at its upper edge; a run of empty bins (no sample
    // there, but pixels outside the mask may be) from the lowest at its start
    // to the highest at its end. So the map rises everywhere, and identical
    // histograms map edge to edge exactly.
    std::vector<double> lowest(bins + 1), highest(bins + 1);
    int c = 0;
    for (int e = 0; e <= bins; ++e) {  // lowest: the first bin whose CDF reaches q
      const double q = from_.cdf[std::size_t(e)];
      while (c < bins - 1 && to_.cdf[std::size_t(c) + 1] < q) ++c;
      lowest[std::size_t(e)] = to_.value_at(c, q);
    }
    c = bins - 1;
    for (int e = bins; e >= 0; --e) {  // highest: the last bin whose CDF starts at or below q
      const double q = from_.cdf[std::size_t(e)];
      while (c > 0 && to_.cdf[std::size_t(c)] > q) --c;
      highest[std::size_t(e)] = to_.value_at(c, q);
    }
    start_.resize(bins);
    end_.resize(bins);
    for (int b = 0; b < bins;) {
      if (from_.cdf[std::size_t(b) + 1] > from_.cdf[std::size_t(b)]) {
        start_[std::size_t(b)] = highest[std::size_t(b)];
        end_[std::size_t(b)] = lowest[std::size_t(b) + 1];
        ++b;
        continue;
      }
      int t = b;  // the run of empty bins b .. t - 1
      while (t < bins && from_.cdf[std::size_t(t) + 1] == from_.cdf[std::size_t(b)]) ++t;
      const double first = lowest[std::size_t(b)], last = highest[std::size_t(t)], width = t - b;
      for (int k = b; k < t; ++k) {
        start_[std::size_t(k)] = first + (last - first) * (k - b) / width;
        end_[std::size_t(k)] = first + (last - first) * (k + 1 - b) / width;
      }
      b = t;
    }
  }

  double operator()(double v) const {
    if (from_.step <= 0) return v + (to_.mean - from_.mean);
    if (v <= from_.low) return v + (to_.low - from_.low);
    const double u = (v - from_.low) / from_.step;
    if (u >= bins) return v + (to_.low + bins * to_.step - from_.low - bins * from_.step);
    const int b = std::min(int(u), bins - 1);
    return start_[std::size_t(b)] + (u - b) * (end_[std::size_t(b)] - start_[std::size_t(b)]);
  }

 private:
  struct Histogram {
    double low = 0, step = 0, mean = 0;
    std::vector<double> cdf;  // bins + 1 edges, 0 to 1

    Histogram(const std::vector<double>& values, const std::vector<std::size_t>& sampled) : cdf(bins + 1, 0.0) {
      double high = values[sampled.front()];
      low = high;
      for (const std::size_t i : sampled) {
        low = std::min(low, values[i]);
        high = std::max(high, values[i]);
        mean += values[i];
      }
      mean /= double(sampled.size());
      step = (high - low) / bins;
      if (step <= 0) return;
      for (const std::size_t i : sampled) cdf[std::size_t(std::min(bins - 1, int((values[i] - low) / step))) + 1] += 1;
      for (int e = 1; e <= bins; ++e) cdf[std::size_t(e)] += cdf[std::size_t(e) - 1];
      for (auto& f : cdf) f /= double(sampled.size());
    }

    // The value in bin c where the CDF (linear in the bin) is q, within the bin.
    double value_at(int c, double q) const {
      const double lo = cdf[std::size_t(c)], hi = cdf[std::size_t(c) + 1];
      const double within = hi > lo ? std::clamp((q - lo) / (hi - lo), 0.0, 1.0) : q >= hi ? 1.0 : 0.0;
      return low + (c + within) * step;
    }
  };

  Histogram from_, to_;
  std::vector<double> start_, end_;  // what each bin of `from` maps to, from its lower to its upper edge
};

std::vector<double> projections(const std::vector<cv::Vec3f>& pixels, const cv::Vec3d& direction) {
  std::vector<double> p(pixels.size());
  for (std::size_t i = 0; i < pixels.size(); ++i) p[i] = direction.dot(cv::Vec3d(pixels[i]));
  return p;
}

cv::Vec3d random_direction(const graft::Philox& random, std::uint64_t index) {
  const cv::Vec3d d(random.normal(3 * index), random.normal(3 * index + 1), random.normal(3 * index + 2));
  const double length = cv::norm(d);
  return length > 1e-9 ? d / length : cv::Vec3d(1, 0, 0);
}

// Blurs the colour change; with a mask, weighted by it, so that the face's
// change is not pulled towards the extrapolated change of the background.
void smooth_change(cv::Mat& change, const cv::Mat& mask, double sigma) {
  cv::Mat weight(change.size(), CV_32F, cv::Scalar(1));
  if (!mask.empty()) mask.convertTo(weight, CV_32F, 1.0 / 255, 1e-3);  // a little everywhere: the background changes too
  change = weighted_blur(change, weight, sigma);
}

// idt or sot: 1-D distribution matching along random directions, repeated.
// idt moves each pixel along all three axes of a random rotation (Pitie's
// iterative distribution transfer); sot by the mean of its moves along five
// random directions, then smooths the change over the image.
void distribution_transfer(ColourTransfer mode, cv::Mat& image, const cv::Mat& reference, const cv::Mat& mask,
                           std::uint64_t seed) {
  const bool rotations = mode == ColourTransfer::idt;
  const int iterations = rotations ? 20 : 10, directions = rotations ? 3 : 5;
  ColourSamples moving(image, mask);
  const ColourSamples reference_samples(reference, mask);
  if (!moving.enough() || !reference_samples.enough()) return;
  std::vector<cv::Vec3f>& pixels = moving.pixels;
  const auto original = pixels;
  const graft::Philox random(seed);
  std::vector<cv::Vec3d> moves(pixels.size());
  std::uint64_t drawn = 0;
  for (int it = 0; it < iterations; ++it) {
    std::ranges::fill(moves, cv::Vec3d::all(0));
    std::vector<cv::Vec3d> axes;
    for (int k = 0; k < directions; ++k) {
      cv::Vec3d d = random_direction(random, drawn++);
      if (rotations) {  // Gram-Schmidt: an orthonormal basis, uniformly rotated
        for (const auto& a : axes) d -= a.dot(d) * a;
        d /= std::max(cv::norm(d), 1e-9);
      }
      axes.push_back(d);
      const auto from = projections(pixels, d);
      const QuantileMap matched(from, moving.sampled, projections(reference_samples.pixels, d), reference_samples.sampled);
      for (std::size_t i = 0; i < pixels.size(); ++i) moves[i] += (matched(from[i]) - from[i]) * d;
    }
    const double share = rotations ? 1.0 : 1.0 / directions;
    for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = cv::Vec3f(cv::Vec3d(pixels[i]) + share * moves[i]);
  }
  cv::Mat change(image.size(), CV_32FC3);
  auto* c = change.ptr<cv::Vec3f>();
  for (std::size_t i = 0; i < pixels.size(); ++i) c[i] = pixels[i] - original[i];
  // Matching per colour maps neighbouring skin pixels of slightly different
  // colour apart: the change, smoothed, keeps the face's shading and grain.
  if (!rotations) smooth_change(change, mask, std::max(1.0, image.cols / 8.0));
  image += change;
  clip(image);
}

}  // namespace

std::optional<ColourTransfer> parse_colour_transfer(std::string_view name) {
  for (std::size_t i = 0; i < colour_transfer_names.size(); ++i)
    if (name == colour_transfer_names[i]) return ColourTransfer(i);
  return std::nullopt;
}

std::string_view name_of(ColourTransfer mode) { return colour_transfer_names[std::size_t(mode)]; }

std::string colour_transfer_list() {
  std::string list;
  for (std::size_t i = 0; i < colour_transfer_names.size(); ++i)
    list += std::string(i == 0 ? "" : i + 1 == colour_transfer_names.size() ? " or " : ", ") +
            std::string(colour_transfer_names[i]);
  return list;
}

void transfer_colour(ColourTransfer mode, cv::Mat& image, const cv::Mat& reference, const cv::Mat& mask, std::uint64_t seed) {
  graft::check(image.type() == CV_32FC3 && reference.type() == CV_32FC3,
               "colour transfer: images are float BGR in [0, 1]");
  graft::check(mask.empty() || (mask.size() == image.size() && mask.size() == reference.size()),
               "colour transfer: a mask picks the same pixels of both images, which must then have its size");
  switch (mode) {
    case ColourTransfer::none:
      return;
    case ColourTransfer::rct:
      return reinhard_transfer(image, reference, mask);
    case ColourTransfer::lct:
    case ColourTransfer::mkl:
      return linear_transfer(mode, image, reference, mask);
    case ColourTransfer::idt:
    case ColourTransfer::sot:
      return distribution_transfer(mode, image, reference, mask, seed);
  }
}

}  // namespace faceswap
