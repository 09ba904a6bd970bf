// One SAEHD-df training step on the CPU: DeepFaceLab's loss and data flow.
//
// Per side (src, dst): code = inter(encoder(warped)); out = decoder(code) with
// rgb = out[0..2], mask = out[3];
//   L = 10 * DSSIM(rgb*M', T*M') + 10 * MSE(rgb*M', T*M') + 10 * MSE(mask, M)
// where M' is the blurred loss mask and M the target mask (reference §3.3).
// DeepFaceLab differentiates the SUM over the batch of L_src + L_dst; the
// reported losses are batch means. The encoder and the inter run twice per
// step and their gradients add up.
#pragma once

#include <graft/loss/dssim.hpp>
#include <graft/loss/mse.hpp>
#include <graft/nn.hpp>

#include "saehd.hpp"

namespace faceswap {

// One side of a batch: NCHW views, (B,3,R,R) images and (B,1,R,R) masks.
struct SideBatch {
  graft::ConstView warped, target, mask, loss_mask;
};

struct StepLosses {
  double src = 0.0, dst = 0.0;  // batch means, as DeepFaceLab prints them
};

template <Options O>
class DfStep {
 public:
  using Model = typename DF<O>::Model;
  // DeepFaceLab's int(resolution / 11.6): 5 at 64, 11 at 128.
  static constexpr int dssim_filter = static_cast<int>(O.resolution / 11.6);

  // Computes the losses and adds the gradient of their batch sum to the
  // model's gradient buffer.
  StepLosses forward_backward(Model& model, const SideBatch& src, const SideBatch& dst) const {
    auto encoder = model.template part<"encoder">();
    auto inter = model.template part<"inter">();
    auto src_features = encoder.forward(src.warped);      // (B, 8e * (R/16)^2)
    auto dst_features = encoder.forward(dst.warped);
    auto src_code = inter.forward(src_features.view());   // (B, ae, R/8, R/8)
    auto dst_code = inter.forward(dst_features.view());
    StepLosses losses;
    graft::Tensor d_src_code = decode(model.template part<"decoder_src">(), src_code.view(), src, losses.src);
    graft::Tensor d_dst_code = decode(model.template part<"decoder_dst">(), dst_code.view(), dst, losses.dst);
    encoder.backward_parameters_only(src_features, inter.backward(src_code, d_src_code));
    encoder.backward_parameters_only(dst_features, inter.backward(dst_code, d_dst_code));
    return losses;
  }

 private:
  // Runs one decoder on a code, backpropagates the side's loss into the code
  // and returns that gradient.
  template <class Decoder>
  static graft::Tensor decode(Decoder decoder, graft::ConstView code, const SideBatch& b, double& loss) {
    auto out = decoder.forward(code);  // (B, 4, R, R)
    auto parts = graft::nn::split_channels(out.view(), {3, 1});
    graft::Tensor d_rgb = graft::Tensor::zeros(parts[0].shape()), d_mask = graft::Tensor::zeros(parts[1].shape());
    namespace loss_fn = graft::loss;
    const auto value = 10.0 * loss_fn::masked_dssim_backward(parts[0], b.target, b.loss_mask, dssim_filter, 10.0f, d_rgb) +
                       10.0 * loss_fn::masked_mse_backward(parts[0], b.target, b.loss_mask, 10.0f, d_rgb) +
                       10.0 * loss_fn::mse_backward(parts[1], b.mask, 10.0f, d_mask);
    loss = value.mean();
    graft::Tensor d_out = graft::nn::concat_channels({d_rgb.view(), d_mask.view()});
    return decoder.backward(out, d_out);
  }
};

}  // namespace faceswap
