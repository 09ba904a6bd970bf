#include "alignment_smoothing.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <tuple>

#include <graft/core/error.hpp>

namespace faceswap {
namespace {

// A face's crop centre in the frame, and the crop's side there, in frame pixels.
struct Placement {
  Point centre;
  double size;
};

Placement placement(const Affine& to_crop, int crop_size) {
  const double half = crop_size / 2.0;
  return {to_crop.inverse()({half, half}), crop_size / to_crop.scale()};
}

// The crop's corners in the frame.
std::array<Point, 4> corners(const Affine& to_crop, int crop_size) {
  const Affine to_frame = to_crop.inverse();
  const double s = crop_size;
  return {to_frame({0, 0}), to_frame({s, 0}), to_frame({s, s}), to_frame({0, s})};
}

// Limits of what continues a track between consecutive frames.
constexpr double max_centre_step = 0.25;  // of the crop's size
constexpr double max_scale_step = 1.25;   // ratio of the crop's sizes, either way

}  // namespace

double AlignmentJitter::rms() const { return count ? std::sqrt(sum_squares / double(count)) : 0.0; }

AlignmentSmoother::AlignmentSmoother(int radius, int crop_size) : radius_(radius), crop_size_(crop_size) {
  graft::check(radius >= 0, "AlignmentSmoother: the radius must be 0 or more frames, got ", radius);
  graft::check(crop_size > 0, "AlignmentSmoother: the crop size must be positive, got ", crop_size);
}

void AlignmentSmoother::push(std::vector<Affine> faces) {
  FaceList list;
  for (const Affine& t : faces) list.push_back({.raw = t, .smoothed = t});
  if (sequence_open_ && pushed_ > first_) link_to_previous(list);
  frames_.push_back(std::move(list));
  ++pushed_;
  sequence_open_ = true;
  final_end_ = std::max(final_end_, pushed_ - radius_);
}

void AlignmentSmoother::end_sequence() {
  final_end_ = pushed_;
  sequence_open_ = false;
}

// Greedy nearest-first matching of this frame's faces to the previous frame's.
void AlignmentSmoother::link_to_previous(FaceList& faces) {
  FaceList& before = frame(pushed_ - 1);
  std::vector<std::tuple<double, std::size_t, std::size_t>> candidates;  // (distance, face, face before)
  for (std::size_t i = 0; i < faces.size(); ++i) {
    const Placement now = placement(faces[i].raw, crop_size_);
    for (std::size_t j = 0; j < before.size(); ++j) {
      const Placement then = placement(before[j].raw, crop_size_);
      const double distance = norm({now.centre.x - then.centre.x, now.centre.y - then.centre.y});
      const double ratio = now.size / then.size;
      if (distance <= max_centre_step * now.size && ratio <= max_scale_step && ratio >= 1 / max_scale_step)
        candidates.emplace_back(distance, i, j);
    }
  }
  std::sort(candidates.begin(), candidates.end());
  for (const auto& [distance, i, j] : candidates) {
    if (faces[i].previous >= 0 || before[j].next >= 0) continue;
    faces[i].previous = int(j);
    before[j].next = int(i);
  }
}

// The weighted least-squares line through the track's transforms within the
// radius, coefficient by coefficient, evaluated at this frame.
Affine AlignmentSmoother::smooth(std::int64_t index, std::size_t face) {
  const Face& centre = frame(index)[face];
  if (radius_ == 0) return centre.raw;
  const double sigma = radius_ / 2.0;
  double s0 = 0, s1 = 0, s2 = 0;
  std::array<double, 6> t0{}, t1{};
  const auto add = [&](int offset, const Affine& m) {
    const double w = std::exp(-0.5 * (offset / sigma) * (offset / sigma));
    s0 += w;
    s1 += w * offset;
    s2 += w * offset * offset;
    const std::array<double, 6> c{m.a, m.b, m.c, m.d, m.e, m.f};
    for (std::size_t k = 0; k < 6; ++k) {
      t0[k] += w * c[k];
      t1[k] += w * offset * c[k];
    }
  };
  add(0, centre.raw);
  int at = centre.previous;
  for (int offset = -1; offset >= -radius_ && at >= 0 && index + offset >= first_; --offset) {
    const Face& f = frame(index + offset)[std::size_t(at)];
    add(offset, f.raw);
    at = f.previous;
  }
  at = centre.next;
  for (int offset = 1; offset <= radius_ && at >= 0; ++offset) {
    const Face& f = frame(index + offset)[std::size_t(at)];
    add(offset, f.raw);
    at = f.next;
  }
  // Intercept of the fitted line; with a single frame (no slope to fit) the frame itself.
  const double det = s0 * s2 - s1 * s1;
  std::array<double, 6> fitted;
  for (std::size_t k = 0; k < 6; ++k) fitted[k] = det > 1e-12 * s0 * s0 ? (s2 * t0[k] - s1 * t1[k]) / det : t0[k] / s0;
  return {fitted[0], fitted[1], fitted[2], fitted[3], fitted[4], fitted[5]};
}

void AlignmentSmoother::add_jitter(AlignmentJitter& jitter, std::int64_t index, std::size_t face, Affine Face::*which) {
  const Face& now = frame(index)[face];
  if (now.previous < 0 || index - 2 < first_) return;
  const Face& before = frame(index - 1)[std::size_t(now.previous)];
  if (before.previous < 0) return;
  const Face& earlier = frame(index - 2)[std::size_t(before.previous)];
  const auto a = corners(earlier.*which, crop_size_), b = corners(before.*which, crop_size_), c = corners(now.*which, crop_size_);
  for (std::size_t k = 0; k < 4; ++k) {
    const double x = c[k].x - 2 * b[k].x + a[k].x, y = c[k].y - 2 * b[k].y + a[k].y;
    jitter.sum_squares += (x * x + y * y) / 4;
  }
  ++jitter.count;
}

std::vector<Affine> AlignmentSmoother::take() {
  graft::check(ready() > 0, "AlignmentSmoother::take: no frame has final transforms yet");
  const std::int64_t index = taken_;
  FaceList& faces = frame(index);
  for (std::size_t k = 0; k < faces.size(); ++k) faces[k].smoothed = smooth(index, k);
  std::vector<Affine> result;
  for (std::size_t k = 0; k < faces.size(); ++k) {
    add_jitter(detected_, index, k, &Face::raw);
    add_jitter(smoothed_, index, k, &Face::smoothed);
    result.push_back(faces[k].smoothed);
  }
  ++taken_;
  // Later frames' averages reach back radius_ frames, the jitter two.
  while (first_ < taken_ - std::max(radius_, 2)) {
    frames_.pop_front();
    ++first_;
  }
  return result;
}

}  // namespace faceswap
