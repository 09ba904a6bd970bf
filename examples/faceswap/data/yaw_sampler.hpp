// UniformYawSampler: like DeepFaceLab's uniform_yaw (reference §5.2).
//
// Footage of a performance is mostly frontal: a face set may hold a hundred
// frontal faces for each profile, and a model trained on it draws profiles
// poorly. Sampling by yaw instead of by face evens that out: the faces are
// put in bins of equal yaw width, a step draws a bin that holds faces with
// equal chance, then a face in it. A profile that is one of few is then seen
// as often as a whole bin of frontal faces; epochs (every face once) no
// longer exist.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "face_set.hpp"

namespace faceswap {

// Each face's yaw (face/head_turn.hpp) from its landmarks; the set must have
// its metadata (one made by extract; `what` names it in the error).
std::vector<double> yaws_of(const FaceSet& set, const std::string& what);

// A line for the training log on the turns the two sets cover (2nd to 98th
// percentile, so that one stray face does not count), and a warning when
// dst turns more than 10 degrees further than src has faces for: the model
// will draw those frames poorly.
std::string yaw_coverage(std::span<const double> src_yaws, std::span<const double> dst_yaws);

class UniformYawSampler {
 public:
  // Bins like DeepFaceLab's: 128 over yaws of -68.75..68.75 degrees
  // (+-1.2 rad); faces beyond go to the end bins.
  static constexpr int bins = 128;
  static constexpr double limit_degrees = 68.75;

  explicit UniformYawSampler(std::span<const double> yaw_degrees);

  // The face for two uniform numbers in [0, 1): the first picks the bin, the second the face in it.
  std::size_t pick(double bin_draw, double face_draw) const;
  std::size_t occupied_bins() const { return occupied_.size(); }

 private:
  std::vector<std::vector<std::size_t>> occupied_;  // the faces of each bin that holds any, by yaw
};

}  // namespace faceswap
