// AlignmentSmoother against what it promises: steady motion kept exactly,
// jitter averaged out, no average across tracks, cuts or sequences, and the
// same results however the frames stream in.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "face/alignment_smoothing.hpp"

using faceswap::Affine;
using faceswap::AlignmentSmoother;

namespace {

constexpr int crop = 128;

// A frame-to-crop similarity placing a crop of `size` frame pixels, rotated by `angle`, centred at (x, y).
Affine placed(double x, double y, double size, double angle) {
  const double s = crop / size, ca = s * std::cos(angle), sa = s * std::sin(angle);
  // crop = s R (p - centre) + crop/2
  return {ca, sa, crop / 2.0 - (ca * x + sa * y), -sa, ca, crop / 2.0 - (-sa * x + ca * y)};
}

double distance(const Affine& p, const Affine& q) {
  return std::hypot(p.a - q.a, p.b - q.b, p.d - q.d) + std::hypot(p.e - q.e, p.c - q.c, p.f - q.f);
}

// Every frame pushed, then the end, then every frame taken.
std::vector<std::vector<Affine>> smoothed_at_once(int radius, const std::vector<std::vector<Affine>>& frames) {
  AlignmentSmoother smoother(radius, crop);
  for (const auto& faces : frames) smoother.push(faces);
  smoother.end_sequence();
  std::vector<std::vector<Affine>> out;
  while (smoother.ready() > 0) out.push_back(smoother.take().faces);
  return out;
}

std::vector<Affine> column(const std::vector<std::vector<Affine>>& frames, std::size_t face) {
  std::vector<Affine> out;
  for (const auto& faces : frames) out.push_back(faces.at(face));
  return out;
}

std::vector<std::vector<Affine>> one_per_frame(const std::vector<Affine>& track) {
  std::vector<std::vector<Affine>> frames;
  for (const Affine& t : track) frames.push_back({t});
  return frames;
}

// The crop's corners in the frame, largest distance between two transforms'.
double corner_distance(const Affine& p, const Affine& q) {
  double worst = 0;
  for (const faceswap::Point corner : {faceswap::Point{0, 0}, faceswap::Point{crop, 0}, faceswap::Point{crop, crop}}) {
    const faceswap::Point u = p.inverse()(corner), v = q.inverse()(corner);
    worst = std::max(worst, std::hypot(u.x - v.x, u.y - v.y));
  }
  return worst;
}

// Smoothing `frames` (one face each) whole gives, for the frames before
// `end_first` and from `begin_second`, what smoothing each part alone gives:
// no average reaches across (and the frames between have no face).
void check_split(const std::vector<std::vector<Affine>>& frames, std::size_t end_first, std::size_t begin_second) {
  const auto whole = smoothed_at_once(3, frames);
  const auto first = smoothed_at_once(3, {frames.begin(), frames.begin() + std::ptrdiff_t(end_first)});
  const auto second = smoothed_at_once(3, {frames.begin() + std::ptrdiff_t(begin_second), frames.end()});
  for (std::size_t t = 0; t < frames.size(); ++t) {
    INFO("frame ", t);
    if (t < end_first)
      CHECK(distance(whole[t][0], first[t][0]) < 1e-12);
    else if (t >= begin_second)
      CHECK(distance(whole[t][0], second[t - begin_second][0]) < 1e-12);
    else
      CHECK(whole[t].empty());
  }
}

}  // namespace

TEST_CASE("alignment smoothing keeps a face drifting, zooming and turning at constant rates exactly, to the ends of its track") {
  std::vector<Affine> track;
  // 2 px and 0.5 px a frame, 1% larger and 2 degrees more a frame, through +-180 degrees.
  for (int t = 0; t < 20; ++t) track.push_back(placed(150 + 2 * t, 120 + 0.5 * t, 180 * std::pow(0.99, t), 2.9 + 0.035 * t));
  for (const int radius : {1, 3, 8, 40}) {  // 40: more than the track, final only at its end
    INFO("radius ", radius);
    const auto out = column(smoothed_at_once(radius, one_per_frame(track)), 0);
    REQUIRE(out.size() == track.size());
    for (std::size_t t = 0; t < track.size(); ++t) CHECK(corner_distance(out[t], track[t]) < 1e-9);
  }
}

TEST_CASE("alignment smoothing is the Gaussian-weighted least-squares line through the track, evaluated at the frame") {
  // One frame's crop centre off the others' (a landmark glitch): the smoothed centres against the
  // normal equations solved here, for frames in the middle, next to the glitch and at the track's ends.
  std::vector<Affine> track(15, placed(200, 150, 160, 0.3));
  track[7] = placed(209, 144, 160, 0.3);
  const int radius = 3;
  const auto out = column(smoothed_at_once(radius, one_per_frame(track)), 0);
  for (const int t : {0, 1, 5, 7, 8, 14}) {
    double s0 = 0, s1 = 0, s2 = 0, x0 = 0, x1 = 0, y0 = 0, y1 = 0;
    for (int u = std::max(0, t - radius); u <= std::min(14, t + radius); ++u) {
      const double d = u - t, w = std::exp(-d * d / (2 * 1.5 * 1.5)), x = u == 7 ? 209 : 200, y = u == 7 ? 144 : 150;
      s0 += w, s1 += w * d, s2 += w * d * d;
      x0 += w * x, x1 += w * d * x;
      y0 += w * y, y1 += w * d * y;
    }
    INFO("frame ", t);
    const Affine expected =
        placed((s2 * x0 - s1 * x1) / (s0 * s2 - s1 * s1), (s2 * y0 - s1 * y1) / (s0 * s2 - s1 * s1), 160, 0.3);
    CHECK(corner_distance(out[t], expected) < 1e-9);
  }
  CHECK(corner_distance(out[7], track[0]) < 0.5 * corner_distance(track[7], track[0]));  // the glitch is mostly gone
}

TEST_CASE("alignment smoothing averages landmark jitter out of a moving face and reports how much there was") {
  std::mt19937 random(5);
  std::normal_distribution<double> jitter(0.0, 0.7);  // frame pixels, about dlib's on the demo clip
  std::vector<Affine> truth, detected;
  for (int t = 0; t < 120; ++t) {
    const double x = 180 + 40 * std::sin(t / 12.0), y = 140 + 15 * std::cos(t / 17.0), size = 200 + 10 * std::sin(t / 25.0);
    truth.push_back(placed(x, y, size, 0.1 * std::sin(t / 30.0)));
    detected.push_back(placed(x + jitter(random), y + jitter(random), size + jitter(random), 0.1 * std::sin(t / 30.0)));
  }
  // Distance of the crop's centre from where it should be, in frame pixels.
  const auto centre_error = [&](const std::vector<Affine>& got) {
    double sum = 0;
    for (std::size_t t = 0; t < got.size(); ++t) {
      const faceswap::Point p = got[t].inverse()({crop / 2.0, crop / 2.0}), q = truth[t].inverse()({crop / 2.0, crop / 2.0});
      sum += std::hypot(p.x - q.x, p.y - q.y);
    }
    return sum / double(got.size());
  };
  AlignmentSmoother smoother(3, crop);
  for (const Affine& t : detected) smoother.push({t});
  smoother.end_sequence();
  std::vector<Affine> smoothed;
  while (smoother.ready() > 0) smoothed.push_back(smoother.take().faces[0]);
  const double before = centre_error(detected), after = centre_error(smoothed);
  MESSAGE("crop centre off by ", before, " px as detected, ", after, " px smoothed; jitter ", smoother.detected_jitter().rms(),
          " -> ", smoother.smoothed_jitter().rms(), " px");
  CHECK(after < 0.6 * before);
  CHECK(smoother.detected_jitter().count == 118);
  CHECK(smoother.smoothed_jitter().rms() < smoother.detected_jitter().rms() / 4);
  CHECK(smoother.detected_jitter().rms() >
        2.0);  // ~2.7: corner coordinates shake by ~0.78 px, their second differences sqrt(6) times as much

  // Radius 0 passes the transforms through, and both jitters are the detected one.
  AlignmentSmoother none(0, crop);
  for (const Affine& t : detected) {
    none.push({t});
    REQUIRE(none.ready() == 1);
    CHECK(none.take().faces[0] == t);
  }
  CHECK(none.smoothed_jitter().rms() == none.detected_jitter().rms());
  CHECK(none.detected_jitter().rms() == doctest::Approx(smoother.detected_jitter().rms()).epsilon(1e-12));
}

TEST_CASE("alignment smoothing streams: a frame is final radius frames later, and chunking changes nothing") {
  std::mt19937 random(9);
  std::normal_distribution<double> jitter(0.0, 1.0);
  std::vector<std::vector<Affine>> frames;
  for (int t = 0; t < 30; ++t) frames.push_back({placed(150 + t + jitter(random), 120 + jitter(random), 160, 0.0)});
  const auto at_once = smoothed_at_once(4, frames);

  AlignmentSmoother smoother(4, crop);
  std::vector<std::vector<Affine>> streamed;
  for (std::size_t t = 0; t < frames.size(); ++t) {
    smoother.push(frames[t]);
    CHECK(smoother.ready() == (t + 1 > 4 ? t + 1 - 4 - streamed.size() : 0));
    if (t % 3 == 2)  // taken in uneven bites, as the swap's chunks take them
      while (smoother.ready() > 0) streamed.push_back(smoother.take().faces);
  }
  smoother.end_sequence();
  while (smoother.ready() > 0) streamed.push_back(smoother.take().faces);
  REQUIRE(streamed.size() == at_once.size());
  for (std::size_t t = 0; t < streamed.size(); ++t) CHECK(streamed[t][0] == at_once[t][0]);
  AlignmentSmoother reference(4, crop);
  for (const auto& faces : frames) reference.push(faces);
  reference.end_sequence();
  while (reference.ready() > 0) reference.take();
  CHECK(smoother.smoothed_jitter().sum_squares == reference.smoothed_jitter().sum_squares);
  CHECK(smoother.detected_jitter().sum_squares == reference.detected_jitter().sum_squares);
  // Radius 1 keeps two frames behind for the jitter, taking each frame as soon as it is final.
  AlignmentSmoother narrow(1, crop);
  for (const auto& faces : frames) {
    narrow.push(faces);
    while (narrow.ready() > 0) narrow.take();
  }
  narrow.end_sequence();
  while (narrow.ready() > 0) narrow.take();
  CHECK(narrow.detected_jitter().count == 28);
  CHECK(narrow.smoothed_jitter().count == 28);
  CHECK(narrow.detected_jitter().sum_squares == reference.detected_jitter().sum_squares);
  CHECK_THROWS_WITH(smoother.take(), doctest::Contains("no frame has final transforms yet"));
  CHECK_THROWS_WITH(AlignmentSmoother(-1, crop), doctest::Contains("the radius must be 0 or more frames, got -1"));
}

TEST_CASE("alignment smoothing follows each face on its own track, and no average crosses a cut, a gap or a new sequence") {
  std::mt19937 random(13);
  std::normal_distribution<double> jitter(0.0, 1.0);
  std::vector<Affine> left, right;
  for (int t = 0; t < 24; ++t) {
    left.push_back(placed(100 + jitter(random), 150 + jitter(random), 120, 0.0));
    right.push_back(placed(400 + jitter(random), 160 + jitter(random), 140, 0.1));
  }
  const auto left_alone = column(smoothed_at_once(3, one_per_frame(left)), 0);
  const auto right_alone = column(smoothed_at_once(3, one_per_frame(right)), 0);
  // Both in every frame, in an order that flips (largest first changes as sizes wobble).
  std::vector<std::vector<Affine>> both;
  for (std::size_t t = 0; t < left.size(); ++t)
    both.push_back(t % 5 < 2 ? std::vector<Affine>{left[t], right[t]} : std::vector<Affine>{right[t], left[t]});
  const auto together = smoothed_at_once(3, both);
  for (std::size_t t = 0; t < left.size(); ++t) {
    const bool left_first = t % 5 < 2;
    CHECK(distance(together[t][left_first ? 0 : 1], left_alone[t]) < 1e-12);
    CHECK(distance(together[t][left_first ? 1 : 0], right_alone[t]) < 1e-12);
  }

  // A cut to a face elsewhere splits the track: each side is smoothed as if alone.
  std::vector<Affine> cut(left.begin(), left.begin() + 12);
  cut.insert(cut.end(), right.begin() + 12, right.end());
  check_split(one_per_frame(cut), 12, 12);
  // So does a jump of a fifth of the crop's size with the face the same size (a cut to the same framing).
  std::vector<Affine> near_cut;
  for (int t = 0; t < 24; ++t) near_cut.push_back(placed((t < 12 ? 100 : 130) + jitter(random), 150 + jitter(random), 150, 0.0));
  check_split(one_per_frame(near_cut), 12, 12);
  // And a frame without the face (a detection miss, a curated deletion).
  auto gap = one_per_frame(left);
  gap[10].clear();
  check_split(gap, 10, 11);

  // end_sequence between two clips: the second starts fresh even where its face is where the first one's was.
  AlignmentSmoother clips(3, crop);
  for (std::size_t t = 0; t < 12; ++t) clips.push({left[t]});
  clips.end_sequence();
  for (std::size_t t = 12; t < left.size(); ++t) clips.push({left[t]});
  clips.end_sequence();
  const auto first_clip = column(smoothed_at_once(3, one_per_frame({left.begin(), left.begin() + 12})), 0);
  const auto second_clip = column(smoothed_at_once(3, one_per_frame({left.begin() + 12, left.end()})), 0);
  for (std::size_t t = 0; t < left.size(); ++t) {
    const Affine got = clips.take().faces[0];
    CHECK(distance(got, t < 12 ? first_clip[t] : second_clip[t - 12]) < 1e-12);
  }
}

TEST_CASE("alignment smoothing fills a face in across a gap of its track, up to the longest gap, and nowhere else") {
  // A face drifting, zooming and turning at constant rates, missed in 1, 2, 3 and then 4 frames in a row.
  const auto truth = [](int t) { return placed(120 + 1.5 * t, 140 - 0.5 * t, 150 * std::pow(1.004, t), 0.2 + 0.01 * t); };
  const std::vector<int> missed{5, 10, 11, 16, 17, 18, 24, 25, 26, 27};
  // Another face, far off, seen in every frame.
  const auto other = [](int t) { return placed(500, 300 + 0.2 * t, 120, 0.0); };
  std::vector<std::vector<Affine>> frames;
  for (int t = 0; t < 34; ++t) {
    frames.push_back({other(t)});
    if (std::find(missed.begin(), missed.end(), t) == missed.end()) frames.back().push_back(truth(t));
  }
  for (const int radius : {0, 3}) {
    INFO("radius ", radius);
    AlignmentSmoother smoother(radius, crop, 3);
    std::vector<faceswap::FrameAlignment> out;
    for (std::size_t t = 0; t < frames.size(); ++t) {
      smoother.push(frames[t]);
      CHECK(smoother.ready() + out.size() == std::size_t(std::max<std::int64_t>(0, std::int64_t(t) + 1 - radius - 3)));
      if (t % 4 == 0)
        while (smoother.ready() > 0) out.push_back(smoother.take());
    }
    smoother.end_sequence();
    while (smoother.ready() > 0) out.push_back(smoother.take());
    REQUIRE(out.size() == frames.size());
    for (int t = 0; t < 34; ++t) {
      INFO("frame ", t);
      const bool gap_of_4 = t >= 24 && t <= 27;
      const bool filled = !gap_of_4 && std::find(missed.begin(), missed.end(), t) != missed.end();
      REQUIRE(out[t].faces.size() == (gap_of_4 ? 1u : 2u));
      CHECK(out[t].filled == (filled ? 1u : 0u));
      CHECK(corner_distance(out[t].faces[0], other(t)) < 1e-9);  // the other face's track is untouched
      // Interpolated poses of a constant-rate track are the track, and smoothing keeps them (the gap of 4 splits it).
      if (!gap_of_4) CHECK(corner_distance(out[t].faces[1], truth(t)) < 1e-9);
    }
    // Jitter triples: 32 of the other face, 22 and 4 of the two parts of this one; 10 and 4 of those have no filled face.
    CHECK(smoother.smoothed_jitter().count == 58);
    CHECK(smoother.detected_jitter().count == 46);
  }

  // A face found again somewhere else is a new face: nothing is filled in.
  std::vector<std::vector<Affine>> elsewhere;
  for (int t = 0; t < 12; ++t)
    elsewhere.push_back(t == 6 ? std::vector<Affine>{} : std::vector<Affine>{placed(t < 6 ? 100 : 160, 150, 150, 0)});
  AlignmentSmoother jumping(0, crop, 3);
  for (const auto& faces : elsewhere) jumping.push(faces);
  jumping.end_sequence();
  std::size_t filled = 0;
  while (jumping.ready() > 0) filled += jumping.take().filled;
  CHECK(filled == 0);

  // Nor across the end of a sequence (the next input), even where the face is on its track's line:
  // missed in the first input's last frame and the second's first.
  for (const int radius : {0, 3}) {
    AlignmentSmoother clips(radius, crop, 3);
    for (int t = 0; t < 8; ++t) clips.push(t == 7 ? std::vector<Affine>{} : std::vector<Affine>{truth(t)});
    clips.end_sequence();
    for (int t = 8; t < 12; ++t) clips.push(t == 8 ? std::vector<Affine>{} : std::vector<Affine>{truth(t)});
    clips.end_sequence();
    filled = 0;
    while (clips.ready() > 0) filled += clips.take().filled;
    CHECK(filled == 0);
  }

  // Nor over a face already there: missed in frames 5 and 6, where a box of another size sits on its line.
  AlignmentSmoother stray(0, crop, 3);
  for (int t = 0; t < 12; ++t) {
    const faceswap::Point c = truth(t).inverse()({crop / 2.0, crop / 2.0});
    stray.push(t == 5 || t == 6 ? std::vector<Affine>{placed(c.x, c.y, 200, 0.2)} : std::vector<Affine>{truth(t)});
  }
  stray.end_sequence();
  filled = 0;
  std::size_t faces = 0;
  while (stray.ready() > 0) {
    const auto frame = stray.take();
    filled += frame.filled;
    faces += frame.faces.size();
  }
  CHECK(filled == 0);
  CHECK(faces == 12);
  CHECK_THROWS_WITH(AlignmentSmoother(0, crop, -2), doctest::Contains("the longest gap must be 0 or more frames, got -2"));
}
