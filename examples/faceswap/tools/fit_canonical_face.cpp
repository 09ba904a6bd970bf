// Computes the canonical face that alignment fits landmarks to, from footage:
// the generalized Procrustes mean of the alignment landmarks (17..48, 54) of
// the largest face in every frame, turned so that the eyes are level and
// scaled so that its bounding box fits the unit square, centred. Prints the
// C++ table of face/canonical_face.hpp.
//   fit_canonical_face ../shared/data/grid/videos/*/*.mpg
#include <cstdio>
#include <vector>

#include "../face/detector.hpp"
#include "../face/frame_source.hpp"

using namespace faceswap;
using Shape = std::vector<Point>;

namespace {

Point mean_of(const Shape& s) {
  Point m{};
  for (const Point& p : s) m = m + p;
  return (1.0 / double(s.size())) * m;
}

// Centred, with unit root-mean-square distance from the centre.
Shape normalised(Shape s) {
  const Point m = mean_of(s);
  double energy = 0;
  for (Point& p : s) p = p - m, energy += p.x * p.x + p.y * p.y;
  const double scale = 1.0 / std::sqrt(energy / double(s.size()));
  for (Point& p : s) p = scale * p;
  return s;
}

Shape moved(const Shape& s, const Affine& m) {
  Shape out;
  for (const Point& p : s) out.push_back(m(p));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  FaceDetector detector;
  std::vector<Shape> shapes;
  for (int a = 1; a < argc; ++a) {
    FrameSource source(argv[a]);
    while (auto frame = source.next()) {
      const auto faces = detector.detect(frame->image);
      if (faces.empty()) continue;
      Shape s;
      for (std::size_t i : alignment_points) s.push_back(faces[0].landmarks[i]);
      shapes.push_back(s);
    }
  }
  graft::check(!shapes.empty(), "fit_canonical_face: no faces in the inputs");
  Shape mean = normalised(shapes[0]);
  for (int iteration = 0; iteration < 50; ++iteration) {
    Shape sum(mean.size());
    for (const Shape& s : shapes) {
      const Shape aligned = moved(s, fit_similarity(s, mean));
      for (std::size_t i = 0; i < sum.size(); ++i) sum[i] = sum[i] + aligned[i];
    }
    for (Point& p : sum) p = (1.0 / double(shapes.size())) * p;
    const Shape next = normalised(sum);
    mean = moved(next, fit_similarity(next, mean));  // keep the orientation from drifting
  }
  // Eyes level: alignment_points[19..24] is the left eye (36..41), [25..30] the right (42..47).
  Point left{}, right{};
  for (std::size_t i = 19; i < 25; ++i) left = left + (1.0 / 6) * mean[i];
  for (std::size_t i = 25; i < 31; ++i) right = right + (1.0 / 6) * mean[i];
  const double angle = -std::atan2(right.y - left.y, right.x - left.x);
  mean = moved(mean, Affine{std::cos(angle), -std::sin(angle), 0, std::sin(angle), std::cos(angle), 0});
  double x0 = 1e9, y0 = 1e9, x1 = -1e9, y1 = -1e9;
  for (const Point& p : mean) x0 = std::min(x0, p.x), y0 = std::min(y0, p.y), x1 = std::max(x1, p.x), y1 = std::max(y1, p.y);
  const double scale = 1.0 / std::max(x1 - x0, y1 - y0);
  const Point offset{0.5 - scale * (x0 + x1) / 2, 0.5 - scale * (y0 + y1) / 2};
  std::printf("// %zu faces\n", shapes.size());
  for (const Point& p : mean) std::printf("    {%.6f, %.6f},\n", scale * p.x + offset.x, scale * p.y + offset.y);
  return 0;
}
