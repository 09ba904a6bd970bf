// composite() at each frame depth: 8 and 16 bits blend the drawn face as it
// is, linear float frames (OpenEXR plates) blend it decoded to linear light;
// outside the mask nothing changes, highlights above 1 included.
#include <doctest/doctest.h>

#include <cmath>
#include <graft/core/error.hpp>
#include <limits>
#include <opencv2/core.hpp>

#include "face/scene_linear.hpp"
#include "swap/compositing.hpp"

namespace {

constexpr int side = 64;

cv::Mat random_image(int type, float low, float high, unsigned seed) {
  cv::Mat image(side, side, type);
  cv::RNG rng(seed);
  rng.fill(image, cv::RNG::UNIFORM, low, high);
  return image;
}

// 1 on a 32 x 32 square in the middle, 0 elsewhere.
cv::Mat square_mask() {
  cv::Mat mask = cv::Mat::zeros(side, side, CV_32F);
  mask(cv::Rect(16, 16, 32, 32)).setTo(1.0f);
  return mask;
}

// The crop is the frame (an identity transform), so the warps sample on the
// pixel grid and put the face and mask back exactly.
cv::Mat composite_into(cv::Mat& frame, const cv::Mat& face) {
  return faceswap::composite(frame, faceswap::Affine{}, face.clone(), square_mask(), face,
                             {.erode = 0, .blur = 0, .colour_transfer = faceswap::ColourTransfer::none});
}

bool in_square(int y, int x) { return y >= 16 && y < 48 && x >= 16 && x < 48; }

}  // namespace

TEST_CASE("composite: the face inside the mask at every depth, in linear light for float frames; nothing outside") {
  const cv::Mat face = random_image(CV_32FC3, 0.05f, 0.95f, 1);
  cv::Mat eight = random_image(CV_8UC3, 0, 256, 2), sixteen, linear(side, side, CV_32FC3);
  eight.convertTo(sixteen, CV_16U, 257.0);
  for (int y = 0; y < side; ++y)
    for (int x = 0; x < side; ++x)
      for (int c = 0; c < 3; ++c)  // a highlight above 1 in the top-left corner
        linear.at<cv::Vec3f>(y, x)[c] = x < 8 && y < 8 ? 3.5f : faceswap::srgb_decode(eight.at<cv::Vec3b>(y, x)[c] / 255.0f);
  const cv::Mat eight_before = eight.clone(), sixteen_before = sixteen.clone(), linear_before = linear.clone();

  const cv::Mat mask8 = composite_into(eight, face), mask16 = composite_into(sixteen, face),
                mask_linear = composite_into(linear, face);
  CHECK(mask8.type() == CV_8UC1);
  CHECK(mask16.type() == CV_16UC1);
  CHECK(mask_linear.type() == CV_32FC1);
  CHECK(mask8.at<std::uint8_t>(30, 30) == 255);
  CHECK(mask16.at<std::uint16_t>(30, 30) == 65535);
  CHECK(mask_linear.at<float>(30, 30) == 1.0f);

  const cv::Mat shown = faceswap::display_image(linear);
  int inside = 0, outside_changed = 0, linear_off = 0, worst_shown = 0;
  for (int y = 0; y < side; ++y)
    for (int x = 0; x < side; ++x)
      for (int c = 0; c < 3; ++c) {
        const float f = face.at<cv::Vec3f>(y, x)[c];
        if (!in_square(y, x)) {
          outside_changed += eight.at<cv::Vec3b>(y, x)[c] != eight_before.at<cv::Vec3b>(y, x)[c];
          outside_changed += sixteen.at<cv::Vec3w>(y, x)[c] != sixteen_before.at<cv::Vec3w>(y, x)[c];
          outside_changed += linear.at<cv::Vec3f>(y, x)[c] != linear_before.at<cv::Vec3f>(y, x)[c];
          continue;
        }
        ++inside;
        CHECK(eight.at<cv::Vec3b>(y, x)[c] == cv::saturate_cast<std::uint8_t>(255.0f * f));
        CHECK(sixteen.at<cv::Vec3w>(y, x)[c] == cv::saturate_cast<std::uint16_t>(65535.0f * f));
        // Linear light in the plate: the face decoded, not its encoded values.
        const float expected = faceswap::srgb_decode(f);
        linear_off += std::abs(linear.at<cv::Vec3f>(y, x)[c] - expected) > 1e-6f;
        // Seen through the sRGB encoding, the 8-bit frame's face.
        worst_shown = std::max(worst_shown, std::abs(int(shown.at<cv::Vec3b>(y, x)[c]) - int(eight.at<cv::Vec3b>(y, x)[c])));
      }
  CHECK(inside == 32 * 32 * 3);
  CHECK(outside_changed == 0);
  CHECK(linear_off == 0);
  CHECK(worst_shown <= 1);
  CHECK(linear.at<cv::Vec3f>(2, 2)[0] == 3.5f);
}

TEST_CASE("composite: Inf and NaN in a float plate are replaced by the face where they are under the mask, kept elsewhere") {
  const cv::Mat face = random_image(CV_32FC3, 0.05f, 0.95f, 4);
  cv::Mat plate(side, side, CV_32FC3, cv::Scalar(0.2, 0.2, 0.2));
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  plate.at<cv::Vec3f>(30, 30) = {inf, -inf, nan};  // inside the square
  plate.at<cv::Vec3f>(2, 2) = {inf, -inf, nan};    // outside
  composite_into(plate, face);
  for (int c = 0; c < 3; ++c) CHECK(plate.at<cv::Vec3f>(30, 30)[c] == faceswap::srgb_decode(face.at<cv::Vec3f>(30, 30)[c]));
  CHECK(plate.at<cv::Vec3f>(2, 2)[0] == inf);
  CHECK(plate.at<cv::Vec3f>(2, 2)[1] == -inf);
  CHECK(std::isnan(plate.at<cv::Vec3f>(2, 2)[2]));
}

TEST_CASE("display_image: round(255 srgb_encode(v)) for every linear value, highlights white, NaN and negatives black") {
  cv::Mat linear(1, 20000, CV_32FC3);
  for (int i = 0; i < 3 * linear.cols; ++i)
    linear.ptr<float>(0)[i] = float(i) / (2.5f * 3 * float(linear.cols)) * 1.2f;  // 0 .. 0.48
  linear.at<cv::Vec3f>(0, 0) = {-1.0f, std::numeric_limits<float>::quiet_NaN(), 7.0f};
  const cv::Mat shown = faceswap::display_image(linear);
  CHECK(shown.at<cv::Vec3b>(0, 0) == cv::Vec3b(0, 0, 255));
  int differ = 0;
  for (int i = 3; i < 3 * linear.cols; ++i) {
    const float exact = 255.0f * faceswap::srgb_encode(linear.ptr<float>(0)[i]);
    if (std::abs(exact - std::floor(exact) - 0.5f) < 1e-3f) continue;  // a tie: either side
    differ += shown.ptr<uchar>(0)[i] != cv::saturate_cast<uchar>(exact);
  }
  CHECK(differ == 0);
}

TEST_CASE("composite refuses frames of other types, naming what it takes") {
  cv::Mat gray(side, side, CV_32FC1, cv::Scalar(0.5));
  CHECK_THROWS_WITH_AS(composite_into(gray, random_image(CV_32FC3, 0.0f, 1.0f, 3)),
                       doctest::Contains("8 or 16 bits per channel, or linear float"), graft::Error);
}

TEST_CASE("The sRGB transfer function and its inverse") {
  CHECK(faceswap::srgb_encode(0.0f) == 0.0f);
  CHECK(faceswap::srgb_encode(1.0f) == 1.0f);
  CHECK(faceswap::srgb_encode(4.0f) == 1.0f);                                    // highlights clip for display
  CHECK(faceswap::srgb_encode(-0.1f) == 0.0f);                                   // and negatives
  CHECK(faceswap::srgb_encode(0.18f) == doctest::Approx(0.4614).epsilon(1e-3));  // middle grey
  CHECK(faceswap::srgb_decode(0.5f) == doctest::Approx(0.2140).epsilon(1e-3));
  for (float v = 1.0f / 64; v <= 1.0f; v += 1.0f / 64)
    CHECK(faceswap::srgb_encode(faceswap::srgb_decode(v)) == doctest::Approx(v).epsilon(1e-5).scale(0));
}

TEST_CASE("composite: each colour transfer brings the face's colours to the original's inside the mask, nothing outside") {
  const cv::Mat face = random_image(CV_32FC3, 0.5f, 0.9f, 3);  // a warmer, brighter face than the plate's
  cv::Mat plate = random_image(CV_8UC3, 30, 120, 4), original;
  plate.convertTo(original, CV_32FC3, 1.0 / 255);
  const cv::Scalar want = cv::mean(original(cv::Rect(16, 16, 32, 32)));
  for (const auto name : faceswap::colour_transfer_names) {
    CAPTURE(name);
    const auto mode = *faceswap::parse_colour_transfer(name);
    cv::Mat frame = plate.clone();
    faceswap::composite(frame, faceswap::Affine{}, face.clone(), square_mask(), original,
                        {.erode = 0, .blur = 0, .colour_transfer = mode});
    const cv::Scalar got = cv::mean(frame(cv::Rect(16, 16, 32, 32)));
    cv::Mat outside_changed = frame != plate;
    outside_changed.reshape(1)(cv::Rect(16 * 3, 16, 32 * 3, 32)).setTo(0);
    CHECK(cv::countNonZero(outside_changed.reshape(1)) == 0);
    for (int c = 0; c < 3; ++c) {
      if (mode == faceswap::ColourTransfer::none)
        CHECK(got[c] > 255 * 0.65);  // the face as drawn
      else
        CHECK(std::abs(got[c] - 255 * want[c]) < 2.0);  // within two levels of the plate's mean
    }
  }
}
