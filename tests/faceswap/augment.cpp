// Augmentation and the batch loader: determinism, independence of thread and
// rank counts, what the warp and the affine touch, and the loss-mask formula.
#include <doctest/doctest.h>

#include <opencv2/imgproc.hpp>

#include "data/batch_loader.hpp"
#include "demo_sets.hpp"
#include "face/planes.hpp"

using namespace faceswap;

namespace {

using faceswap::testing::demo_set;
using faceswap::testing::other_set;

SideTensors one(std::size_t index, SampleKey key, const AugmentOptions& options, const FaceSet& set = demo_set()) {
  SideTensors t(1, set.resolution());
  augment_into(set, index, key, options, &other_set(), t, 0);
  return t;
}

bool same(const graft::Tensor& a, const graft::Tensor& b) { return std::ranges::equal(a.span(), b.span()); }

double mean_abs_difference(const graft::Tensor& a, const graft::Tensor& b) {
  double d = 0;
  for (std::size_t i = 0; i < a.span().size(); ++i) d += std::abs(a.span()[i] - b.span()[i]);
  return d / double(a.span().size());
}

// Sample b of a batch, as values.
std::vector<float> sample(const graft::Tensor& t, std::int64_t b) {
  const std::int64_t n = t.numel() / t.shape()[0];
  return {t.data() + b * n, t.data() + (b + 1) * n};
}

std::vector<float> values(const graft::Tensor& t) { return {t.span().begin(), t.span().end()}; }

// A batch kept after the loader has reused its buffers.
struct Kept {
  graft::Tensor warped, target, loss_mask;
  explicit Kept(const SideTensors& s) : warped(s.warped.shape()), target(s.target.shape()), loss_mask(s.loss_mask.shape()) {
    std::ranges::copy(s.warped.span(), warped.span().begin());
    std::ranges::copy(s.target.span(), target.span().begin());
    std::ranges::copy(s.loss_mask.span(), loss_mask.span().begin());
  }
};

}  // namespace

TEST_CASE("Augmentation is a function of (seed, step, slot)") {
  for (const auto mode : {ColourTransfer::rct, ColourTransfer::idt, ColourTransfer::sot}) {  // sot and idt draw directions
  CAPTURE(name_of(mode));
  const AugmentOptions options{.colour_transfer = mode};
  const auto a = one(3, {1, 10, 2}, options), b = one(3, {1, 10, 2}, options);
  CHECK(same(a.warped, b.warped));
  CHECK(same(a.target, b.target));
  CHECK(same(a.loss_mask, b.loss_mask));
  for (SampleKey other : {SampleKey{2, 10, 2}, SampleKey{1, 11, 2}, SampleKey{1, 10, 3}}) {
    const auto c = one(3, other, options);
    CHECK(!same(a.warped, c.warped));
    CHECK(!same(a.target, c.target));
  }
  // The transfer draws on its own: the geometry (seen in the mask) is the one without it.
  CHECK(same(a.mask, one(3, {1, 10, 2}, {}).mask));
  CHECK(!same(a.target, one(3, {1, 10, 2}, {}).target));
  }
}

TEST_CASE("Random HSV shifts the input's colours only, by at most the power's share, and not the geometry") {
  double lowest = 0, highest = 0, largest_turn = 0;
  for (std::uint64_t step = 0; step < 12; ++step) {
    const SampleKey key{2, step, 1};
    for (const bool warp : {true, false}) {
      const auto shifted = one(4, key, {.random_warp = warp, .random_hsv = 0.3}), plain = one(4, key, {.random_warp = warp});
      CHECK(same(shifted.target, plain.target));
      CHECK(same(shifted.mask, plain.mask));
      CHECK(!same(shifted.warped, plain.warped));
      if (!warp) continue;
      // The value (max of B, G, R) of the input moves by the draw's +-0.15 at most, as the mean shows.
      cv::Mat a(64, 64, CV_32FC3), b(64, 64, CV_32FC3), va, vb;
      from_planes(shifted.warped.data(), a);
      from_planes(plain.warped.data(), b);
      cv::Mat channels_a[3], channels_b[3];
      cv::split(a, channels_a);
      cv::split(b, channels_b);
      va = cv::max(cv::max(channels_a[0], channels_a[1]), channels_a[2]);
      vb = cv::max(cv::max(channels_b[0], channels_b[1]), channels_b[2]);
      const double moved = cv::mean(va)[0] - cv::mean(vb)[0];
      CHECK(std::abs(moved) <= 0.15 + 1e-3);
      lowest = std::min(lowest, moved);
      highest = std::max(highest, moved);
      // The hue turns by the draw's +-54 degrees at most: the median turn over coloured pixels (not grey, not
      // dark, not clipped by the value shift), on the circle.
      cv::Mat ha, hb;
      cv::cvtColor(a, ha, cv::COLOR_BGR2HSV);
      cv::cvtColor(b, hb, cv::COLOR_BGR2HSV);
      std::vector<double> turns;
      for (int y = 0; y < 64; ++y)
        for (int x = 0; x < 64; ++x) {
          const auto p = ha.at<cv::Vec3f>(y, x), q = hb.at<cv::Vec3f>(y, x);
          if (q[1] < 0.25f || q[2] < 0.25f || q[2] > 0.85f || p[1] < 0.1f) continue;
          turns.push_back(std::remainder(double(p[0]) - double(q[0]), 360.0));
        }
      if (turns.size() < 200) continue;
      std::ranges::nth_element(turns, turns.begin() + std::ptrdiff_t(turns.size() / 2));
      const double turn = turns[turns.size() / 2];
      CHECK(std::abs(turn) <= 54.0 + 2.0);
      largest_turn = std::max(largest_turn, std::abs(turn));
    }
  }
  MESSAGE("mean value moved by ", lowest, " to ", highest, "; hue turned by up to ", largest_turn, " degrees");
  CHECK(largest_turn > 10);
  CHECK(lowest < -0.02);  // both ways
  CHECK(highest > 0.02);
}

TEST_CASE("blur_out_mask: the target's background blurred from the background alone; the face, input and masks as they were") {
  int far_checked = 0;
  for (std::uint64_t step = 0; step < 6; ++step) {
    const SampleKey key{3, step, 0};
    const auto blurred = one(5, key, {.blur_out_mask = true}), plain = one(5, key, {});
    CHECK(same(blurred.warped, plain.warped));
    CHECK(same(blurred.mask, plain.mask));
    CHECK(same(blurred.loss_mask, plain.loss_mask));
    cv::Mat a(64, 64, CV_32FC3), b(64, 64, CV_32FC3), mask(64, 64, CV_32F);
    from_planes(blurred.target.data(), a);
    from_planes(plain.target.data(), b);
    from_planes(plain.mask.data(), mask);
    // Where the mask is whole, the face exactly; far from it (nothing but background within the 9 x 9
    // kernel of sigma 1), the plain blur of the target; the background is smoother.
    cv::Mat background_only, plain_blur;
    cv::erode(mask == 0.0f, background_only, cv::Mat::ones(9, 9, CV_8U), {-1, -1}, 1, cv::BORDER_CONSTANT, cv::Scalar(0));
    cv::GaussianBlur(b, plain_blur, {0, 0}, 1.0, 0, cv::BORDER_REPLICATE);
    double face_off = 0, far_off = 0;
    for (int y = 0; y < 64; ++y)
      for (int x = 0; x < 64; ++x) {
        const double d = cv::norm(a.at<cv::Vec3f>(y, x) - b.at<cv::Vec3f>(y, x));
        if (mask.at<float>(y, x) == 1.0f) face_off = std::max(face_off, d);
        if (background_only.at<std::uint8_t>(y, x) != 0) {
          far_off = std::max(far_off, cv::norm(a.at<cv::Vec3f>(y, x) - plain_blur.at<cv::Vec3f>(y, x)));
          ++far_checked;
        }
      }
    CHECK(face_off == 0);
    CHECK(far_off < 1e-5);
    cv::Mat edges_a, edges_b;
    cv::Laplacian(a, edges_a, CV_32F);
    cv::Laplacian(b, edges_b, CV_32F);
    CHECK(cv::norm(edges_a, cv::NORM_L2, mask == 0.0f) < 0.8 * cv::norm(edges_b, cv::NORM_L2, mask == 0.0f));
  }
  CHECK(far_checked > 1000);
}

TEST_CASE("Without masked training the loss mask is 1 everywhere; nothing else changes") {
  const SampleKey key{6, 2, 1};
  const auto whole = one(7, key, {.masked_training = false}), masked = one(7, key, {});
  CHECK(same(whole.warped, masked.warped));
  CHECK(same(whole.target, masked.target));
  CHECK(same(whole.mask, masked.mask));
  CHECK(std::ranges::all_of(whole.loss_mask.span(), [](float v) { return v == 1.0f; }));
  CHECK(std::ranges::count(masked.loss_mask.span(), 0.0f) > 100);  // the masked one leaves the background out
}

TEST_CASE("The warp changes the input only; the target is the affine-transformed face") {
  const SampleKey key{7, 3, 1};
  const auto warped = one(5, key, {.random_warp = true});
  const auto plain = one(5, key, {.random_warp = false});
  CHECK(same(warped.target, plain.target));
  CHECK(same(warped.mask, plain.mask));
  CHECK(!same(warped.warped, plain.warped));
  CHECK(same(plain.warped, plain.target));  // without the warp, input and target are one image
  const double moved = mean_abs_difference(warped.warped, warped.target);
  MESSAGE("the warp moves pixels by a mean absolute value of ", moved);
  CHECK(moved > 0.005);

  // With no warp, no affine and no flip the target is the stored face.
  const auto still = one(5, key, {.random_warp = false, .random_flip = false, .rotation_degrees = 0, .scale = 0, .shift = 0});
  const cv::Mat face = demo_set().image(5);
  double worst = 0;
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 64; ++y)
      for (int x = 0; x < 64; ++x)
        worst = std::max(worst, std::abs(still.target.data()[(c * 64 + y) * 64 + x] - face.at<cv::Vec3b>(y, x)[c] / 255.0));
  CHECK(worst < 1e-6);
}

TEST_CASE("Flip and affine move the mask with the image") {
  // A face whose pixels are its mask: after augmentation the target's channels
  // must still be the mask wherever the transform is the same.
  cv::Mat m = cv::Mat::zeros(64, 64, CV_8UC1);
  cv::ellipse(m, {24, 30}, {14, 20}, 20, 0, 360, cv::Scalar(255), cv::FILLED);  // off-centre, so a flip shows
  cv::Mat image;
  cv::cvtColor(m, image, cv::COLOR_GRAY2BGR);
  const FaceSet set = FaceSet::from_images({image}, {m});
  int flipped = 0;
  for (std::uint64_t slot = 0; slot < 12; ++slot) {
    SideTensors t(1, 64);
    augment_into(set, 0, {5, 0, slot}, {.random_warp = false}, nullptr, t, 0);
    // Centre of mass of mask and of the target's blue channel agree.
    double mx = 0, my = 0, ms = 0, ix = 0, iy = 0, is = 0;
    for (int y = 0; y < 64; ++y)
      for (int x = 0; x < 64; ++x) {
        const float mv = t.mask.data()[y * 64 + x], iv = t.target.data()[y * 64 + x];
        mx += mv * x, my += mv * y, ms += mv, ix += iv * x, iy += iv * y, is += iv;
      }
    CHECK(std::abs(mx / ms - ix / is) < 0.3);
    CHECK(std::abs(my / ms - iy / is) < 0.3);
    CHECK(mean_abs_difference(t.mask, graft::Tensor::zeros(t.mask.shape())) > 0);  // the mask is there
    flipped += mx / ms > 32;  // the ellipse starts left of centre; flipped, it is right
  }
  CHECK(flipped > 0);  // p = 0.4 over 12 samples
  CHECK(flipped < 12);
}

TEST_CASE("The loss mask is clip(gaussian_blur(M, max(1, R/32)), 0, 0.5) * 2 of the target mask") {
  const auto t = one(9, {3, 4, 5}, {});
  cv::Mat mask(64, 64, CV_32F, const_cast<float*>(t.mask.data()));
  cv::Mat blurred;
  // sigma = 64 / 32 = 2; kernel max(3, int(4 sigma)) made odd = 9.
  cv::GaussianBlur(mask, blurred, {9, 9}, 2, 2, cv::BORDER_CONSTANT);
  cv::Mat expected = cv::min(blurred, 0.5) * 2.0;
  double worst = 0;
  for (int i = 0; i < 64 * 64; ++i) worst = std::max(worst, double(std::abs(expected.ptr<float>()[i] - t.loss_mask.data()[i])));
  CHECK(worst < 1e-6);
  CHECK(loss_mask_sigma(128) == 4);
  CHECK(loss_mask_sigma(16) == 1);
}

TEST_CASE("BatchLoader: the same batches for any worker count and any rank count") {
  const LoaderOptions base{.batch = 8, .seed = 9, .augment = {.colour_transfer = ColourTransfer::sot, .random_hsv = 0.2}};
  std::vector<Kept> one_rank;
  {
    BatchLoader loader(demo_set(), &other_set(), {.batch = 8, .seed = 9, .workers = 1, .prefetch = 2, .augment = base.augment});
    for (int s = 0; s < 12; ++s) one_rank.emplace_back(loader.next());  // 96 samples: crosses an epoch (75 faces)
  }
  {
    BatchLoader loader(demo_set(), &other_set(), {.batch = 8, .seed = 9, .workers = 3, .prefetch = 5, .augment = base.augment});
    for (int s = 0; s < 12; ++s) {
      const auto& batch = loader.next();
      CHECK(loader.step() == s);
      CHECK(same(batch.warped, one_rank[std::size_t(s)].warped));
      CHECK(same(batch.loss_mask, one_rank[std::size_t(s)].loss_mask));
    }
  }
  // Two ranks of 4: rank r's sample j is the one-rank batch's sample 2j + r.
  for (int rank = 0; rank < 2; ++rank) {
    BatchLoader loader(demo_set(), &other_set(),
                       {.batch = 4, .ranks = 2, .rank = rank, .seed = 9, .workers = 2, .augment = base.augment});
    for (int s = 0; s < 12; ++s) {
      const auto& batch = loader.next();
      for (int j = 0; j < 4; ++j) {
        CHECK(sample(batch.warped, j) == sample(one_rank[std::size_t(s)].warped, 2 * j + rank));
        CHECK(sample(batch.target, j) == sample(one_rank[std::size_t(s)].target, 2 * j + rank));
      }
    }
  }
}

TEST_CASE("BatchLoader: every face once per epoch, a new order each epoch, and resuming at a step") {
  BatchLoader loader(demo_set(), nullptr, {.batch = 5, .seed = 4});
  std::vector<std::size_t> first, second;
  for (std::int64_t s = 0; s < 15; ++s)
    for (std::int64_t b = 0; b < 5; ++b) first.push_back(loader.sample_of(s, b).first);
  for (std::int64_t s = 15; s < 30; ++s)
    for (std::int64_t b = 0; b < 5; ++b) second.push_back(loader.sample_of(s, b).first);
  auto sorted = [](std::vector<std::size_t> v) {
    std::ranges::sort(v);
    return v;
  };
  std::vector<std::size_t> all(75);
  std::iota(all.begin(), all.end(), 0);
  CHECK(sorted(first) == all);
  CHECK(sorted(second) == all);
  CHECK(first != second);

  BatchLoader resumed(demo_set(), nullptr, {.batch = 5, .seed = 4, .first_step = 7});
  BatchLoader fresh(demo_set(), nullptr, {.batch = 5, .seed = 4});
  for (int s = 0; s < 7; ++s) fresh.next();
  CHECK(same(resumed.next().warped, fresh.next().warped));
}

TEST_CASE("Eyes-and-mouth masks: around the eyes and mouth, inside the face, moved with the face") {
  const FaceSet set = FaceSet::load(faceswap::testing::demo / "faces" / "spkA", {.resolution = 64, .eyes_mouth = true});
  REQUIRE(set.has_eyes_mouth());
  const auto& meta = set.metadata()[0];
  const double scale = 64.0 / meta.size;
  const cv::Mat em = set.eyes_mouth(0);
  for (std::size_t i : {37u, 44u, 62u, 66u})  // an eye lid each side, the inner lips
    CHECK(em.at<std::uint8_t>(int(meta.landmarks[i].y * scale), int(meta.landmarks[i].x * scale)) > 128);
  CHECK(em.at<std::uint8_t>(int(meta.landmarks[8].y * scale) - 1, int(meta.landmarks[8].x * scale)) < 20);  // the chin
  CHECK(cv::countNonZero(em & (set.mask(0) == 0)) == 0);
  CHECK(!demo_set().has_eyes_mouth());

  SideTensors t(1, 64, true);
  augment_into(set, 0, {1, 2, 3}, {.eyes_mouth = true}, nullptr, t, 0);
  const auto values = t.eyes_mouth.span();
  CHECK(*std::ranges::max_element(values) == doctest::Approx(1.0f));
  for (std::size_t i = 0; i < values.size(); ++i)
    if (t.mask.span()[i] == 0.0f) CHECK(values[i] < 0.05f);  // moved with the mask (interpolation aside)
  CHECK_THROWS_WITH_AS(augment_into(demo_set(), 0, {1, 2, 3}, {.eyes_mouth = true}, nullptr, t, 0),
                       doctest::Contains("eyes-and-mouth masks asked for"), graft::Error);
}
