// Yaw from landmarks against a turned 3-D head, the uniform-yaw sampler
// against bin counts computed here, the loader's draws with it (the same for
// any rank count), and the coverage line the trainer prints.
#include <doctest/doctest.h>

#include <cmath>
#include <graft/core/error.hpp>
#include <graft/core/philox.hpp>
#include <map>
#include <numbers>
#include <set>

#include "data/batch_loader.hpp"
#include "data/yaw_sampler.hpp"
#include "demo_sets.hpp"
#include "face/head_turn.hpp"

using namespace faceswap;

namespace {

// A head seen from afar: the jaw's 17 points on a half ellipse from ear to
// ear (the ends at depth 0, half-width 7), the nose tip `depth` in front,
// other landmarks on a plane in front of the ears; turned by `yaw` degrees
// about the vertical axis, then rolled by `roll` degrees in the image, scaled
// and moved.
Landmarks turned_head(double yaw, double depth = 10.5, double roll = 0) {
  std::array<std::array<double, 3>, landmark_count> head{};
  for (std::size_t i = 0; i <= 16; ++i) {
    const double phi = (double(i) / 16.0 - 0.5) * std::numbers::pi;  // -90..90 degrees
    head[i] = {7 * std::sin(phi), 4 + 6 * std::cos(phi), 7 * std::cos(phi)};
  }
  for (std::size_t i = 17; i < landmark_count; ++i) head[i] = {double(int(i % 7) - 3), double(int(i % 5) - 4), 8};
  head[nose_tip] = {0, 1, depth};
  const double t = yaw * std::numbers::pi / 180, r = roll * std::numbers::pi / 180;
  Landmarks l{};
  for (std::size_t i = 0; i < landmark_count; ++i) {
    const auto [x, y, z] = head[i];
    const double turned_x = x * std::cos(t) + z * std::sin(t);
    l[i] = {100 + 9 * (turned_x * std::cos(r) - y * std::sin(r)), 80 + 9 * (turned_x * std::sin(r) + y * std::cos(r))};
  }
  return l;
}

using faceswap::testing::demo_set;

}  // namespace

TEST_CASE("Yaw from landmarks: the turn of a 3-D head, whatever its roll, scale and place") {
  for (double yaw = -70; yaw <= 70; yaw += 10) {
    CAPTURE(yaw);
    CHECK(std::abs(yaw_degrees(turned_head(yaw)) - yaw) < 1e-6);  // this head's d / w is the model's 1.5
    CHECK(yaw_degrees(turned_head(yaw, 10.5, 25)) == doctest::Approx(yaw_degrees(turned_head(yaw))).epsilon(1e-9));
    // Another nose: not the same degrees, but the same order and sign.
    const double flatter = yaw_degrees(turned_head(yaw, 8.0));
    CHECK(std::abs(flatter) <= std::abs(yaw) + 1e-9);
    CHECK(flatter * yaw >= 0);
    if (yaw > -70) CHECK(flatter > yaw_degrees(turned_head(yaw - 10, 8.0)));
  }
  // Mirrored (x -> -x, the jaw's order reversed as a detector would number it): the opposite turn.
  Landmarks mirrored = turned_head(30);
  for (auto& p : mirrored) p.x = 200 - p.x;
  for (std::size_t i = 0; i < 8; ++i) std::swap(mirrored[i], mirrored[16 - i]);
  CHECK(std::abs(yaw_degrees(mirrored) + 30) < 1e-6);
}

TEST_CASE("UniformYawSampler: every occupied 1.07-degree bin as often, then every face in it") {
  // Footage as shot: 900 faces within 5 degrees of frontal, 10 at 40 degrees, 10 at -45.
  std::vector<double> yaws;
  const graft::Philox random(3);
  for (int i = 0; i < 900; ++i) yaws.push_back(random.uniform(-5.0f, 5.0f, std::uint64_t(i)));
  for (int i = 0; i < 10; ++i) yaws.push_back(40.0 + 0.01 * i);
  for (int i = 0; i < 10; ++i) yaws.push_back(-45.0 - 0.01 * i);
  const UniformYawSampler sampler(yaws);
  std::map<int, int> faces_in_bin;  // bins counted here: 128 over +-68.75 degrees
  for (const double y : yaws) ++faces_in_bin[int(std::floor((y + 68.75) / 137.5 * 128))];
  CHECK(sampler.occupied_bins() == faces_in_bin.size());
  const int draws = 40000;
  int profiles = 0;
  std::vector<int> drawn(yaws.size(), 0);
  for (int k = 0; k < draws; ++k) {
    const std::size_t f = sampler.pick(random.uniform(2 * std::uint64_t(k), 1), random.uniform(2 * std::uint64_t(k) + 1, 1));
    ++drawn[f];
    profiles += std::abs(yaws[f]) > 30;
  }
  const double expected = 2.0 / double(faces_in_bin.size());  // the two profile bins among the occupied ones
  MESSAGE("profiles drawn: ", double(profiles) / draws, " (", expected, " expected; ", 20.0 / 920, " by face)");
  CHECK(double(profiles) / draws == doctest::Approx(expected).epsilon(0.1));
  for (std::size_t f = 900; f < yaws.size(); ++f) CHECK(drawn[f] > 0);
  CHECK(sampler.pick(0.0, 0.0) < yaws.size());
  CHECK(sampler.pick(0.9999999, 0.9999999) < yaws.size());
}

TEST_CASE("BatchLoader with uniform yaw: a face by yaw at each position, the same for any rank count") {
  const auto yaws = yaws_of(demo_set(), "demo");
  const UniformYawSampler sampler(yaws);
  BatchLoader one(demo_set(), nullptr, {.batch = 8, .seed = 4, .workers = 1, .prefetch = 1, .uniform_yaw = true});
  BatchLoader plain(demo_set(), nullptr, {.batch = 8, .seed = 4, .workers = 1, .prefetch = 1});
  int differ = 0;
  for (int rank = 0; rank < 2; ++rank) {
    BatchLoader half(demo_set(), nullptr,
                     {.batch = 4, .ranks = 2, .rank = rank, .seed = 4, .workers = 1, .prefetch = 1, .uniform_yaw = true});
    for (std::int64_t step = 0; step < 30; ++step)
      for (std::int64_t j = 0; j < 4; ++j) {
        const auto [index, key] = half.sample_of(step, j);
        const auto [whole_index, whole_key] = one.sample_of(step, 2 * j + rank);
        CHECK(index == whole_index);
        CHECK(key.slot == whole_key.slot);
        differ += index != plain.sample_of(step, 2 * j + rank).first;
      }
  }
  CHECK(differ > 100);  // of 240: the draws are not the epochs'
  MESSAGE("the demo set's yaws span ", *std::ranges::min_element(yaws), " to ", *std::ranges::max_element(yaws), " degrees in ",
          sampler.occupied_bins(), " bins");

  // The demo set (all near-frontal) with five of its faces' landmarks turned to 45 degrees, as extract
  // would have written them: drawn by yaw, those five come up as often as a whole bin of frontal faces.
  const faceswap::testing::Scratch scratch("uniform-yaw");
  std::filesystem::copy(faceswap::testing::demo / "faces" / "spkA", scratch.path());
  const auto files = face_metadata_files(scratch.path());
  std::set<std::string> turned;
  for (std::size_t k = 0; k < 5; ++k) {
    FaceMetadata m = read_face_metadata(files[k * 13]);
    const Point a = m.landmarks[jaw_first], b = m.landmarks[jaw_last];
    m.landmarks[nose_tip] = 0.5 * (a + b) + 0.75 * (b - a);  // offset 1.5 half-widths: atan(1) = 45 degrees
    write_face_metadata(files[k * 13], m);
    turned.insert(m.image);
  }
  const FaceSet skewed = FaceSet::load(scratch.path(), {.resolution = 64});
  REQUIRE(skewed.size() == demo_set().size());
  const auto share_turned = [&](bool by_yaw) {
    BatchLoader loader(skewed, nullptr, {.batch = 8, .seed = 5, .workers = 1, .prefetch = 1, .uniform_yaw = by_yaw});
    int count = 0;
    for (std::int64_t step = 0; step < 250; ++step)
      for (std::int64_t b = 0; b < 8; ++b) count += turned.contains(skewed.metadata()[loader.sample_of(step, b).first].image);
    return double(count) / 2000;
  };
  const double by_face = share_turned(false), by_yaw = share_turned(true);
  MESSAGE("five faces turned 45 degrees among 75: ", by_face, " of the draws by face, ", by_yaw, " by yaw");
  CHECK(by_face < 0.1);
  CHECK(by_yaw > 0.15);
  // A set without metadata cannot be drawn by yaw.
  const auto bare = FaceSet::from_images({demo_set().image(0).clone()}, {demo_set().mask(0).clone()});
  CHECK_THROWS_WITH_AS(BatchLoader(bare, nullptr, {.uniform_yaw = true}), doctest::Contains("no metadata"), graft::Error);
}

TEST_CASE("Yaw coverage: both ranges, and a warning when dst turns further than src has faces for") {
  std::vector<double> src, dst;
  for (int i = 0; i <= 100; ++i) {
    src.push_back(-20 + 0.4 * i);  // -20 .. 20
    dst.push_back(-15 + 0.5 * i);  // -15 .. 35
  }
  const std::string line = yaw_coverage(src, dst);
  CHECK(line.find("src -19 to 19, dst -14 to 34") != std::string::npos);
  CHECK(line.find("left") == std::string::npos);
  CHECK(line.find("dst turns 15 degrees further right") != std::string::npos);
  CHECK(yaw_coverage(src, src).find("further") == std::string::npos);
  std::vector<double> wider;  // -40 .. 40: short on both sides
  for (int i = 0; i <= 100; ++i) wider.push_back(-40 + 0.8 * i);
  const std::string both = yaw_coverage(src, wider);
  CHECK(both.find("dst turns 19 degrees further left") != std::string::npos);
  CHECK(both.find("dst turns 19 degrees further right") != std::string::npos);
  std::vector<double> stray = src;
  stray.push_back(80);  // one stray face (a misdetection) does not count
  CHECK(yaw_coverage(src, stray).find("further") == std::string::npos);
}
