// Shape: the per-sample shape of a tensor, usable as a template argument.
//
// graft layers know their shapes at compile time: a layer's output shape and
// parameter shapes are constexpr functions of the input Shape, so the batch
// dimension is the only run-time extent. Shape is a structural type so that
// it can be a non-type template parameter (`Module<Conv2d<64, 5, 2>, Shape{3, 128, 128}>`),
// and a mismatch shows both shapes in the compiler's message.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <string>

namespace graft {

struct Shape {
  // A per-sample shape has up to 4 dimensions (OIHW weights); with the batch, 5.
  static constexpr int max_rank = 5;

  int rank = 0;
  std::array<std::int64_t, max_rank> dims{};

  constexpr Shape() = default;
  constexpr Shape(std::initializer_list<std::int64_t> extents) {
    for (auto e : extents) {
      if (rank == max_rank) throw "graft::Shape: more than 5 dimensions";  // compile error in constant evaluation
      dims[static_cast<std::size_t>(rank++)] = e;
    }
  }

  constexpr std::int64_t operator[](int i) const { return dims[static_cast<std::size_t>(i)]; }
  constexpr std::int64_t numel() const {
    std::int64_t n = 1;
    for (int i = 0; i < rank; ++i) n *= dims[static_cast<std::size_t>(i)];
    return n;
  }
  // Channel, height and width of a (C, H, W) shape.
  constexpr std::int64_t c() const { return dims[0]; }
  constexpr std::int64_t h() const { return dims[1]; }
  constexpr std::int64_t w() const { return dims[2]; }

  constexpr bool operator==(const Shape&) const = default;
};

inline std::string to_string(const Shape& s) {
  std::string out = "(";
  for (int i = 0; i < s.rank; ++i) {
    if (i) out += ", ";
    out += std::to_string(s[i]);
  }
  return out + ")";
}

inline std::ostream& operator<<(std::ostream& os, const Shape& s) { return os << to_string(s); }

// The shape with a leading batch dimension, for messages and checkpoints.
constexpr Shape batched(std::int64_t batch, const Shape& s) {
  if (s.rank >= Shape::max_rank) throw "graft::batched: the shape already has the most dimensions a Shape holds";
  Shape out;
  out.rank = s.rank + 1;
  out.dims[0] = batch;
  for (int i = 0; i < s.rank; ++i) out.dims[static_cast<std::size_t>(i + 1)] = s[i];
  return out;
}

// Instantiating ShapeMismatch<Expected, Actual> with different shapes stops
// the compilation; the compiler prints both shapes as the template arguments
// of this struct ("required from 'struct graft::ShapeMismatch<graft::Shape{...}, graft::Shape{...}>'").
template <Shape Expected, Shape Actual>
struct ShapeMismatch {
  static_assert(Expected == Actual,
                "graft: shape mismatch; the expected and the actual Shape are the template "
                "arguments of graft::ShapeMismatch in the lines above");
  static constexpr bool ok = true;
};

template <Shape Expected, Shape Actual>
inline constexpr bool expect_shape = ShapeMismatch<Expected, Actual>::ok;

// Like ShapeMismatch, for a rule that is not plain equality: the layer's name
// and the offending shape appear in the template arguments.
template <std::int64_t Expected, std::int64_t Actual, Shape In>
struct ExtentMismatch {
  static_assert(Expected == Actual,
                "graft: extent mismatch; the expected and actual extent and the input Shape are "
                "the template arguments of graft::ExtentMismatch in the lines above");
  static constexpr bool ok = true;
};

template <std::int64_t Expected, std::int64_t Actual, Shape In>
inline constexpr bool expect_extent = ExtentMismatch<Expected, Actual, In>::ok;

}  // namespace graft
