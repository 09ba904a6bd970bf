// FaceSet: loading the shipped demo set, scaling, and damaged faces.
#include <doctest/doctest.h>

#include <fstream>
#include <opencv2/imgproc.hpp>

#include "data/face_set.hpp"
#include "face/image_file.hpp"
#include "scratch_directory.hpp"
#include "support.hpp"

using namespace faceswap;
using faceswap::testing::Scratch;

namespace {
void copy_set(const std::filesystem::path& to) {
  std::filesystem::copy(faceswap::testing::demo / "faces" / "spkA", to, std::filesystem::copy_options::recursive);
}
}  // namespace

TEST_CASE("FaceSet loads the demo set once into memory, at its size or scaled") {
  const FaceSet set = FaceSet::load(faceswap::testing::demo / "faces" / "spkA");
  CHECK(set.size() == 75);
  CHECK(set.resolution() == 128);
  CHECK(set.bytes() == 75u * 128 * 128 * 4);
  CHECK(set.metadata()[0].image == "brbk7n_000000_0.jpg");
  // The pixels are the decoded files.
  const cv::Mat first = read_image(faceswap::testing::demo / "faces" / "spkA" / "brbk7n_000000_0.jpg");
  CHECK(cv::norm(first, set.image(0), cv::NORM_INF) == 0);
  const FaceSet small = FaceSet::load(faceswap::testing::demo / "faces" / "spkA", {.resolution = 64});
  CHECK(small.resolution() == 64);
  CHECK(small.image(10).size() == cv::Size(64, 64));
  cv::Mat expected;
  cv::resize(set.image(10), expected, {64, 64}, 0, 0, cv::INTER_AREA);
  CHECK(cv::norm(expected, small.image(10), cv::NORM_INF) == 0);
}

TEST_CASE("A damaged face is an error naming its file, or skipped and listed") {
  Scratch scratch("faceset");
  copy_set(scratch / "set");
  const auto victim = scratch / "set" / "brbk7n_000007_0.jpg";
  const std::string jpeg = graft::testing::read_bytes(victim);
  graft::testing::write_bytes(victim, jpeg.substr(0, jpeg.size() - 300));
  CHECK_THROWS_WITH_AS(FaceSet::load(scratch / "set"), doctest::Contains("brbk7n_000007_0.jpg: truncated JPEG"), graft::Error);
  const FaceSet set = FaceSet::load(scratch / "set", {.bad_face = BadFace::skip});
  CHECK(set.size() == 74);
  REQUIRE(set.skipped().size() == 1);
  CHECK(set.skipped()[0].find("brbk7n_000007_0.jpg") != std::string::npos);

  std::filesystem::remove(scratch / "set" / "brbk7n_000009_0.mask.png");
  CHECK_THROWS_WITH_AS(FaceSet::load(scratch / "set"), doctest::Contains("brbk7n_00000"), graft::Error);
}

TEST_CASE("A folder without faces, or no folder, is a clear error") {
  Scratch scratch("empty-set");
  CHECK_THROWS_WITH_AS(FaceSet::load(scratch.path()), doctest::Contains("holds no faces"), graft::Error);
  CHECK_THROWS_WITH_AS(FaceSet::load(scratch / "nowhere"), doctest::Contains("nowhere: no such face-set folder"), graft::Error);
}
