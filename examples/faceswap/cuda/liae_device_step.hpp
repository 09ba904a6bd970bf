// SAEHD 'liae' on one GPU: one decoder on channel concatenations of inter
// codes, src [AB(src), AB(src)] and dst [B(dst), AB(dst)], as LiaeStep
// (train_step.hpp). Here the encoder, inter_AB and the decoder each run once
// on both sides stacked (2B samples), inter_B once on dst's B: every module
// forward and backward once per step, its weight gradients written directly.
// The step around it: device_step.hpp.
#pragma once

#include "cuda/device_step.hpp"

namespace faceswap::cuda {

template <Options O>
struct LiaeOnDevice {
  using Model = typename LIAE<O>::Model;
  static constexpr Options options = O;
  static constexpr std::int64_t code_channels = LIAE<O>::inter_out.c();

  template <class Step>
  static void forward_backward(Step& step, nn_cuda::Context& c, typename Step::Device& model, nn_cuda::ConstDeviceView x) {
    const std::int64_t B = x.batch() / 2;
    auto encoder = model.template part<"encoder">();
    auto inter_ab = model.template part<"inter_AB">();
    auto inter_b = model.template part<"inter_B">();
    auto decoder = model.template part<"decoder">();
    auto features = encoder.forward(c, x);
    auto ab = inter_ab.forward(c, features.view());                                // src's and dst's AB codes
    auto b = inter_b.forward(c, samples(std::as_const(features.value), B, B));    // dst's B code
    nn_cuda::DeviceTensor code(c, graft::batched(2 * B, LIAE<O>::decoder_in));  // src's B samples, then dst's
    concatenate(c, samples(std::as_const(ab.value), 0, B), samples(std::as_const(ab.value), 0, B), samples(code, 0, B));
    concatenate(c, std::as_const(b.value).view(), samples(std::as_const(ab.value), B, B), samples(code, B, B));

    auto out = decoder.forward(c, std::as_const(code).view());  // (2B, R, R, 4)
    nn_cuda::DeviceTensor dy(c, out.value.shape);
    step.side_loss(c, samples(std::as_const(out.value), 0, B), 0, samples(dy, 0, B));
    step.side_loss(c, samples(std::as_const(out.value), B, B), 1, samples(dy, B, B));
    const nn_cuda::DeviceTensor d_code = decoder.backward(c, out, std::as_const(dy).view());
    step.reduce_part(3);

    // The code's gradient back to the inters: src's two halves both go to AB(src).
    nn_cuda::DeviceTensor d_ab(c, ab.value.shape), d_b(c, b.value.shape), d_src_second(c, graft::batched(B, LIAE<O>::inter_out));
    split(c, samples(d_code, 0, B), samples(d_ab, 0, B), d_src_second.view());
    gpu::add(d_ab.buffer.data(), d_src_second.buffer.data(), d_ab.buffer.data(), d_src_second.numel(), c.stream);
    split(c, samples(d_code, B, B), d_b.view(), samples(d_ab, B, B));
    c.mark("code gradients");
    const nn_cuda::DeviceTensor d_dst_features_b = inter_b.backward(c, b, std::as_const(d_b).view());
    step.reduce_part(2);
    nn_cuda::DeviceTensor d_features = inter_ab.backward(c, ab, std::as_const(d_ab).view());
    step.reduce_part(1);
    const nn_cuda::DeviceView d_dst_features = samples(d_features, B, B);
    gpu::add(d_dst_features.data, d_dst_features_b.buffer.data(), d_dst_features.data, d_dst_features_b.numel(), c.stream);
    c.mark("feature gradients");
    encoder.backward_parameters_only(c, features, std::as_const(d_features).view());
    step.reduce_part(0);
  }

  // src [AB, AB] and dst [B, AB] reconstructed, and the swap: dst's [AB, AB]
  // through the decoder (dst's expression as src would show it).
  template <class Device>
  static std::array<nn_cuda::DeviceTensor, 3> predict(nn_cuda::Context& c, Device& model, nn_cuda::ConstDeviceView x) {
    const std::int64_t n = x.batch() / 2;
    auto features = model.template part<"encoder">().forward(c, x);
    auto ab = model.template part<"inter_AB">().forward(c, features.view());
    auto b = model.template part<"inter_B">().forward(c, samples(std::as_const(features.value), n, n));
    nn_cuda::DeviceTensor code(c, graft::batched(3 * n, LIAE<O>::decoder_in));  // src, dst, swap
    const auto src_ab = samples(std::as_const(ab.value), 0, n), dst_ab = samples(std::as_const(ab.value), n, n);
    concatenate(c, src_ab, src_ab, samples(code, 0, n));
    concatenate(c, std::as_const(b.value).view(), dst_ab, samples(code, n, n));
    concatenate(c, dst_ab, dst_ab, samples(code, 2 * n, n));
    auto decoder = model.template part<"decoder">();
    return {std::move(decoder.forward(c, samples(std::as_const(code), 0, n)).value),
            std::move(decoder.forward(c, samples(std::as_const(code), n, n)).value),
            std::move(decoder.forward(c, samples(std::as_const(code), 2 * n, n)).value)};
  }

  // dst faces decoded from [AB(dst), AB(dst)]: the swap alone.
  template <class Device>
  static nn_cuda::DeviceTensor swap(nn_cuda::Context& c, Device& model, nn_cuda::ConstDeviceView x) {
    const std::int64_t n = x.batch();
    auto features = model.template part<"encoder">().forward(c, x);
    auto ab = model.template part<"inter_AB">().forward(c, features.view());
    nn_cuda::DeviceTensor code(c, graft::batched(n, LIAE<O>::decoder_in));
    concatenate(c, ab.view(), ab.view(), code.view());
    return std::move(model.template part<"decoder">().forward(c, std::as_const(code).view()).value);
  }

 private:
  // Channels-last codes: to = [first, second] along the channels.
  static void concatenate(nn_cuda::Context& c, nn_cuda::ConstDeviceView first, nn_cuda::ConstDeviceView second,
                          nn_cuda::DeviceView to) {
    const std::int64_t rows = to.numel() / (2 * code_channels);
    gpu::copy_channels(first.data, code_channels, 0, to.data, 2 * code_channels, 0, rows, code_channels, c.stream);
    gpu::copy_channels(second.data, code_channels, 0, to.data, 2 * code_channels, code_channels, rows, code_channels, c.stream);
    c.mark("concatenation");
  }
  // The other way: from = [first, second].
  static void split(nn_cuda::Context& c, nn_cuda::ConstDeviceView from, nn_cuda::DeviceView first, nn_cuda::DeviceView second) {
    const std::int64_t rows = from.numel() / (2 * code_channels);
    gpu::copy_channels(from.data, 2 * code_channels, 0, first.data, code_channels, 0, rows, code_channels, c.stream);
    gpu::copy_channels(from.data, 2 * code_channels, code_channels, second.data, code_channels, 0, rows, code_channels, c.stream);
  }
};

template <Options O, class Optimizer>
using LiaeDeviceStep = SaehdDeviceStep<LiaeOnDevice<O>, Optimizer>;

}  // namespace faceswap::cuda
