// SAEHD 'df' on one GPU: encoder -> inter -> decoder_src / decoder_dst, as
// DfStep (train_step.hpp), with the shared encoder and inter run once on the
// src and dst batches stacked (2B samples) instead of twice on B, so that
// every module runs once per step and the convolutions write their weight
// gradients directly. The step around it: device_step.hpp.
#pragma once

#include "cuda/device_step.hpp"

namespace faceswap::cuda {

template <Options O>
struct DfOnDevice {
  using Model = typename DF<O>::Model;
  static constexpr Options options = O;

  template <class Step>
  static void forward_backward(Step& step, nn_cuda::Context& c, typename Step::Device& model, nn_cuda::ConstDeviceView x) {
    const std::int64_t B = x.batch() / 2;
    auto encoder = model.template part<"encoder">();
    auto inter = model.template part<"inter">();
    auto features = encoder.forward(c, x);
    auto code = inter.forward(c, features.view());
    nn_cuda::DeviceTensor d_code(c, code.value.shape);
    // dst first: decoder_dst ends the flat buffer, so its all-reduce starts first and overlaps the rest of backward.
    decode_side(step, c, model.template part<"decoder_dst">(), samples(std::as_const(code.value), B, B), 1, samples(d_code, B, B));
    step.reduce_part(3);
    decode_side(step, c, model.template part<"decoder_src">(), samples(std::as_const(code.value), 0, B), 0, samples(d_code, 0, B));
    step.reduce_part(2);
    auto d_features = inter.backward(c, code, std::as_const(d_code).view());
    step.reduce_part(1);
    encoder.backward_parameters_only(c, features, std::as_const(d_features).view());
    step.reduce_part(0);
  }

  // src and dst reconstructed, and dst's code through decoder_src (the swap).
  template <class Device>
  static std::array<nn_cuda::DeviceTensor, 3> predict(nn_cuda::Context& c, Device& model, nn_cuda::ConstDeviceView x) {
    const std::int64_t n = x.batch() / 2;
    auto features = model.template part<"encoder">().forward(c, x);
    auto code = model.template part<"inter">().forward(c, features.view());
    const auto src_code = samples(std::as_const(code.value), 0, n), dst_code = samples(std::as_const(code.value), n, n);
    auto decoder_src = model.template part<"decoder_src">();
    return {std::move(decoder_src.forward(c, src_code).value),
            std::move(model.template part<"decoder_dst">().forward(c, dst_code).value),
            std::move(decoder_src.forward(c, dst_code).value)};
  }

  // dst faces through decoder_src: the swap alone.
  template <class Device>
  static nn_cuda::DeviceTensor swap(nn_cuda::Context& c, Device& model, nn_cuda::ConstDeviceView x) {
    auto features = model.template part<"encoder">().forward(c, x);
    auto code = model.template part<"inter">().forward(c, features.view());
    return std::move(model.template part<"decoder_src">().forward(c, code.view()).value);
  }

 private:
  // One decoder on one side's code: forward, the side's loss, backward into d_code.
  template <class Step, class Decoder>
  static void decode_side(Step& step, nn_cuda::Context& c, Decoder decoder, nn_cuda::ConstDeviceView code, int side,
                          nn_cuda::DeviceView d_code) {
    auto out = decoder.forward(c, code);  // (B, R, R, 4) channels-last
    nn_cuda::DeviceTensor dy(c, out.value.shape);
    step.side_loss(c, out.view(), side, dy.view());
    const nn_cuda::DeviceTensor d_in = decoder.backward(c, out, std::as_const(dy).view());
    gpu::check(cudaMemcpyAsync(d_code.data, d_in.buffer.data(), d_in.buffer.bytes(), cudaMemcpyDeviceToDevice, c.stream),
               "cudaMemcpyAsync (code gradient)");
    c.mark("copy");
  }
};

template <Options O, class Optimizer>
using DfDeviceStep = SaehdDeviceStep<DfOnDevice<O>, Optimizer>;

}  // namespace faceswap::cuda
