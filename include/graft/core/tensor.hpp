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
#include "graft/core/dtype.hpp"
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

// An owning tensor of element type T: float everywhere on the CPU today,
// bf16 for the CUDA backend's activations and compressed gradients.
template <class T>
class BasicTensor {
 public:
  using value_type = T;

  BasicTensor() = default;
  explicit BasicTensor(Shape shape) : shape_(shape), buffer_(static_cast<std::size_t>(shape.numel())) {}
  BasicTensor(Shape shape, T fill) : shape_(shape), buffer_(static_cast<std::size_t>(shape.numel()), fill) {}

  static BasicTensor zeros(Shape shape) { return BasicTensor(shape, T{}); }
  static BasicTensor copy_of(BasicView<const T> v) {
    BasicTensor t(v.shape);
    std::copy_n(v.data, v.numel(), t.data());
    return t;
  }

  static constexpr DType dtype() { return dtype_of<T>(); }
  const Shape& shape() const { return shape_; }
  std::int64_t numel() const { return shape_.numel(); }
  std::int64_t batch() const { return shape_[0]; }
  T* data() { return buffer_.data(); }
  const T* data() const { return buffer_.data(); }
  std::span<T> span() { return buffer_.span(); }
  std::span<const T> span() const { return buffer_.span(); }
  BasicView<T> view() { return {data(), shape_}; }
  BasicView<const T> view() const { return {data(), shape_}; }
  operator BasicView<T>() { return view(); }
  operator BasicView<const T>() const { return view(); }
  T& operator[](std::int64_t i) { return buffer_[static_cast<std::size_t>(i)]; }
  T operator[](std::int64_t i) const { return buffer_[static_cast<std::size_t>(i)]; }

  // Reinterprets the same elements with another shape of the same size.
  BasicTensor reshaped(Shape shape) && {
    check(shape.numel() == shape_.numel(), "Tensor::reshaped: cannot view ", shape_, " as ", shape);
    shape_ = shape;
    return std::move(*this);
  }

 private:
  Shape shape_;
  AlignedBuffer<T> buffer_;
};

using Tensor = BasicTensor<float>;
using Bf16Tensor = BasicTensor<bf16>;

// f32 <-> bf16, element by element (round to nearest even on the way down).
inline Bf16Tensor to_bf16(ConstView x) {
  Bf16Tensor out(x.shape);
  const std::int64_t n = x.numel();
#pragma omp parallel for simd schedule(static) if (n > (1 << 15))
  for (std::int64_t i = 0; i < n; ++i) out.data()[i] = bf16(x.data[i]);
  return out;
}

inline Tensor to_f32(BasicView<const bf16> x) {
  Tensor out(x.shape);
  const std::int64_t n = x.numel();
#pragma omp parallel for simd schedule(static) if (n > (1 << 15))
  for (std::int64_t i = 0; i < n; ++i) out.data()[i] = static_cast<float>(x.data[i]);
  return out;
}

// Checks a run-time tensor against the per-sample shape a layer was built for.
inline void check_input(const char* where, ConstView x, const Shape& sample) {
  check(x.shape.rank == sample.rank + 1 && x.shape == batched(x.shape[0], sample), where, ": input has shape ", x.shape,
        ", expected (batch, ", to_string(sample).substr(1));
}

}  // namespace graft
