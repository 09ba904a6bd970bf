// A model on the GPU: the same nn::Model type, its flat buffers in device
// memory, its parts run by their OnDevice implementations.
//
// DeviceModel<M> keeps three flat buffers with M's layout (same offsets, so
// DDP buckets and optimizers see the same slices): f32 master parameters,
// f32 gradients, and the bf16 copy of the parameters the layers read (the
// optimizer's kernel writes it). Convolution weights are (K, R, S, C) on the
// device; upload() and download() convert from and to the CPU's (and
// checkpoints') layout. part<"name">() gives a DeviceModule with the CPU
// Module's forward / backward contract, on bf16 device activations.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "graft/backend/cuda/elementwise.hpp"
#include "graft/nn/cuda/combinators.hpp"
#include "graft/nn/model.hpp"

namespace graft::nn::cuda {

template <class L, Shape In>
class DeviceModule {
 public:
  using Impl = OnDevice<L, In>;
  static constexpr Shape input_shape = In;
  static constexpr Shape output_shape = Impl::out;

  struct Output {
    ConstDeviceView input;
    DeviceTensor value;
    typename Impl::Trace trace;
    bool consumed = false;
    ConstDeviceView view() const { return value.view(); }
  };

  DeviceModule(const bf16* parameters, float* gradients, std::string_view name)
      : parameters_(parameters), gradients_(gradients), name_(name) {}

  // The Output keeps a view of x: x must outlive it.
  Output forward(Context& c, ConstDeviceView x) const {
    check_input(name_.c_str(), BasicView<const float>{nullptr, x.shape}, In);
    Output out{x, DeviceTensor(c, batched(x.batch(), output_shape)), {}};
    Impl::forward(c, parameters_, x, out.value.view(), out.trace);
    return out;
  }

  // Adds dL/dparameters to the gradient buffer and returns dL/dinput.
  DeviceTensor backward(Context& c, Output& out, ConstDeviceView dy) const {
    DeviceTensor dx(c, out.input.shape);
    run_backward(c, out, dy, dx.view());
    return dx;
  }
  // The same without the input gradient (the first module of a model).
  void backward_parameters_only(Context& c, Output& out, ConstDeviceView dy) const { run_backward(c, out, dy, DeviceView{}); }

 private:
  void run_backward(Context& c, Output& out, ConstDeviceView dy, DeviceView dx) const {
    check(!out.consumed, name_, ": backward was already run on this output; run forward again");
    check(dy.shape == out.value.shape, name_, ": gradient has shape ", dy.shape, ", the output was ", out.value.shape);
    out.consumed = true;
    Impl::backward(c, parameters_, gradients_, out.input, std::as_const(out.value).view(), dy, dx, out.trace);
  }

  const bf16* parameters_;
  float* gradients_;
  std::string name_;
};

template <class M>
class DeviceModel;

template <class... Parts>
class DeviceModel<Model<Parts...>> {
 public:
  using HostModel = Model<Parts...>;
  using PartList = std::tuple<Parts...>;
  template <std::size_t I>
  using PartOnDevice = OnDevice<typename std::tuple_element_t<I, PartList>::Layer, std::tuple_element_t<I, PartList>::input_shape>;
  static constexpr std::int64_t size = HostModel::buffer_size;
  static constexpr auto part_offsets = HostModel::part_offsets;

  // The host model's parameters, on the device; gradients zero.
  DeviceModel(const HostModel& host, cudaStream_t stream)
      : stream_(stream), params_(std::size_t(size), stream), grads_(std::size_t(size), stream), copy_(std::size_t(size), stream) {
    upload(host);
    zero_gradients();
  }

  void upload(const HostModel& host) {
    std::vector<float> staged(host.parameter_buffer().begin(), host.parameter_buffer().end());
    to_device_layout(staged.data());
    params_.copy_from_host(staged.data());
    refresh_copy();
    gpu::check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize (upload)");
  }

  // The parameters back into the host model (CPU layout); synchronises the stream.
  void download(HostModel& host) const {
    const std::vector<float> p = canonical(params_);
    std::copy(p.begin(), p.end(), host.parameter_buffer().begin());
  }

  // A flat device buffer of this model's layout (parameters, gradients, an
  // optimizer slot), copied to the host in the CPU's layout.
  static std::vector<float> canonical(const gpu::DeviceBuffer<float>& buffer) { return canonical(buffer.data(), buffer.stream()); }
  static std::vector<float> canonical(const float* device, cudaStream_t stream) {
    std::vector<float> host(static_cast<std::size_t>(size));
    gpu::check(cudaMemcpyAsync(host.data(), device, host.size() * sizeof(float), cudaMemcpyDeviceToHost, stream),
               "cudaMemcpyAsync (device to host)");
    gpu::check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
    to_canonical_layout(host.data());
    return host;
  }

  // The bf16 copy from the f32 parameters (the optimizer's kernel does this every step).
  void refresh_copy() { gpu::to_bf16(params_.data(), copy_.data(), size, stream_); }
  void zero_gradients() { grads_.fill_bytes(0); }

  template <FixedString N>
  auto part() {
    constexpr std::size_t i = index_of<N>();
    using P = std::tuple_element_t<i, PartList>;
    return DeviceModule<typename P::Layer, P::input_shape>(copy_.data() + part_offsets[i], grads_.data() + part_offsets[i],
                                                           N.view());
  }

  float* parameters() { return params_.data(); }
  float* gradients() { return grads_.data(); }
  bf16* parameter_copy() { return copy_.data(); }
  const gpu::DeviceBuffer<float>& parameter_buffer() const { return params_; }
  const gpu::DeviceBuffer<float>& gradient_buffer() const { return grads_; }

  // A whole flat buffer of this model from the CPU's layout to the device's, and back.
  static void to_device_layout(float* flat) { convert_children<PartOnDevice>(flat, part_offsets, Layout::device); }
  static void to_canonical_layout(float* flat) { convert_children<PartOnDevice>(flat, part_offsets, Layout::canonical); }

 private:
  template <FixedString N, std::size_t I = 0>
  static constexpr std::size_t index_of() {
    static_assert(I < sizeof...(Parts), "DeviceModel::part: no part with this name");
    if constexpr (std::tuple_element_t<I, PartList>::name.view() == N.view())
      return I;
    else
      return index_of<N, I + 1>();
  }

  cudaStream_t stream_;
  gpu::DeviceBuffer<float> params_, grads_;
  gpu::DeviceBuffer<bf16> copy_;
};

}  // namespace graft::nn::cuda
