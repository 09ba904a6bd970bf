// DepthToSpace<B>: channels to a B x B spatial block, TensorFlow's DCR order.
//
// Contract: input (C*B*B, H, W) -> output (C, H*B, W*B) with
//   out[c, B*h + i, B*w + j] = in[(i*B + j)*C + c, h, w]
// which is what DeepFaceLab's Upscale uses. (PyTorch's PixelShuffle is the
// CRD order in[c*B*B + i*B + j]; a port of weights must permute channels.)
#pragma once

#include "graft/backend/cpu/elementwise.hpp"
#include "graft/nn/layer.hpp"

namespace graft::nn {

template <int Block>
struct DepthToSpace {
  static_assert(Block >= 2, "DepthToSpace: block must be at least 2");
  template <Shape In>
  struct Impl {
    static_assert(expect_extent<3, In.rank, In>, "DepthToSpace: input must be (C, H, W)");
    static_assert(expect_extent<0, In.c() % (Block * Block), In>, "DepthToSpace: channels must be a multiple of Block*Block");
    static constexpr std::int64_t C = In.c() / (Block * Block), H = In.h(), W = In.w();
    static constexpr Shape out{C, H* Block, W* Block};
    static constexpr std::array<ParamSpec, 0> params{};
    using Trace = NoTrace;

    // Calls f(input index, output index) for every element of one sample.
    template <class F>
    static void for_each_pair(std::int64_t batch, F&& f) {
#pragma omp parallel for collapse(2) schedule(static) if (batch * C * H * W > cpu::parallel_threshold)
      for (std::int64_t n = 0; n < batch; ++n)
        for (std::int64_t c = 0; c < C; ++c)
          for (std::int64_t i = 0; i < Block; ++i)
            for (std::int64_t h = 0; h < H; ++h)
              for (std::int64_t j = 0; j < Block; ++j)
                for (std::int64_t w = 0; w < W; ++w) {
                  const std::int64_t src = n * In.numel() + (((i * Block + j) * C + c) * H + h) * W + w;
                  const std::int64_t dst = n * out.numel() + (c * H * Block + h * Block + i) * W * Block + w * Block + j;
                  f(src, dst);
                }
    }

    static void forward(const float*, ConstView x, View y, Trace&) {
      for_each_pair(x.batch(), [&](std::int64_t s, std::int64_t d) { y.data[d] = x.data[s]; });
    }
    static void backward(const float*, float*, ConstView x, ConstView, ConstView dy, View dx, Trace&) {
      if (dx.data) for_each_pair(x.batch(), [&](std::int64_t s, std::int64_t d) { dx.data[s] = dy.data[d]; });
    }
  };
};

}  // namespace graft::nn
