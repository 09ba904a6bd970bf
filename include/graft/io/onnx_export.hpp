// Exporting composed graft layers to ONNX (io/onnx.hpp).
//
// Each layer template has an OnnxExport specialisation that emits the
// operators computing it, reading its weights from the layer's slice of the
// flat parameter buffer; combinators (Seq, Named, Residual, ConcatBranches)
// recurse into their children with the same offsets as forward() uses, so
// an exported graph computes exactly what the model does. A layer without a
// specialisation does not compile when exported.
#pragma once

#include <string>
#include <tuple>

#include "graft/io/onnx.hpp"
#include "graft/nn.hpp"

namespace graft::io {

template <class L, Shape In>
struct OnnxExport {
  static_assert(sizeof(L) == 0, "graft::io::OnnxExport: this layer has no ONNX export yet");
};

// Emits layer L on input tensor `x` (batch, In...) with parameters at `p`; returns the output tensor's name.
template <class L, Shape In>
std::string export_layer(OnnxGraph& g, const std::string& x, const float* p) {
  return OnnxExport<L, In>::emit(g, x, p);
}

namespace detail {
inline std::vector<std::int64_t> dims_of(const Shape& s) { return {s.dims.begin(), s.dims.begin() + s.rank}; }
template <class I, std::size_t K>
std::span<const float> tensor_of(const float* p) {
  return {p + I::params[K].offset, static_cast<std::size_t>(I::params[K].shape.numel())};
}
}  // namespace detail

template <int O, int K, int S, int P, bool B, Shape In>
struct OnnxExport<nn::Conv2d<O, K, S, P, B>, In> {
  using I = nn::Bound<nn::Conv2d<O, K, S, P, B>, In>;
  static std::string emit(OnnxGraph& g, const std::string& x, const float* p) {
    std::vector<std::string> inputs{x, g.weights("conv_weight", detail::dims_of(I::params[0].shape), detail::tensor_of<I, 0>(p))};
    if constexpr (B) inputs.push_back(g.weights("conv_bias", {O}, detail::tensor_of<I, 1>(p)));
    return g.op("Conv", inputs,
                {OnnxAttribute::of("kernel_shape", std::vector<std::int64_t>{K, K}),
                 OnnxAttribute::of("strides", std::vector<std::int64_t>{S, S}),
                 OnnxAttribute::of("pads", std::vector<std::int64_t>{P, P, P, P})});
  }
};

template <float Slope, Shape In>
struct OnnxExport<nn::LeakyReLU<Slope>, In> {
  static std::string emit(OnnxGraph& g, const std::string& x, const float*) {
    return g.op("LeakyRelu", {x}, {OnnxAttribute::of("alpha", Slope)});
  }
};

template <class Conv, float Slope, Shape In>
struct OnnxExport<nn::Conv2dLeakyReLU<Conv, Slope>, In> {
  static std::string emit(OnnxGraph& g, const std::string& x, const float* p) {
    return export_layer<nn::LeakyReLU<Slope>, In>(g, export_layer<Conv, In>(g, x, p), nullptr);
  }
};

template <Shape In>
struct OnnxExport<nn::Sigmoid, In> {
  static std::string emit(OnnxGraph& g, const std::string& x, const float*) { return g.op("Sigmoid", {x}); }
};

template <Shape In>
struct OnnxExport<nn::Identity, In> {
  static std::string emit(OnnxGraph&, const std::string& x, const float*) { return x; }
};

template <int Out, bool B, Shape In>
struct OnnxExport<nn::Dense<Out, B>, In> {
  using I = nn::Bound<nn::Dense<Out, B>, In>;
  static std::string emit(OnnxGraph& g, const std::string& x, const float* p) {
    std::vector<std::string> inputs{x,
                                    g.weights("dense_weight", detail::dims_of(I::params[0].shape), detail::tensor_of<I, 0>(p))};
    if constexpr (B) inputs.push_back(g.weights("dense_bias", {Out}, detail::tensor_of<I, 1>(p)));
    return g.op("Gemm", inputs, {OnnxAttribute::of("transB", std::int64_t{1})});  // weights are (out, in), as PyTorch's
  }
};

template <int Block, Shape In>
struct OnnxExport<nn::DepthToSpace<Block>, In> {
  static std::string emit(OnnxGraph& g, const std::string& x, const float*) {
    return g.op("DepthToSpace", {x},
                {OnnxAttribute::of("blocksize", std::int64_t{Block}), OnnxAttribute::of("mode", std::string("DCR"))});
  }
};

template <Shape In>
struct OnnxExport<nn::Flatten, In> {
  static std::string emit(OnnxGraph& g, const std::string& x, const float*) {
    return g.op("Reshape", {x, g.int64s("flat_shape", {0, -1})});  // 0 keeps the batch
  }
};

template <int C, int H, int W, Shape In>
struct OnnxExport<nn::Reshape<C, H, W>, In> {
  static std::string emit(OnnxGraph& g, const std::string& x, const float*) {
    return g.op("Reshape", {x, g.int64s("shape", {0, C, H, W})});
  }
};

template <Shape In>
struct OnnxExport<nn::PixelNorm, In> {
  static std::string emit(OnnxGraph& g, const std::string& x, const float*) {
    std::vector<std::int64_t> axes;
    for (int a = 1; a <= In.rank; ++a) axes.push_back(a);  // the whole sample, as nn::PixelNorm
    const std::string mean = g.op("ReduceMean", {g.op("Mul", {x, x})},
                                  {OnnxAttribute::of("axes", axes), OnnxAttribute::of("keepdims", std::int64_t{1})});
    const float epsilon = static_cast<float>(nn::PixelNorm::epsilon);
    return g.op("Div", {x, g.op("Sqrt", {g.op("Add", {mean, g.weights("epsilon", {}, std::span(&epsilon, 1))})})});
  }
};

template <nn::FixedString N, class L, Shape In>
struct OnnxExport<nn::Named<N, L>, In> {
  static std::string emit(OnnxGraph& g, const std::string& x, const float* p) { return export_layer<L, In>(g, x, p); }
};

template <class Body, class Post, Shape In>
struct OnnxExport<nn::Residual<Body, Post>, In> {
  using I = nn::Bound<nn::Residual<Body, Post>, In>;
  static std::string emit(OnnxGraph& g, const std::string& x, const float* p) {
    const std::string sum = g.op("Add", {x, export_layer<Body, In>(g, x, p)});
    return export_layer<Post, In>(g, sum, p + I::post_offset);
  }
};

template <class... Ls, Shape In>
struct OnnxExport<nn::Seq<Ls...>, In> {
  using I = nn::Bound<nn::Seq<Ls...>, In>;
  template <std::size_t K>
  static std::string from(OnnxGraph& g, const std::string& x, const float* p) {
    if constexpr (K == I::count) {
      return x;
    } else {
      using Item = std::tuple_element_t<K, typename I::Items>;
      constexpr Shape in = K == 0 ? In : std::tuple_element_t<(K == 0 ? 0 : K - 1), typename I::Children>::out;
      return from<K + 1>(g, export_layer<typename Item::Layer, in>(g, x, p + I::offsets[K]), p);
    }
  }
  static std::string emit(OnnxGraph& g, const std::string& x, const float* p) { return from<0>(g, x, p); }
};

template <class... Bs, Shape In>
struct OnnxExport<nn::ConcatBranches<Bs...>, In> {
  using I = nn::Bound<nn::ConcatBranches<Bs...>, In>;
  template <std::size_t... K>
  static std::vector<std::string> branches(OnnxGraph& g, const std::string& x, const float* p, std::index_sequence<K...>) {
    return {export_layer<Bs, In>(g, x, p + I::offsets[K])...};
  }
  static std::string emit(OnnxGraph& g, const std::string& x, const float* p) {
    return g.op("Concat", branches(g, x, p, std::index_sequence_for<Bs...>{}), {OnnxAttribute::of("axis", std::int64_t{1})});
  }
};

}  // namespace graft::io
