// How far a face is turned left or right (yaw), from its 2-D landmarks.
//
// Training samples faces by yaw with --uniform-yaw, and the trainer compares
// the turns the two face sets cover, so it needs a yaw per face that orders
// faces from one profile to the other; no 3-D head model is needed for that.
// The nose tip stands out from the face: as the head turns, it moves towards
// one side while the jaw's upper ends (landmarks 0 and 16, near the ears)
// stay about where the head's width is. Seen from afar (orthographically), a
// head turned by t puts the nose tip at d sin t from the ends' midpoint, the
// ends at +-w cos t, where d is the tip's depth in front of the ends and w
// half their distance: offset / half-distance = (d / w) tan t. Adult heads
// have d / w near 1.5 (tragion to nose tip about 11 cm in depth, tragion to
// tragion about 14.5 cm), so t = atan(offset / (1.5 half-distance)).
// Positive: the nose towards the image's right. Roll, scale and position
// of the crop do not change it. The degrees are nominal: a detector puts
// the hidden jaw end on the visible outline rather than behind the jaw,
// which shrinks large turns (a head turned 45 degrees reads about 36, 60
// reads about 43); the order, which is what sampling by yaw needs, holds.
#pragma once

#include <cmath>
#include <numbers>

#include "alignment.hpp"

namespace faceswap {

// iBUG 68-point indices: the jaw's ends and the nose tip.
inline constexpr std::size_t jaw_first = 0, jaw_last = 16, nose_tip = 30;  // the jaw from the image's left
inline constexpr double nose_depth_over_half_width = 1.5;

inline double yaw_degrees(const Landmarks& landmarks) {
  const Point a = landmarks[jaw_first], b = landmarks[jaw_last];
  const Point mid = 0.5 * (a + b), across = b - a;
  const double half = 0.5 * norm(across);
  // The nose's offset along the jaw line (not just in x: the face may lean).
  const Point nose = landmarks[nose_tip] - mid;
  const double offset = (nose.x * across.x + nose.y * across.y) / (2 * half * half);
  if (!(half > 0) || !std::isfinite(offset)) return 0;  // no jaw to measure against
  return std::atan(offset / nose_depth_over_half_width) * 180.0 / std::numbers::pi;
}

}  // namespace faceswap
