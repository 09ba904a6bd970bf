// examples/faceswap/face/alignment.hpp: similarity fitting and crop transforms
// against synthetic similarity transforms of known landmarks.
#include <doctest/doctest.h>

#include <graft/core/philox.hpp>

#include "face/alignment.hpp"
#include "face/canonical_face.hpp"

using namespace faceswap;

namespace {

Landmarks random_landmarks(std::uint64_t seed) {
  const graft::Philox rng(seed);
  Landmarks l;
  for (std::size_t i = 0; i < l.size(); ++i) l[i] = {rng.uniform(50.0f, 300.0f, 2 * i), rng.uniform(40.0f, 250.0f, 2 * i + 1)};
  return l;
}

Affine similarity(double angle, double scale, double tx, double ty) {
  return {scale * std::cos(angle), -scale * std::sin(angle), tx, scale * std::sin(angle), scale * std::cos(angle), ty};
}

void check_close(const Affine& a, const Affine& b, double tolerance) {
  CHECK(a.a == doctest::Approx(b.a).epsilon(tolerance));
  CHECK(a.b == doctest::Approx(b.b).epsilon(tolerance).scale(1.0));
  CHECK(a.c == doctest::Approx(b.c).epsilon(tolerance));
  CHECK(a.d == doctest::Approx(b.d).epsilon(tolerance).scale(1.0));
  CHECK(a.e == doctest::Approx(b.e).epsilon(tolerance));
  CHECK(a.f == doctest::Approx(b.f).epsilon(tolerance));
}

}  // namespace

TEST_CASE("fit_similarity recovers a known similarity transform to 1e-6") {
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    const graft::Philox rng(seed * 977);
    const Affine truth = similarity(rng.uniform(-3.0f, 3.0f, 0), rng.uniform(0.2f, 5.0f, 1), rng.uniform(-400.0f, 400.0f, 2),
                                    rng.uniform(-400.0f, 400.0f, 3));
    const Landmarks from = random_landmarks(seed);
    const Landmarks to = transformed(from, truth);
    const Affine fitted = fit_similarity(from, to);
    INFO("seed ", seed);
    for (const auto& [got, want] : {std::pair{fitted.a, truth.a},
                                    {fitted.b, truth.b},
                                    {fitted.c, truth.c},
                                    {fitted.d, truth.d},
                                    {fitted.e, truth.e},
                                    {fitted.f, truth.f}})
      CHECK(std::abs(got - want) < 1e-6 * std::max(1.0, std::abs(want)));
  }
}

TEST_CASE("fit_similarity is the least-squares fit when points are noisy") {
  // Moving one point pulls the fit; the residual of the fit is smaller than
  // that of the true transform (it is the least-squares optimum).
  const Affine truth = similarity(0.3, 1.7, 10, -20);
  const Landmarks from = random_landmarks(3);
  Landmarks to = transformed(from, truth);
  const graft::Philox rng(5);
  for (std::size_t i = 0; i < to.size(); ++i) to[i] = to[i] + Point{rng.normal(2 * i), rng.normal(2 * i + 1)};
  const Affine fitted = fit_similarity(from, to);
  auto residual = [&](const Affine& m) {
    double r = 0;
    for (std::size_t i = 0; i < to.size(); ++i) r += std::pow(norm(m(from[i]) - to[i]), 2);
    return r;
  };
  CHECK(residual(fitted) < residual(truth));
  // A nudge of any parameter makes it worse.
  Affine nudged = fitted;
  nudged.c += 0.01;
  CHECK(residual(fitted) < residual(nudged));
  nudged = fitted;
  nudged.a *= 1.001, nudged.e *= 1.001;
  CHECK(residual(fitted) < residual(nudged));
}

TEST_CASE("crop_transform follows the face: moving the frame moves the crop map with it") {
  const Landmarks face = random_landmarks(11);
  for (FaceType type : {FaceType::full, FaceType::whole}) {
    const Affine crop = crop_transform(face, type, 256, canonical_face);
    const Affine motion = similarity(0.2, 1.3, 35, -12);
    const Affine moved_crop = crop_transform(transformed(face, motion), type, 256, canonical_face);
    // The same face in the moved frame lands on the same crop pixels.
    check_close(moved_crop.after(motion), crop, 1e-9);
    CHECK(crop.inverse().after(crop).a == doctest::Approx(1.0));
  }
}

TEST_CASE("Face types: whole is larger than full and shifted up; half is the canonical square") {
  // Landmarks that are exactly the canonical face scaled by 100: the half
  // crop is then the canonical unit square, 100 px wide.
  Landmarks face{};
  for (std::size_t k = 0; k < alignment_points.size(); ++k) face[alignment_points[k]] = 100.0 * canonical_face[k];
  const Affine half = crop_transform(face, FaceType::half, 100, canonical_face);
  check_close(half, Affine{1, 0, 0, 0, 1, 0}, 1e-9);
  const Affine full = crop_transform(face, FaceType::full, 100, canonical_face);
  const Affine whole = crop_transform(face, FaceType::whole, 100, canonical_face);
  // Side of the crop in frame pixels (100 / scale): the half-diagonal grows by
  // padding x diagonal, so the side grows by 2 sqrt(2) padding of the square.
  CHECK(100 / full.scale() == doctest::Approx(100 * (1 + 2 * std::sqrt(2.0) * 0.2109375)));
  CHECK(100 / whole.scale() == doctest::Approx(100 * (1 + 2 * std::sqrt(2.0) * 0.40)));
  // The whole crop's centre sits 7% of the diagonal above the full crop's.
  const Point full_centre = full.inverse()({50, 50}), whole_centre = whole.inverse()({50, 50});
  CHECK(whole_centre.x == doctest::Approx(full_centre.x));
  CHECK(full_centre.y - whole_centre.y == doctest::Approx(0.07 * 100 * std::sqrt(2.0)));
  CHECK(parse_face_type("whole") == FaceType::whole);
  CHECK(!parse_face_type("head").has_value());
}
