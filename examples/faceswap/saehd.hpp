// DeepFaceLab's SAEHD ('df' and 'liae', with the -u and -d options) and
// Quick96, written as graft type aliases.
//
// Names follow DeepFaceLab's layer paths with PyTorch's separators
// (DeepFaceLab's encoder/down1/downs_0/conv1/weight is
// encoder.down1.downs.0.conv1.weight; inter.dense1.weight,
// decoder_src.upscale0.conv1.weight ...); each decoder
// produces 4 channels, rgb (0..2) and mask (3), as one ConcatBranches of its
// two heads. See ../../docs/architecture.md and the reference tables in
// shared/reference/faceswap_models.md for the shapes.
#pragma once

#include <graft/nn.hpp>
#include <type_traits>

namespace faceswap {

namespace nn = graft::nn;
using graft::Shape;

template <int C, int K = 5>
using Downscale = nn::Seq<nn::Named<"conv1", nn::Conv2d<C, K, 2>>, nn::LeakyReLU<0.1f>>;

// DeepFaceLab keeps the four Downscales in a list called `downs`.
template <int E>
using DownscaleBlock = nn::Seq<nn::Named<"downs", nn::Seq<Downscale<E>, Downscale<2 * E>, Downscale<4 * E>, Downscale<8 * E>>>>;

template <int C>
using Upscale = nn::Seq<nn::Named<"conv1", nn::Conv2d<4 * C, 3>>, nn::LeakyReLU<0.1f>, nn::DepthToSpace<2>>;

template <int C>
using ResidualBlock =
    nn::Residual<nn::Seq<nn::Named<"conv1", nn::Conv2d<C, 3>>, nn::LeakyReLU<0.2f>, nn::Named<"conv2", nn::Conv2d<C, 3>>>,
                 nn::LeakyReLU<0.2f>>;

// Options of the SAEHD architecture string ("df", "liae-ud", ...).
struct Options {
  int resolution = 128, ae_dims = 256, e_dims = 64, d_dims = 64, d_mask_dims = 22;
  bool u = false, d = false;
  // The encoder halves the image 4 times to the dense code's grid; with -d the decoder stops at half resolution (5).
  constexpr int resolution_step() const { return d ? 32 : 16; }
  constexpr int lowest_dense_res() const { return resolution / resolution_step(); }
};

template <Options O>
using Encoder =
    nn::Seq<nn::Named<"down1", DownscaleBlock<O.e_dims>>, nn::Flatten, std::conditional_t<O.u, nn::PixelNorm, nn::Identity>>;

template <Options O, int AeOut>
using Inter = nn::Seq<nn::Named<"dense1", nn::Dense<O.ae_dims>>,
                      nn::Named<"dense2", nn::Dense<O.lowest_dense_res() * O.lowest_dense_res() * AeOut>>,
                      nn::Reshape<AeOut, O.lowest_dense_res(), O.lowest_dense_res()>, nn::Named<"upscale1", Upscale<AeOut>>>;

template <Options O, bool D = O.d>
struct DecoderHeads;

template <Options O>
struct DecoderHeads<O, false> {
  static constexpr int d = O.d_dims, m = O.d_mask_dims;
  using Rgb = nn::Seq<nn::Named<"upscale0", Upscale<8 * d>>, nn::Named<"res0", ResidualBlock<8 * d>>,
                      nn::Named<"upscale1", Upscale<4 * d>>, nn::Named<"res1", ResidualBlock<4 * d>>,
                      nn::Named<"upscale2", Upscale<2 * d>>, nn::Named<"res2", ResidualBlock<2 * d>>,
                      nn::Named<"out_conv", nn::Conv2d<3, 1>>, nn::Sigmoid>;
  using Mask = nn::Seq<nn::Named<"upscalem0", Upscale<8 * m>>, nn::Named<"upscalem1", Upscale<4 * m>>,
                       nn::Named<"upscalem2", Upscale<2 * m>>, nn::Named<"out_convm", nn::Conv2d<1, 1>>, nn::Sigmoid>;
};

// '-d': the decoder runs at half resolution; four parallel convolutions and a
// depth-to-space make the full-resolution rgb, one more Upscale the mask.
template <Options O>
struct DecoderHeads<O, true> {
  static constexpr int d = O.d_dims, m = O.d_mask_dims;
  using Rgb = nn::Seq<
      nn::Named<"upscale0", Upscale<8 * d>>, nn::Named<"res0", ResidualBlock<8 * d>>, nn::Named<"upscale1", Upscale<4 * d>>,
      nn::Named<"res1", ResidualBlock<4 * d>>, nn::Named<"upscale2", Upscale<2 * d>>, nn::Named<"res2", ResidualBlock<2 * d>>,
      nn::Named<"", nn::ConcatBranches<nn::Named<"out_conv", nn::Conv2d<3, 1>>, nn::Named<"out_conv1", nn::Conv2d<3, 3>>,
                                       nn::Named<"out_conv2", nn::Conv2d<3, 3>>, nn::Named<"out_conv3", nn::Conv2d<3, 3>>>>,
      nn::DepthToSpace<2>, nn::Sigmoid>;
  using Mask = nn::Seq<nn::Named<"upscalem0", Upscale<8 * m>>, nn::Named<"upscalem1", Upscale<4 * m>>,
                       nn::Named<"upscalem2", Upscale<2 * m>>, nn::Named<"upscalem3", Upscale<m>>,
                       nn::Named<"out_convm", nn::Conv2d<1, 1>>, nn::Sigmoid>;
};

// Output: (4, res, res), channels 0..2 the rgb image and 3 the mask.
template <Options O>
using Decoder = nn::ConcatBranches<nn::Named<"", typename DecoderHeads<O>::Rgb>, nn::Named<"", typename DecoderHeads<O>::Mask>>;

template <Options O>
inline constexpr Shape image_shape{3, O.resolution, O.resolution};

template <Options O>
inline constexpr Shape code_shape = nn::output_shape<Encoder<O>, image_shape<O>>;

// 'df': one encoder and one inter, a decoder per identity.
template <Options O>
struct DF {
  static_assert(O.resolution >= O.resolution_step() && O.resolution % O.resolution_step() == 0,
                "SAEHD-df: the resolution is a multiple of 16 (32 with -d)");
  static constexpr Options options = O;
  using InterT = Inter<O, O.ae_dims>;
  static constexpr Shape inter_out = nn::output_shape<InterT, code_shape<O>>;
  using Model = nn::Model<nn::Part<"encoder", Encoder<O>, image_shape<O>>, nn::Part<"inter", InterT, code_shape<O>>,
                          nn::Part<"decoder_src", Decoder<O>, inter_out>, nn::Part<"decoder_dst", Decoder<O>, inter_out>>;
};

// 'liae': inter_AB and inter_B; one decoder on the channel concat of two codes.
template <Options O>
struct LIAE {
  static_assert(O.resolution >= O.resolution_step() && O.resolution % O.resolution_step() == 0,
                "SAEHD-liae: the resolution is a multiple of 16 (32 with -d)");
  static constexpr Options options = O;
  using InterT = Inter<O, 2 * O.ae_dims>;
  static constexpr Shape inter_out = nn::output_shape<InterT, code_shape<O>>;
  static constexpr Shape decoder_in{2 * inter_out.c(), inter_out.h(), inter_out.w()};
  using Model = nn::Model<nn::Part<"encoder", Encoder<O>, image_shape<O>>, nn::Part<"inter_AB", InterT, code_shape<O>>,
                          nn::Part<"inter_B", InterT, code_shape<O>>, nn::Part<"decoder", Decoder<O>, decoder_in>>;
};

inline constexpr Options quick96_options{
    .resolution = 96, .ae_dims = 128, .e_dims = 64, .d_dims = 64, .d_mask_dims = 16, .u = true, .d = true};
using Quick96 = DF<quick96_options>;

}  // namespace faceswap
