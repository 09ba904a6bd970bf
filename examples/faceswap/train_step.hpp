// SAEHD training steps on the CPU: DeepFaceLab's loss and data flow for the
// 'df' and 'liae' architectures.
//
// Per side (src, dst) the decoder's 4-channel output is rgb = out[0..2] and
// mask = out[3], and
//   L = 10 * DSSIM(rgb*M', T*M') + 10 * MSE(rgb*M', T*M') + 10 * MSE(mask, M)
// where M' is the blurred loss mask and M the target mask (reference §3.3).
// DeepFaceLab differentiates the SUM over the batch of L_src + L_dst; the
// reported losses are batch means. Modules that run twice in a step (the
// encoder always, the inter of 'df', inter_AB of 'liae') add up their
// gradients.
#pragma once

#include <graft/io/onnx_export.hpp>
#include <graft/loss/dssim.hpp>
#include <graft/loss/l1.hpp>
#include <graft/loss/mse.hpp>
#include <graft/nn.hpp>

#include "saehd.hpp"

namespace faceswap {

// One side of a batch: NCHW views, (B,3,R,R) images and (B,1,R,R) masks.
struct SideBatch {
  graft::ConstView warped, target, mask, loss_mask;
  graft::ConstView eyes_mouth{};  // (B,1,R,R) for eyes-and-mouth priority; empty (null) without it
};

struct StepLosses {
  double src = 0.0, dst = 0.0;  // batch means, as DeepFaceLab prints them
};

// The end of an exported swap graph: the decoder's (n, 4, R, R) split into
// "swapped" (n, 3, R, R) and "mask" (n, 1, R, R).
inline void export_outputs(graft::io::OnnxGraph& g, const std::string& decoded, int resolution) {
  g.node("Split", {decoded, g.int64s("split", {3, 1})}, {graft::io::OnnxAttribute::of("axis", std::int64_t{1})}, 2,
         {"swapped", "mask"});
  g.output("swapped", graft::Shape{3, resolution, resolution});
  g.output("mask", graft::Shape{1, resolution, resolution});
}

// What the preview and swap show, each (n, 4, R, R): rgb then mask.
struct Predictions {
  graft::Tensor src, dst, swap;  // src and dst reconstructed, and dst's face drawn by the src decoder
};

// DeepFaceLab's DSSIM kernel, int(resolution / 11.6): 5 at 64, 11 at 128.
template <Options O>
inline constexpr int dssim_filter = graft::loss::dssim_filter_size(O.resolution);

// The gradient of one side's summed loss with respect to the decoder's
// output (B, 4, R, R); `loss` gets its batch mean.
template <Options O>
graft::Tensor side_loss_gradient(graft::ConstView out, const SideBatch& b, double& loss) {
  namespace losses = graft::loss;
  auto parts = graft::nn::split_channels(out, {3, 1});
  graft::Tensor d_rgb = graft::Tensor::zeros(parts[0].shape()), d_mask = graft::Tensor::zeros(parts[1].shape());
  // DeepFaceLab splits the DSSIM weight over two windows from resolution 256 (reference §3.3).
  auto dssim = [&] {
    if constexpr (O.resolution >= 256)
      return 5.0 * losses::masked_dssim_backward(parts[0], b.target, b.loss_mask, dssim_filter<O>, 5.0f, d_rgb) +
             5.0 * losses::masked_dssim_backward(parts[0], b.target, b.loss_mask,
                                                 graft::loss::dssim_second_filter_size(O.resolution), 5.0f, d_rgb);
    else
      return 10.0 * losses::masked_dssim_backward(parts[0], b.target, b.loss_mask, dssim_filter<O>, 10.0f, d_rgb);
  };
  auto value = dssim() + 10.0 * losses::masked_mse_backward(parts[0], b.target, b.loss_mask, 10.0f, d_rgb) +
               10.0 * losses::mse_backward(parts[1], b.mask, 10.0f, d_mask);
  // Eyes-and-mouth priority: DeepFaceLab adds 300 |T*EM - P*EM| (reference §3.3).
  if (b.eyes_mouth.data) value = value + 300.0 * losses::masked_l1_backward(parts[0], b.target, b.eyes_mouth, 300.0f, d_rgb);
  loss = value.mean();
  return graft::nn::concat_channels({d_rgb.view(), d_mask.view()});
}

// Runs a decoder on a code, adds the gradient of the side's summed loss to
// the decoder's parameters and returns the gradient with respect to the code.
template <Options O, class Decoder>
graft::Tensor decode_side(Decoder decoder, graft::ConstView code, const SideBatch& b, double& loss) {
  auto out = decoder.forward(code);  // (B, 4, R, R)
  return decoder.backward(out, side_loss_gradient<O>(out.view(), b, loss));
}

// 'df': encoder -> inter -> decoder_src / decoder_dst.
template <Options O>
struct DfStep {
  using Model = typename DF<O>::Model;
  static constexpr int resolution = O.resolution;

  // Computes the losses and adds the gradient of their batch sum to the
  // model's gradient buffer.
  StepLosses forward_backward(Model& model, const SideBatch& src, const SideBatch& dst) const {
    auto encoder = model.template part<"encoder">();
    auto inter = model.template part<"inter">();
    auto src_features = encoder.forward(src.warped);  // (B, 8e * (R/16)^2)
    auto dst_features = encoder.forward(dst.warped);
    auto src_code = inter.forward(src_features.view());  // (B, ae, R/8, R/8)
    auto dst_code = inter.forward(dst_features.view());
    StepLosses losses;
    // dst first: decoder_dst's parameters end the buffer, so DataParallel's
    // first bucket is final, and sent, while decoder_src's backward runs.
    graft::Tensor d_dst_code = decode_side<O>(model.template part<"decoder_dst">(), dst_code.view(), dst, losses.dst);
    graft::Tensor d_src_code = decode_side<O>(model.template part<"decoder_src">(), src_code.view(), src, losses.src);
    encoder.backward_parameters_only(src_features, inter.backward(src_code, d_src_code));
    encoder.backward_parameters_only(dst_features, inter.backward(dst_code, d_dst_code));
    return losses;
  }

  // The swap alone: dst faces (n,3,R,R) drawn by the src decoder, (n,4,R,R) rgb + mask.
  graft::Tensor swap(Model& model, graft::ConstView dst) const {
    const graft::Tensor dst_code = code(model, dst);
    return std::move(model.template part<"decoder_src">().forward(dst_code.view()).value);
  }

  // swap() as an ONNX graph: input "face" (n,3,R,R), outputs "swapped" and "mask".
  void export_swap(graft::io::OnnxGraph& g, const Model& model) const {
    using D = DF<O>;
    const float* p = model.parameter_buffer().data();
    g.input("face", image_shape<O>);
    std::string x = graft::io::export_layer<Encoder<O>, image_shape<O>>(g, "face", p + Model::part_offsets[0]);
    x = graft::io::export_layer<typename D::InterT, code_shape<O>>(g, x, p + Model::part_offsets[1]);
    x = graft::io::export_layer<Decoder<O>, D::inter_out>(g, x, p + Model::part_offsets[2]);  // decoder_src
    export_outputs(g, x, O.resolution);
  }

  // Forward only, for previews and swapping: (n,3,R,R) images in, no gradients.
  Predictions predict(Model& model, graft::ConstView src, graft::ConstView dst) const {
    const graft::Tensor src_code = code(model, src), dst_code = code(model, dst);
    auto decoder_src = model.template part<"decoder_src">();
    return {std::move(decoder_src.forward(src_code.view()).value),
            std::move(model.template part<"decoder_dst">().forward(dst_code.view()).value),
            std::move(decoder_src.forward(dst_code.view()).value)};
  }

 private:
  // inter(encoder(x)) without gradients: the code both decoders read.
  static graft::Tensor code(Model& model, graft::ConstView x) {
    auto features = model.template part<"encoder">().forward(x);
    return std::move(model.template part<"inter">().forward(features.view()).value);
  }
};

// 'liae': one decoder on channel concatenations of inter codes
// (reference §1): src [AB(src), AB(src)], dst [B(dst), AB(dst)].
template <Options O>
struct LiaeStep {
  using Model = typename LIAE<O>::Model;
  static constexpr int resolution = O.resolution;
  static constexpr std::int64_t code_channels = LIAE<O>::inter_out.c();

  StepLosses forward_backward(Model& model, const SideBatch& src, const SideBatch& dst) const {
    auto encoder = model.template part<"encoder">();
    auto inter_ab = model.template part<"inter_AB">();
    auto inter_b = model.template part<"inter_B">();
    auto decoder = model.template part<"decoder">();
    auto src_features = encoder.forward(src.warped);
    auto dst_features = encoder.forward(dst.warped);
    auto src_ab = inter_ab.forward(src_features.view());  // (B, 2ae, R/8, R/8)
    auto dst_ab = inter_ab.forward(dst_features.view());
    auto dst_b = inter_b.forward(dst_features.view());
    graft::Tensor src_code = graft::nn::concat_channels({src_ab.view(), src_ab.view()});
    graft::Tensor dst_code = graft::nn::concat_channels({dst_b.view(), dst_ab.view()});

    // The decoder runs on both sides: both forwards before either backward,
    // so that its gradients are final only once both have been added (DataParallel relies on it).
    StepLosses losses;
    auto src_out = decoder.forward(src_code.view());
    auto dst_out = decoder.forward(dst_code.view());
    const graft::Tensor d_src_code = decoder.backward(src_out, side_loss_gradient<O>(src_out.view(), src, losses.src));
    const graft::Tensor d_dst_code = decoder.backward(dst_out, side_loss_gradient<O>(dst_out.view(), dst, losses.dst));
    auto d_src = graft::nn::split_channels(d_src_code.view(), {code_channels, code_channels});
    auto d_dst = graft::nn::split_channels(d_dst_code.view(), {code_channels, code_channels});
    graft::cpu::axpy(1.0f, d_src[1].data(), d_src[0].data(), d_src[0].numel());  // both halves are AB(src)
    encoder.backward_parameters_only(src_features, inter_ab.backward(src_ab, d_src[0]));
    graft::Tensor d_dst_features = inter_b.backward(dst_b, d_dst[0]);
    graft::Tensor d_dst_features_ab = inter_ab.backward(dst_ab, d_dst[1]);
    graft::cpu::axpy(1.0f, d_dst_features_ab.data(), d_dst_features.data(), d_dst_features.numel());
    encoder.backward_parameters_only(dst_features, d_dst_features);
    return losses;
  }

  // The swap alone: [AB(dst), AB(dst)] through the decoder.
  graft::Tensor swap(Model& model, graft::ConstView dst) const {
    auto features = model.template part<"encoder">().forward(dst);
    auto ab = model.template part<"inter_AB">().forward(features.view());
    const graft::Tensor code = graft::nn::concat_channels({ab.view(), ab.view()});
    return std::move(model.template part<"decoder">().forward(code.view()).value);
  }

  // swap() as an ONNX graph.
  void export_swap(graft::io::OnnxGraph& g, const Model& model) const {
    using L = LIAE<O>;
    const float* p = model.parameter_buffer().data();
    g.input("face", image_shape<O>);
    const std::string features = graft::io::export_layer<Encoder<O>, image_shape<O>>(g, "face", p + Model::part_offsets[0]);
    const std::string ab = graft::io::export_layer<typename L::InterT, code_shape<O>>(g, features, p + Model::part_offsets[1]);
    const std::string code = g.op("Concat", {ab, ab}, {graft::io::OnnxAttribute::of("axis", std::int64_t{1})});
    export_outputs(g, graft::io::export_layer<Decoder<O>, L::decoder_in>(g, code, p + Model::part_offsets[3]), O.resolution);
  }

  // Forward only: the swap decodes [AB(dst), AB(dst)], dst's expression as src would show it.
  Predictions predict(Model& model, graft::ConstView src, graft::ConstView dst) const {
    auto encoder = model.template part<"encoder">();
    auto inter_ab = model.template part<"inter_AB">();
    auto decoder = model.template part<"decoder">();
    auto src_features = encoder.forward(src);
    auto dst_features = encoder.forward(dst);
    auto src_ab = inter_ab.forward(src_features.view());
    auto dst_ab = inter_ab.forward(dst_features.view());
    auto dst_b = model.template part<"inter_B">().forward(dst_features.view());
    const graft::Tensor src_code = graft::nn::concat_channels({src_ab.view(), src_ab.view()});
    const graft::Tensor dst_code = graft::nn::concat_channels({dst_b.view(), dst_ab.view()});
    const graft::Tensor swap_code = graft::nn::concat_channels({dst_ab.view(), dst_ab.view()});
    return {std::move(decoder.forward(src_code.view()).value), std::move(decoder.forward(dst_code.view()).value),
            std::move(decoder.forward(swap_code.view()).value)};
  }
};

}  // namespace faceswap
