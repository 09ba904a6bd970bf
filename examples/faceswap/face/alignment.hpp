// Face alignment: the similarity transform that maps a frame onto an aligned
// face crop, as DeepFaceLab builds it (reference §5.1).
//
// 68 dlib/iBUG landmarks are fitted to a canonical face (canonical_face.hpp)
// by the least-squares similarity (Umeyama's method, which in 2-D has the
// closed form below). The canonical unit square, grown by the face type's
// padding, becomes the crop: 'full' covers the face from eyebrows to chin,
// 'whole' adds the forehead (its centre moves up by 7% of the diagonal).
// Everything here is plain arithmetic on points, so the tests can check it
// to 1e-6 without images.
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include <graft/core/error.hpp>

namespace faceswap {

struct Point {
  double x = 0, y = 0;
  friend Point operator+(Point a, Point b) { return {a.x + b.x, a.y + b.y}; }
  friend Point operator-(Point a, Point b) { return {a.x - b.x, a.y - b.y}; }
  friend Point operator*(double s, Point a) { return {s * a.x, s * a.y}; }
  friend bool operator==(Point, Point) = default;
};

inline double norm(Point p) { return std::hypot(p.x, p.y); }

inline constexpr std::size_t landmark_count = 68;
using Landmarks = std::array<Point, landmark_count>;

// A 2x3 affine map: (x, y) -> (a x + b y + c, d x + e y + f).
struct Affine {
  double a = 1, b = 0, c = 0, d = 0, e = 1, f = 0;

  Point operator()(Point p) const { return {a * p.x + b * p.y + c, d * p.x + e * p.y + f}; }
  Affine inverse() const {
    const double det = a * e - b * d;
    graft::check(std::abs(det) > 1e-300, "faceswap::Affine: the transform is singular");
    const double ia = e / det, ib = -b / det, id = -d / det, ie = a / det;
    return {ia, ib, -(ia * c + ib * f), id, ie, -(id * c + ie * f)};
  }
  // this(other(p)).
  Affine after(const Affine& o) const {
    return {a * o.a + b * o.d, a * o.b + b * o.e, a * o.c + b * o.f + c,
            d * o.a + e * o.d, d * o.b + e * o.e, d * o.c + e * o.f + f};
  }
  double scale() const { return std::sqrt(std::abs(a * e - b * d)); }
  friend bool operator==(const Affine&, const Affine&) = default;
};

// The similarity (rotation, uniform scale, translation; no reflection) that
// maps `from` onto `to` with the least squared error. Writing centred points
// as complex numbers, the best map is z -> k z with k = sum(conj(x) y) / sum(|x|^2),
// which is what Umeyama's SVD solution reduces to in two dimensions.
inline Affine fit_similarity(std::span<const Point> from, std::span<const Point> to) {
  graft::check(from.size() == to.size() && from.size() >= 2,
               "faceswap::fit_similarity: need two equally long lists of at least 2 points, got ", from.size(), " and ",
               to.size());
  Point mf{}, mt{};
  for (std::size_t i = 0; i < from.size(); ++i) mf = mf + from[i], mt = mt + to[i];
  const double n = static_cast<double>(from.size());
  mf = (1.0 / n) * mf, mt = (1.0 / n) * mt;
  double re = 0, im = 0, energy = 0;
  for (std::size_t i = 0; i < from.size(); ++i) {
    const Point x = from[i] - mf, y = to[i] - mt;
    re += x.x * y.x + x.y * y.y;  // Re(conj(x) y)
    im += x.x * y.y - x.y * y.x;  // Im(conj(x) y)
    energy += x.x * x.x + x.y * x.y;
  }
  graft::check(energy > 0, "faceswap::fit_similarity: the source points all coincide");
  const double kr = re / energy, ki = im / energy;
  Affine m{kr, -ki, 0, ki, kr, 0};
  const Point moved = m(mf);
  m.c = mt.x - moved.x;
  m.f = mt.y - moved.y;
  return m;
}

// DeepFaceLab's face types (reference §5.1): how far the crop extends around
// the canonical face. 'head' needs 3-D landmarks and is not offered.
enum class FaceType { half, mid_full, full, whole };

struct FaceTypeInfo {
  FaceType type;
  std::string_view name;
  double padding;       // of the canonical unit square's half-diagonal, see crop_transform
  double centre_shift;  // upwards, in units of the canonical square's diagonal
};

inline constexpr std::array<FaceTypeInfo, 4> face_types{{
    {FaceType::half, "half", 0.0, 0.0},
    {FaceType::mid_full, "mid_full", 0.0675, 0.0},
    {FaceType::full, "full", 0.2109375, 0.0},
    {FaceType::whole, "whole", 0.40, 0.07},
}};

inline const FaceTypeInfo& info_of(FaceType t) { return face_types[static_cast<std::size_t>(t)]; }
inline std::string_view name_of(FaceType t) { return info_of(t).name; }
inline std::optional<FaceType> parse_face_type(std::string_view name) {
  for (const auto& i : face_types)
    if (i.name == name) return i.type;
  return std::nullopt;
}

// The landmarks that carry the alignment: eyebrows, nose, eyes and the two
// mouth corners (17..48 and 54): stable under expression, unlike the jaw and lips.
inline constexpr std::array<std::size_t, 33> alignment_points = [] {
  std::array<std::size_t, 33> p{};
  for (std::size_t i = 0; i < 32; ++i) p[i] = 17 + i;
  p[32] = 54;
  return p;
}();

// The map from frame pixels to a size x size crop of face type `type`;
// `canonical` holds the canonical positions of alignment_points (canonical_face.hpp).
inline Affine crop_transform(const Landmarks& landmarks, FaceType type, int size, std::span<const Point> canonical) {
  graft::check(size > 0, "faceswap::crop_transform: crop size must be positive, got ", size);
  std::vector<Point> chosen;
  for (std::size_t i : alignment_points) chosen.push_back(landmarks[i]);
  const Affine to_canonical = fit_similarity(chosen, canonical);
  const Affine to_frame = to_canonical.inverse();
  // The canonical unit square and its centre, in the frame.
  const Point tl = to_frame({0, 0}), tr = to_frame({1, 0}), br = to_frame({1, 1}), bl = to_frame({0, 1});
  Point centre = to_frame({0.5, 0.5});
  const Point down_diagonal = br - tl, up_diagonal = tr - bl;
  const double diagonal = norm(down_diagonal);
  const FaceTypeInfo& t = info_of(type);
  const Point up = (1.0 / norm(tl - bl)) * (tl - bl);
  centre = centre + (t.centre_shift * diagonal) * up;
  // Half the crop's diagonal: the unit square's half-diagonal grown by the padding.
  const double half = diagonal * (t.padding * std::sqrt(2.0) + 0.5);
  const Point d1 = (half / diagonal) * down_diagonal, d2 = (half / norm(up_diagonal)) * up_diagonal;
  const std::array<Point, 3> corners{centre - d1, centre + d2, centre + d1};  // top-left, top-right, bottom-right
  const std::array<Point, 3> target{Point{0, 0}, Point{double(size), 0}, Point{double(size), double(size)}};
  return fit_similarity(corners, target);
}

inline Landmarks transformed(const Landmarks& l, const Affine& m) {
  Landmarks out;
  for (std::size_t i = 0; i < l.size(); ++i) out[i] = m(l[i]);
  return out;
}

}  // namespace faceswap
