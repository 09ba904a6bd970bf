// Residual<Body, Post>: y = Post(x + Body(x)), DeepFaceLab's ResidualBlock
// with Body = conv, lrelu, conv and Post = LeakyReLU<0.2f>.
//
// Contract: Body must keep the shape (a mismatch names both shapes). Body's
// parameters keep their names; Post's, if any, are under "post".
#pragma once

#include "graft/backend/cpu/elementwise.hpp"
#include "graft/nn/sequential.hpp"

namespace graft::nn {

struct Identity {
  template <Shape In>
  struct Impl {
    static constexpr Shape out = In;
    static constexpr std::array<ParamSpec, 0> params{};
    using Trace = NoTrace;
    static void forward(const float*, ConstView x, View y, Trace&) { std::copy_n(x.data, x.numel(), y.data); }
    static void backward(const float*, float*, ConstView, ConstView, ConstView dy, View dx, Trace&) {
      if (dx.data) std::copy_n(dy.data, dy.numel(), dx.data);
    }
  };
};

template <class Body, class Post = Identity>
struct Residual {
  template <Shape In>
  struct Impl {
    using B = Bound<Body, In>;
    static_assert(expect_shape<In, B::out>, "Residual: the body must keep the input shape");
    using P = Bound<Post, In>;
    static constexpr Shape out = P::out;
    static constexpr std::int64_t post_offset = span_of(B::params);
    static constexpr auto params = join(join(std::array<ParamSpec, 0>{}, B::params, "", 0), P::params, "post", post_offset);

    struct Trace {
      Tensor body_out, sum;
      typename B::Trace body;
      typename P::Trace post;
    };

    static void forward(const float* p, ConstView x, View y, Trace& t) {
      t.body_out = Tensor(x.shape);
      B::forward(p, x, t.body_out.view(), t.body);
      t.sum = Tensor(x.shape);
      cpu::add(x.data, t.body_out.data(), t.sum.data(), x.numel());
      P::forward(p + post_offset, t.sum.view(), y, t.post);
    }

    static void backward(const float* p, float* g, ConstView x, ConstView y, ConstView dy, View dx, Trace& t) {
      Tensor d_sum(x.shape);
      P::backward(p + post_offset, g + post_offset, t.sum.view(), y, dy, d_sum.view(), t.post);
      B::backward(p, g, x, t.body_out.view(), d_sum.view(), dx, t.body);
      if (dx.data) cpu::axpy(1.0f, d_sum.data(), dx.data, x.numel());
    }
  };
};

}  // namespace graft::nn
