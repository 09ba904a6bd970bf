// Module<L, In>: a layer bound to its slice of a model's flat buffers.
//
// A Module does not own memory: it points at its parameters and gradients
// inside the model's two flat buffers. forward() returns an Output that holds
// the result and what backward needs; backward() accumulates the parameter
// gradients. Running a module twice (the shared encoder on the src and the
// dst batch) gives two Outputs, and backward on each adds its share.
#pragma once

#include <string>
#include <string_view>

#include "graft/nn/gradient_observer.hpp"
#include "graft/nn/layer.hpp"

namespace graft::nn {

template <class L, Shape In>
class Module {
 public:
  using Impl = Bound<L, In>;
  static_assert(BoundLayer<Impl>);
  static constexpr Shape input_shape = In;
  static constexpr Shape output_shape = Impl::out;
  static constexpr auto params = Impl::params;
  static constexpr std::int64_t parameter_count = count_of(Impl::params);
  static constexpr std::int64_t span = span_of(Impl::params);

  // What forward hands to backward, once: backward releases the
  // intermediate activations it no longer needs. The input view must outlive it.
  struct Output {
    ConstView input;
    Tensor value;
    typename Impl::Trace trace;
    bool consumed = false;
    ConstView view() const { return value.view(); }
  };

  // `name` is what error messages call the module (a Model passes the part's name).
  Module(float* parameters, float* gradients, std::string_view name = "nn::Module")
      : parameters_(parameters), gradients_(gradients), name_(name) {}

  // The Output keeps a view of x, so x must be an lvalue that outlives it.
  Output forward(Tensor&&) const = delete;

  Output forward(ConstView x) const {
    check_input(name_.c_str(), x, In);
    Output out{x, Tensor(batched(x.batch(), output_shape)), {}};
    Impl::forward(parameters_, x, out.value.view(), out.trace);
    if (auto* o = gradient_observer()) o->forward_ran(gradients_, span);
    return out;
  }

  // Adds dL/dparameters to the gradient buffer and returns dL/dinput.
  Tensor backward(Output& out, ConstView dy) const {
    Tensor dx(out.input.shape);
    run_backward(out, dy, dx.view());
    return dx;
  }

  // The same without the input gradient (the first module of a model).
  void backward_parameters_only(Output& out, ConstView dy) const { run_backward(out, dy, View{}); }

  const float* parameters() const { return parameters_; }
  float* gradients() const { return gradients_; }

 private:
  void run_backward(Output& out, ConstView dy, View dx) const {
    check(!out.consumed, name_, ": backward was already run on this output; run forward again");
    check(dy.shape == out.value.shape(), name_, ": gradient has shape ", dy.shape, ", the output was ", out.value.shape());
    out.consumed = true;
    GradientObserver* o = gradient_observer();
    if (o) o->backward_began(gradients_, span);
    Impl::backward(parameters_, gradients_, out.input, out.value.view(), dy, dx, out.trace);
    if (o) o->backward_ended(gradients_, span);
  }

  float* parameters_;
  float* gradients_;
  std::string name_;
};

}  // namespace graft::nn
