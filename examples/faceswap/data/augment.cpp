#include "augment.hpp"

#include "face/colour_transfer.hpp"
#include "face/planes.hpp"
#include "face/weighted_blur.hpp"

#include <cmath>
#include <graft/core/philox.hpp>
#include <numbers>
#include <opencv2/imgproc.hpp>

namespace faceswap {
namespace {

// The random numbers of one sample: Philox(seed) at counters (draw, stream),
// with the stream made of step and slot.
class SampleRandom {
 public:
  explicit SampleRandom(const SampleKey& k) : rng_(k.seed), stream_((k.step << 24) ^ k.slot) {}
  double uniform() { return rng_.uniform(next_++, stream_); }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  int below(int n) { return std::min(n - 1, int(uniform() * n)); }
  // A normal resampled until |x| <= 2.5, divided by 2.5 (DeepFaceLab's truncated normal, in [-1, 1]).
  double truncated_normal() {
    for (;;) {
      const double x = rng_.normal(next_++, stream_);
      if (std::abs(x) <= 2.5) return x / 2.5;
    }
  }

 private:
  graft::Philox rng_;
  std::uint64_t stream_;
  std::uint64_t next_ = 0;
};

// A seed of the sample's own for an optional step (the colour transfer's
// directions, the HSV shifts), apart from SampleRandom's stream: turning the
// step on or off leaves the sample's transform and warp as they were. Philox
// under a salted key, at the counter (step, slot): a pure function of the sample.
std::uint64_t own_seed(const SampleKey& k, std::uint64_t salt) {
  const auto words = graft::Philox(k.seed ^ salt).block(k.step, k.slot);
  return std::uint64_t(words[0]) | std::uint64_t(words[1]) << 32;
}

// DeepFaceLab's random_hsv_power on the network input: the hue turned by up
// to +-180 P degrees, saturation and value moved by up to +-P/2.
cv::Mat hsv_shifted(const cv::Mat& image, double power, const SampleKey& key) {
  const graft::Philox draws(own_seed(key, 0x45F0C0105EED45F0ull));
  const double hue = (2.0 * draws.uniform(0) - 1.0) * 180.0 * power;
  const double saturation = (draws.uniform(1) - 0.5) * power, value = (draws.uniform(2) - 0.5) * power;
  cv::Mat hsv;  // float: H in [0, 360), S and V in [0, 1]
  cv::cvtColor(image, hsv, cv::COLOR_BGR2HSV);
  for (int y = 0; y < hsv.rows; ++y) {
    auto* p = hsv.ptr<cv::Vec3f>(y);
    for (int x = 0; x < hsv.cols; ++x) {
      p[x][0] = float(std::fmod(p[x][0] + hue + 360.0, 360.0));
      p[x][1] = float(std::clamp(p[x][1] + saturation, 0.0, 1.0));
      p[x][2] = float(std::clamp(p[x][2] + value, 0.0, 1.0));
    }
  }
  cv::Mat shifted;
  cv::cvtColor(hsv, shifted, cv::COLOR_HSV2BGR);
  return cv::min(cv::max(shifted, 0.0), 1.0);
}

// DeepFaceLab's blur_out_mask: outside the mask, the target's background
// blurred from background pixels only (sigma R/128 but at least 1), so that
// the loss's band around the face does not ask the model for the
// background's detail; inside, the target as it was.
cv::Mat blurred_outside(const cv::Mat& target, const cv::Mat& mask) {
  const cv::Mat outside = 1.0 - mask;
  const cv::Mat background = weighted_blur(target, outside, std::max(1.0, target.cols / 128.0));
  cv::Mat blended(target.size(), CV_32FC3);
  for (int y = 0; y < target.rows; ++y)
    for (int x = 0; x < target.cols; ++x) {
      const float m = mask.at<float>(y, x);
      blended.at<cv::Vec3f>(y, x) = m * target.at<cv::Vec3f>(y, x) + (1 - m) * background.at<cv::Vec3f>(y, x);
    }
  return blended;
}

// DeepFaceLab's random warp: a coarse grid of 3, 5 or 9 points per side whose
// interior points move by up to 0.24 of a cell, upsampled bilinearly to a
// per-pixel map (where each output pixel samples the face).
std::pair<cv::Mat, cv::Mat> random_warp_maps(int w, SampleRandom& random) {
  const int cell = w / (2 << random.below(3));  // w/2, w/4 or w/8
  const int count = w / cell + 1;
  cv::Mat map_x(count, count, CV_32F), map_y(count, count, CV_32F);
  for (int i = 0; i < count; ++i)
    for (int j = 0; j < count; ++j) {
      map_x.at<float>(i, j) = float(double(j) * w / (count - 1));
      map_y.at<float>(i, j) = float(double(i) * w / (count - 1));
    }
  for (int i = 1; i + 1 < count; ++i)
    for (int j = 1; j + 1 < count; ++j) {
      map_x.at<float>(i, j) += float(random.truncated_normal() * cell * 0.24);
      map_y.at<float>(i, j) += float(random.truncated_normal() * cell * 0.24);
    }
  const int half = cell / 2;
  cv::Mat big_x, big_y;
  cv::resize(map_x, big_x, cv::Size(w + cell, w + cell), 0, 0, cv::INTER_LINEAR);
  cv::resize(map_y, big_y, cv::Size(w + cell, w + cell), 0, 0, cv::INTER_LINEAR);
  const cv::Rect inner(half, half, w, w);
  return {big_x(inner).clone(), big_y(inner).clone()};
}

struct Transform {
  cv::Matx23d matrix;
  bool flip = false;
};

Transform random_transform(int w, const AugmentOptions& o, SampleRandom& random) {
  const double rotation = random.uniform(-o.rotation_degrees, o.rotation_degrees);
  const double scale = random.uniform(1.0 / (1.0 + o.scale), 1.0 + o.scale);
  const double tx = random.uniform(-o.shift, o.shift), ty = random.uniform(-o.shift, o.shift);
  const bool flip = random.uniform() < 0.4;  // drawn whether or not used, so options do not shift later draws
  cv::Mat m = cv::getRotationMatrix2D(cv::Point2f(float(w / 2), float(w / 2)), rotation, scale);
  m.at<double>(0, 2) += tx * w;
  m.at<double>(1, 2) += ty * w;
  return {cv::Matx23d(m), o.random_flip && flip};
}

cv::Mat transformed(const cv::Mat& image, const Transform& t, int interpolation, int border) {
  cv::Mat out;
  cv::warpAffine(image, out, t.matrix, image.size(), interpolation, border, cv::Scalar::all(0));
  if (t.flip) cv::flip(out, out, 1);
  return out;
}

}  // namespace

SideTensors::SideTensors(std::int64_t batch, int resolution, bool eyes_mouth)
    : warped(graft::Shape{batch, 3, resolution, resolution}),
      target(warped.shape()),
      mask(graft::Shape{batch, 1, resolution, resolution}),
      loss_mask(mask.shape()) {
  if (eyes_mouth) this->eyes_mouth = graft::Tensor(mask.shape());
}

void augment_into(const FaceSet& set, std::size_t index, const SampleKey& key, const AugmentOptions& o,
                  const FaceSet* colour_reference, SideTensors& out, std::int64_t b) {
  const int w = set.resolution();
  graft::check(out.warped.shape()[3] == w, "augment: batch tensors are ", out.warped.shape()[3], " px, the face set ", w, " px");
  SampleRandom random(key);
  cv::Mat image, mask;
  set.image(index).convertTo(image, CV_32FC3, 1.0 / 255);
  set.mask(index).convertTo(mask, CV_32F, 1.0 / 255);

  // Fixed-count draws first, the warp's variable count last: switching the
  // warp or the colour transfer off leaves the affine transform and flip as they were.
  const Transform t = random_transform(w, o, random);
  const std::size_t reference = colour_reference ? std::size_t(random.uniform() * double(colour_reference->size())) : 0;
  if (o.colour_transfer != ColourTransfer::none && colour_reference) {
    cv::Mat ref;
    colour_reference->image(std::min(reference, colour_reference->size() - 1)).convertTo(ref, CV_32FC3, 1.0 / 255);
    if (ref.size() != image.size()) cv::resize(ref, ref, image.size(), 0, 0, cv::INTER_AREA);
    transfer_colour(o.colour_transfer, image, ref, cv::Mat(), own_seed(key, 0xC0105EED5EEDC010ull));
  }
  const cv::Mat target = transformed(image, t, cv::INTER_CUBIC, cv::BORDER_REPLICATE);
  // The input alone may have its colours shifted: the model learns to draw the face's own colours from shifted ones.
  const cv::Mat input_image = o.random_hsv > 0 ? hsv_shifted(image, o.random_hsv, key) : image;
  cv::Mat input;  // not a header of target: remap below must not write into it
  if (!o.random_warp) {
    input = o.random_hsv > 0 ? transformed(input_image, t, cv::INTER_CUBIC, cv::BORDER_REPLICATE) : target;
  } else {
    // DeepFaceLab remaps, then warps the result affinely: two resamplings.
    // Moving the warp's sampling map through the affine transform (and the
    // flip) instead gives the same geometry in one cubic resampling.
    const auto [map_x, map_y] = random_warp_maps(w, random);
    const cv::Mat through_x = transformed(map_x, t, cv::INTER_LINEAR, cv::BORDER_REPLICATE);
    const cv::Mat through_y = transformed(map_y, t, cv::INTER_LINEAR, cv::BORDER_REPLICATE);
    cv::remap(input_image, input, through_x, through_y, cv::INTER_CUBIC, cv::BORDER_REPLICATE);
  }
  const cv::Mat target_mask = transformed(mask, t, cv::INTER_LINEAR, cv::BORDER_CONSTANT);
  const cv::Mat shown_target = o.blur_out_mask ? blurred_outside(target, target_mask) : target;

  const int sigma = loss_mask_sigma(w);
  int kernel = std::max(3, 4 * sigma);
  kernel += 1 - kernel % 2;  // odd
  cv::Mat blurred;
  cv::GaussianBlur(target_mask, blurred, cv::Size(kernel, kernel), sigma, sigma, cv::BORDER_CONSTANT);
  // Without masked training the loss weighs the whole crop, background included.
  cv::Mat loss_mask = o.masked_training ? cv::Mat(cv::min(blurred, 0.5) * 2.0) : cv::Mat::ones(w, w, CV_32F);

  const std::size_t plane = std::size_t(w) * std::size_t(w);
  to_planes(input, out.warped.data() + std::size_t(b) * 3 * plane);
  to_planes(shown_target, out.target.data() + std::size_t(b) * 3 * plane);
  to_planes(target_mask, out.mask.data() + std::size_t(b) * plane);
  to_planes(loss_mask, out.loss_mask.data() + std::size_t(b) * plane);
  if (o.eyes_mouth) {
    graft::check(set.has_eyes_mouth() && out.eyes_mouth.numel() > 0,
                 "augment: eyes-and-mouth masks asked for, but the face set or the batch has none");
    cv::Mat em;
    set.eyes_mouth(index).convertTo(em, CV_32F, 1.0 / 255);
    em = transformed(em, t, cv::INTER_LINEAR, cv::BORDER_CONSTANT);
    double peak = 0;
    cv::minMaxLoc(em, nullptr, &peak);
    if (peak > 0) em /= peak;
    to_planes(em, out.eyes_mouth.data() + std::size_t(b) * plane);
  }
}

}  // namespace faceswap
