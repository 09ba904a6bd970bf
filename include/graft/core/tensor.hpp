// Tensors: a view (pointer + full shape, batch included) and an owning tensor.
//
// Layout is dense row-major NCHW for images and (N, F) for vectors. Views do
// not own memory; a Tensor owns an AlignedBuffer and converts to a view. The
// batch size is the run-time extent; the per-sample shape is what layers
// check at compile time.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>

#include "graft/core/buffer.hpp"
#include "graft/core/error.hpp"
#include "graft/core/shape.hpp"

namespace graft {

template <class T>
struct BasicView {
  T* data = nullptr;
  Shape shape;

  std::int64_t numel() const { return shape.numel(); }
  std::int64_t batch() const { return shape[0]; }
  std::span<T> span() const { return {data, static_cast<std::size_t>(numel())}; }
  // One sample of a batched view.
  BasicView sample(std::int64_t n) const {
    Shape s;
    s.rank = shape.rank - 1;
    for (int i = 1; i < shape.rank; ++i) s.dims[static_cast<std::size_t>(i - 1)] = shape[i];
    return {data + n * s.numel(), s};
  }
  operator BasicView<const T>() const { return {data, shape}; }
};

using View = BasicView<float>;
using ConstView = BasicView<const float>;

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(Shape shape) : shape_(shape), buffer_(static_cast<std::size_t>(shape.numel())) {}
  Tensor(Shape shape, float fill) : shape_(shape), buffer_(static_cast<std::size_t>(shape.numel()), fill) {}

  static Tensor zeros(Shape shape) { return Tensor(shape, 0.0f); }
  static Tensor copy_of(ConstView v) {
    Tensor t(v.shape);
    std::copy_n(v.data, v.numel(), t.data());
    return t;
  }

  const Shape& shape() const { return shape_; }
  std::int64_t numel() const { return shape_.numel(); }
  std::int64_t batch() const { return shape_[0]; }
  float* data() { return buffer_.data(); }
  const float* data() const { return buffer_.data(); }
  std::span<float> span() { return buffer_.span(); }
  std::span<const float> span() const { return buffer_.span(); }
  View view() { return {data(), shape_}; }
  ConstView view() const { return {data(), shape_}; }
  operator View() { return view(); }
  operator ConstView() const { return view(); }
  float& operator[](std::int64_t i) { return buffer_[static_cast<std::size_t>(i)]; }
  float operator[](std::int64_t i) const { return buffer_[static_cast<std::size_t>(i)]; }

  // Reinterprets the same elements with another shape of the same size.
  Tensor reshaped(Shape shape) && {
    check(shape.numel() == shape_.numel(), "Tensor::reshaped: cannot view ", shape_, " as ", shape);
    shape_ = shape;
    return std::move(*this);
  }

 private:
  Shape shape_;
  AlignedBuffer<float> buffer_;
};

// Checks a run-time tensor against the per-sample shape a layer was built for.
inline void check_input(const char* where, ConstView x, const Shape& sample) {
  check(x.shape.rank == sample.rank + 1 && x.shape == batched(x.shape[0], sample), where, ": input has shape ", x.shape,
        ", expected (batch, ", to_string(sample).substr(1));
}

}  // namespace graft
