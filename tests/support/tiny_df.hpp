// A small model with SAEHD-df's data flow, for data-parallel tests: one
// encoder used twice per step (src and dst), one decoder per side, the
// batch-mean MSE of both reconstructions. Small enough to train several
// ranks of it on two cores in a test, large enough for several buckets.
#pragma once

#include <cstdint>

#include "graft/core/philox.hpp"
#include "graft/loss/mse.hpp"
#include "graft/nn.hpp"

namespace graft::testing::tiny_df {

inline constexpr Shape image{3, 16, 16};

using Encoder = nn::Seq<nn::Named<"conv1", nn::Conv2d<8, 3, 2>>, nn::LeakyReLU<0.1f>,      // (8, 8, 8)
                        nn::Named<"conv2", nn::Conv2d<16, 3, 2>>, nn::LeakyReLU<0.1f>,     // (16, 4, 4)
                        nn::Flatten, nn::Named<"code", nn::Dense<32>>>;                    // (32)
using Decoder = nn::Seq<nn::Named<"dense", nn::Dense<16 * 4 * 4>>, nn::Reshape<16, 4, 4>,  // (16, 4, 4)
                        nn::Named<"up1", nn::Conv2d<4 * 8, 3>>, nn::LeakyReLU<0.1f>,
                        nn::DepthToSpace<2>,  // (8, 8, 8)
                        nn::Named<"up2", nn::Conv2d<4 * 4, 3>>, nn::LeakyReLU<0.1f>,
                        nn::DepthToSpace<2>,                               // (4, 16, 16)
                        nn::Named<"out", nn::Conv2d<3, 3>>, nn::Sigmoid>;  // (3, 16, 16)
inline constexpr Shape code = nn::output_shape<Encoder, image>;

using Model = nn::Model<nn::Part<"encoder", Encoder, image>, nn::Part<"decoder_src", Decoder, code>,
                        nn::Part<"decoder_dst", Decoder, code>>;

// Samples [first, first + count) of side `side` of a generated data set.
inline Tensor images(std::uint64_t side, std::int64_t first, std::int64_t count) {
  Tensor t(batched(count, image));
  const Philox rng(1000 + side);
  const std::int64_t n = image.numel();
  for (std::int64_t s = 0; s < count; ++s)
    for (std::int64_t i = 0; i < n; ++i)
      t.data()[s * n + i] = rng.uniform(static_cast<std::uint64_t>(i), static_cast<std::uint64_t>(first + s));
  return t;
}

// Adds the gradient of mean_src + mean_dst (batch means over this batch) and
// returns that loss. The decoders' backward runs dst first: its parameters
// come last in the buffer, so the first bucket is final first.
inline double forward_backward(Model& model, const Tensor& src, const Tensor& dst) {
  auto encoder = model.part<"encoder">();
  auto src_code = encoder.forward(src.view());
  auto dst_code = encoder.forward(dst.view());
  const float weight = 1.0f / static_cast<float>(src.shape()[0]);
  double loss = 0.0;
  auto decode = [&](auto decoder, auto& code_out, const Tensor& target) {
    auto out = decoder.forward(code_out.view());
    Tensor d_out = Tensor::zeros(out.value.shape());
    loss += loss::mse_backward(out.view(), target.view(), weight, d_out.view()).mean();
    return decoder.backward(out, d_out.view());
  };
  Tensor d_dst_code = decode(model.part<"decoder_dst">(), dst_code, dst);
  Tensor d_src_code = decode(model.part<"decoder_src">(), src_code, src);
  encoder.backward_parameters_only(dst_code, d_dst_code.view());
  encoder.backward_parameters_only(src_code, d_src_code.view());
  return loss;
}

}  // namespace graft::testing::tiny_df
