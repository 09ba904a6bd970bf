#include "alignment_smoothing.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>
#include <optional>
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

// A crop transform as the four numbers that move independently: where the
// crop's centre is in the frame, its log scale and its angle. Crop
// transforms are similarities (crop_transform fits one: a = e, b = -d), and
// each of these changing at a constant rate is a steady drift, zoom or turn.
struct Pose {
  double x, y, log_scale, angle;
};

Pose pose_of(const Affine& to_crop, int crop_size) {
  const Point centre = placement(to_crop, crop_size).centre;
  return {centre.x, centre.y, std::log(std::hypot(to_crop.a, to_crop.d)), std::atan2(to_crop.d, to_crop.a)};
}

Affine affine_of(const Pose& p, int crop_size) {
  const double s = std::exp(p.log_scale), a = s * std::cos(p.angle), d = s * std::sin(p.angle), half = crop_size / 2.0;
  return {a, -d, half - (a * p.x - d * p.y), d, a, half - (d * p.x + a * p.y)};
}

// The crop's corners in the frame.
std::array<Point, 4> corners(const Affine& to_crop, int crop_size) {
  const Affine to_frame = to_crop.inverse();
  const double s = crop_size;
  return {to_frame({0, 0}), to_frame({s, 0}), to_frame({s, s}), to_frame({0, s})};
}

// What continues a track from one frame to the next: the crop centre within
// a tenth of the crop's size of where the face was or where its last two
// frames were heading (a face moving at constant speed continues; landmark
// jitter is a few thousandths of the size; a cut to a face elsewhere does
// not), and the size within 10% of the last frame's (a zoom of a few % per
// frame is fast).
constexpr double max_centre_miss = 0.1;
constexpr double max_scale_step = 1.1;

// Whether crops of sizes `now` and `then`, `frames` apart, may be one face's.
bool similar_scale(double now, double then, double frames = 1) {
  const double ratio = now / then, most = std::pow(max_scale_step, frames);
  return ratio <= most && ratio >= 1 / most;
}

}  // namespace

double AlignmentJitter::rms() const { return count ? std::sqrt(sum_squares / double(count)) : 0.0; }

AlignmentSmoother::AlignmentSmoother(int radius, int crop_size, int max_gap)
    : radius_(radius), crop_size_(crop_size), max_gap_(max_gap) {
  graft::check(radius >= 0, "AlignmentSmoother: the radius must be 0 or more frames, got ", radius);
  graft::check(crop_size > 0, "AlignmentSmoother: the crop size must be positive, got ", crop_size);
  graft::check(max_gap >= 0, "AlignmentSmoother: the longest gap must be 0 or more frames, got ", max_gap);
}

void AlignmentSmoother::push(std::vector<Affine> faces) {
  FaceList list;
  for (const Affine& t : faces) list.push_back({.raw = t, .smoothed = t});
  if (!sequence_open_) sequence_start_ = pushed_;
  if (sequence_open_) link_to_previous(list);
  if (sequence_open_ && max_gap_ > 0) link_across_gaps(list);
  frames_.push_back(std::move(list));
  ++pushed_;
  sequence_open_ = true;
  // A frame may still get a face filled in until max_gap_ frames later, and its smoothing reaches radius_ further.
  final_end_ = std::max(final_end_, pushed_ - radius_ - max_gap_);
}

void AlignmentSmoother::end_sequence() {
  final_end_ = pushed_;
  sequence_open_ = false;
}

// Where face f of frame `index` came from: the centre of the face in the
// frame before nearest it within half the crop's size, at a scale within
// 10%. Found afresh rather than through the track's links, so that a link
// depends on the last three frames only, not on how the track began: a
// range of frames read with a margin is tracked as in the whole clip.
std::optional<Point> AlignmentSmoother::came_from(std::int64_t index, const Face& f) const {
  if (index - 1 < sequence_start_) return std::nullopt;
  graft::check(index - 1 >= first_, "AlignmentSmoother: frame ", index - 1, " was dropped too early");
  const Placement now = placement(f.raw, crop_size_);
  std::optional<Point> nearest;
  double best = 0.5 * now.size;
  for (const Face& g : frame(index - 1)) {
    const Placement then = placement(g.raw, crop_size_);
    const double distance = norm(now.centre - then.centre);
    if (distance <= best && similar_scale(now.size, then.size)) {
      best = distance;
      nearest = then.centre;
    }
  }
  return nearest;
}

// Greedy nearest-first matching of this frame's faces to the previous frame's.
void AlignmentSmoother::link_to_previous(FaceList& faces) {
  const FaceList& before = frame(pushed_ - 1);
  // Where each face of the frame before was, and where it was heading.
  std::vector<Placement> then;
  std::vector<Point> heading;
  for (const Face& f : before) {
    then.push_back(placement(f.raw, crop_size_));
    const Point was = then.back().centre;
    heading.push_back(was + (was - came_from(pushed_ - 1, f).value_or(was)));
  }
  std::vector<std::tuple<double, std::size_t, std::size_t>> candidates;  // (miss, face, face before)
  for (std::size_t i = 0; i < faces.size(); ++i) {
    const Placement now = placement(faces[i].raw, crop_size_);
    for (std::size_t j = 0; j < before.size(); ++j) {
      // Nearer of the two: a one-frame landmark glitch must not end its track on the frame after it.
      const double miss = std::min(norm(now.centre - heading[j]), norm(now.centre - then[j].centre));
      if (miss <= max_centre_miss * now.size && similar_scale(now.size, then[j].size)) candidates.emplace_back(miss, i, j);
    }
  }
  std::sort(candidates.begin(), candidates.end());
  FaceList& linked = frame(pushed_ - 1);
  for (const auto& [miss, i, j] : candidates) {
    if (faces[i].previous >= 0 || linked[j].next >= 0) continue;
    faces[i].previous = int(j);
    linked[j].next = int(i);
  }
}

// The poses of a track's missed frames end + 1 .. last - 1: the line between its faces at `end` and `last`.
std::vector<Affine> AlignmentSmoother::bridge(const Affine& at_end, std::int64_t end, const Affine& at_last,
                                              std::int64_t last) const {
  const Pose from = pose_of(at_end, crop_size_), to = pose_of(at_last, crop_size_);
  const double turn = std::remainder(to.angle - from.angle, 2 * std::numbers::pi);
  std::vector<Affine> poses;
  for (std::int64_t k = end + 1; k < last; ++k) {
    const double u = double(k - end) / double(last - end);
    poses.push_back(affine_of({from.x + u * (to.x - from.x), from.y + u * (to.y - from.y),
                               from.log_scale + u * (to.log_scale - from.log_scale), from.angle + u * turn},
                              crop_size_));
  }
  return poses;
}

// A face of the new frame that continues no track of the frame before may
// continue one that ended after at most max_gap_ missed frames: the ended
// track whose face was, or was heading (extrapolated over the gap), nearest
// it, within a tenth of the crop's size, its scale within 10% a frame. The
// frames between get the face, its pose on the line between the two ends,
// unless one of them has a face there already (a short track of its own).
void AlignmentSmoother::link_across_gaps(FaceList& faces) {
  std::vector<std::tuple<double, std::size_t, std::int64_t, std::size_t>> candidates;  // (miss, face, frame, face there)
  for (std::size_t i = 0; i < faces.size(); ++i) {
    if (faces[i].previous >= 0) continue;
    const Placement now = placement(faces[i].raw, crop_size_);
    for (std::int64_t end = pushed_ - 2; end >= std::max(sequence_start_, pushed_ - 1 - max_gap_); --end) {
      graft::check(end >= first_, "AlignmentSmoother: frame ", end, " was dropped too early");
      const FaceList& there = frame(end);
      const double frames_on = double(pushed_ - end);
      for (std::size_t j = 0; j < there.size(); ++j) {
        if (there[j].next >= 0) continue;
        const Placement then = placement(there[j].raw, crop_size_);
        const Point heading = then.centre + frames_on * (then.centre - came_from(end, there[j]).value_or(then.centre));
        const double miss = std::min(norm(now.centre - heading), norm(now.centre - then.centre));
        if (miss <= max_centre_miss * now.size && similar_scale(now.size, then.size, frames_on))
          candidates.emplace_back(miss, i, end, j);
      }
    }
  }
  std::sort(candidates.begin(), candidates.end());
  for (const auto& [miss, i, end, j] : candidates) {
    if (faces[i].previous >= 0 || frame(end)[j].next >= 0) continue;
    const std::vector<Affine> poses = bridge(frame(end)[j].raw, end, faces[i].raw, pushed_);
    const auto occupied = [&](std::int64_t k, const Affine& pose) {
      const Placement p = placement(pose, crop_size_);
      return std::any_of(frame(k).begin(), frame(k).end(), [&](const Face& f) {
        return norm(placement(f.raw, crop_size_).centre - p.centre) <= max_centre_miss * p.size;
      });
    };
    bool free = true;
    for (std::size_t g = 0; g < poses.size(); ++g) free = free && !occupied(end + 1 + std::int64_t(g), poses[g]);
    if (!free) continue;
    std::int64_t at_frame = end;
    std::size_t at_face = j;
    for (std::size_t g = 0; g < poses.size(); ++g) {
      FaceList& gap = frame(end + 1 + std::int64_t(g));
      gap.push_back({.raw = poses[g], .smoothed = poses[g], .previous = int(at_face), .filled = true});
      frame(at_frame)[at_face].next = int(gap.size() - 1);
      at_frame = end + 1 + std::int64_t(g);
      at_face = gap.size() - 1;
    }
    frame(at_frame)[at_face].next = int(i);
    faces[i].previous = int(at_face);
  }
}

// The weighted least-squares line through the track's poses within the
// radius, number by number, evaluated at this frame.
Affine AlignmentSmoother::smooth(std::int64_t index, std::size_t face) const {
  const Face& centre = frame(index)[face];
  if (radius_ == 0) return centre.raw;
  const double sigma = radius_ / 2.0;
  const Pose here = pose_of(centre.raw, crop_size_);
  double s0 = 0, s1 = 0, s2 = 0;
  std::array<double, 4> t0{}, t1{};
  const auto add = [&](int offset, const Affine& m) {
    const double w = std::exp(-0.5 * (offset / sigma) * (offset / sigma));
    s0 += w;
    s1 += w * offset;
    s2 += w * offset * offset;
    const Pose p = pose_of(m, crop_size_);
    // Angles relative to this frame's, so that a track turning through +-180 degrees does not wrap.
    const std::array<double, 4> v{p.x, p.y, p.log_scale, std::remainder(p.angle - here.angle, 2 * std::numbers::pi)};
    for (std::size_t k = 0; k < 4; ++k) {
      t0[k] += w * v[k];
      t1[k] += w * offset * v[k];
    }
  };
  add(0, centre.raw);
  int at = centre.previous;
  for (int offset = -1; offset >= -radius_ && at >= 0; --offset) {
    graft::check(index + offset >= first_, "AlignmentSmoother: frame ", index + offset, " was dropped too early");
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
  std::array<double, 4> fitted;
  for (std::size_t k = 0; k < 4; ++k) fitted[k] = det > 1e-12 * s0 * s0 ? (s2 * t0[k] - s1 * t1[k]) / det : t0[k] / s0;
  return affine_of({fitted[0], fitted[1], fitted[2], here.angle + fitted[3]}, crop_size_);
}

void AlignmentSmoother::add_jitter(AlignmentJitter& jitter, std::int64_t index, std::size_t face, Affine Face::*which) const {
  const Face& now = frame(index)[face];
  if (now.previous < 0) return;
  const Face& before = frame(index - 1)[std::size_t(now.previous)];
  if (before.previous < 0) return;
  graft::check(index - 2 >= first_, "AlignmentSmoother: frame ", index - 2, " was dropped too early");
  const Face& earlier = frame(index - 2)[std::size_t(before.previous)];
  const auto a = corners(earlier.*which, crop_size_), b = corners(before.*which, crop_size_), c = corners(now.*which, crop_size_);
  for (std::size_t k = 0; k < 4; ++k) {
    const double x = c[k].x - 2 * b[k].x + a[k].x, y = c[k].y - 2 * b[k].y + a[k].y;
    jitter.sum_squares += (x * x + y * y) / 4;
  }
  ++jitter.count;
}

// Whether the face or the two before it on its track were filled in: the
// detected jitter leaves such triples out (an interpolated pose is smooth).
bool AlignmentSmoother::touches_filled(std::int64_t index, std::size_t face) const {
  const Face* f = &frame(index)[face];
  for (int back = 0; back < 3; ++back) {
    if (f->filled) return true;
    if (f->previous < 0 || back == 2) break;
    f = &frame(index - 1 - back)[std::size_t(f->previous)];
  }
  return false;
}

FrameAlignment AlignmentSmoother::take() {
  graft::check(ready() > 0, "AlignmentSmoother::take: no frame has final transforms yet");
  const std::int64_t index = taken_;
  FaceList& faces = frame(index);
  for (std::size_t k = 0; k < faces.size(); ++k) faces[k].smoothed = smooth(index, k);
  FrameAlignment result;
  for (std::size_t k = 0; k < faces.size(); ++k) {
    if (!touches_filled(index, k)) add_jitter(detected_, index, k, &Face::raw);
    add_jitter(smoothed_, index, k, &Face::smoothed);
    result.faces.push_back(faces[k].smoothed);
    result.filled += faces[k].filled;
  }
  ++taken_;
  // Later frames' averages reach back radius_ frames, the jitter two, a bridge over a gap one before its start.
  while (first_ < taken_ - std::max(radius_, 2)) {
    frames_.pop_front();
    ++first_;
  }
  return result;
}

}  // namespace faceswap
