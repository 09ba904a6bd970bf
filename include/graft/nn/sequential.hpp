// Seq<Layers...>: layers applied one after another, and Named<"name", L>.
//
// Contract: the output shape is the last layer's output on the chain of
// shapes; a layer that cannot take its predecessor's output stops the
// compilation in that layer's Impl, with both shapes in the message.
// Parameter names are the child's Named name, or its index in the Seq,
// followed by the child's own names: Seq<Named<"conv1", Conv2d<..>>> gives
// "conv1.weight". Seq keeps every intermediate output for backward.
#pragma once

#include <tuple>
#include <utility>

#include "graft/nn/layer.hpp"

namespace graft::nn {

template <FixedString N, class L>
struct Named {
  static constexpr auto name = N;
  template <Shape In>
  using Impl = Bound<L, In>;
};

namespace detail {

template <class L>
concept HasName = requires { L::name.view(); };

template <class L>
constexpr Name child_name(std::size_t index) {
  if constexpr (HasName<L>)
    return Name(L::name.view());
  else
    return index_name(index);
}

template <Shape In, class... Ls>
struct Chain {
  using type = std::tuple<>;
  static constexpr Shape out = In;
};
template <Shape In, class L, class... Rest>
struct Chain<In, L, Rest...> {
  using Head = Bound<L, In>;
  using Tail = Chain<Head::out, Rest...>;
  using type = decltype(std::tuple_cat(std::declval<std::tuple<Head>>(), std::declval<typename Tail::type>()));
  static constexpr Shape out = Tail::out;
};

// Parameters of the children of a combinator, each prefixed by its name and
// placed after the previous one. Returns (specs, offsets of the children).
template <class Specs, class Bounds, std::size_t I = 0, class Acc>
constexpr auto collect_params(const Acc& acc, std::int64_t offset) {
  if constexpr (I == std::tuple_size_v<Bounds>) {
    return acc;
  } else {
    using Child = std::tuple_element_t<I, Bounds>;
    constexpr Name name = child_name<std::tuple_element_t<I, Specs>>(I);
    return collect_params<Specs, Bounds, I + 1>(join(acc, Child::params, name.view(), offset), offset + span_of(Child::params));
  }
}

template <class Bounds, std::size_t... I>
constexpr auto child_offsets(std::index_sequence<I...>) {
  std::array<std::int64_t, sizeof...(I)> offsets{};
  std::int64_t at = 0;
  ((offsets[I] = at, at += span_of(std::tuple_element_t<I, Bounds>::params)), ...);
  return offsets;
}

template <class Bounds>
struct TracesOfTuple;
template <class... Children>
struct TracesOfTuple<std::tuple<Children...>> {
  using type = std::tuple<typename Children::Trace...>;
};
template <class Bounds>
using TracesOf = typename TracesOfTuple<Bounds>::type;

}  // namespace detail

template <class... Ls>
struct Seq {
  static_assert(sizeof...(Ls) > 0, "Seq: needs at least one layer");

  template <Shape In>
  struct Impl {
    using Children = typename detail::Chain<In, Ls...>::type;
    static constexpr std::size_t count = sizeof...(Ls);
    static constexpr Shape out = detail::Chain<In, Ls...>::out;
    static constexpr auto params = detail::collect_params<std::tuple<Ls...>, Children>(std::array<ParamSpec, 0>{}, 0);
    static constexpr auto offsets = detail::child_offsets<Children>(std::make_index_sequence<count>{});

    struct Trace {
      std::array<Tensor, count - 1> intermediate;  // output of child i, for i < count - 1
      detail::TracesOf<Children> children;
    };

    template <std::size_t I>
    static constexpr Shape out_of = std::tuple_element_t<I, Children>::out;

    static void forward(const float* p, ConstView x, View y, Trace& t) {
      forward_from<0>(p, x, y, t);
    }

    static void backward(const float* p, float* g, ConstView x, ConstView y, ConstView dy, View dx, Trace& t) {
      backward_from<count - 1>(p, g, x, y, dy, dx, t);
    }

   private:
    template <std::size_t I>
    static void forward_from(const float* p, ConstView in, View y, Trace& t) {
      using Child = std::tuple_element_t<I, Children>;
      if constexpr (I + 1 == count) {
        Child::forward(p + offsets[I], in, y, std::get<I>(t.children));
      } else {
        t.intermediate[I] = Tensor(batched(in.batch(), Child::out));
        Child::forward(p + offsets[I], in, t.intermediate[I].view(), std::get<I>(t.children));
        forward_from<I + 1>(p, t.intermediate[I].view(), y, t);
      }
    }

    template <std::size_t I>
    static void backward_from(const float* p, float* g, ConstView x, ConstView y, ConstView dy, View dx, Trace& t) {
      using Child = std::tuple_element_t<I, Children>;
      const ConstView out = I + 1 == count ? y : t.intermediate[I].view();
      if constexpr (I == 0) {
        Child::backward(p + offsets[0], g + offsets[0], x, out, dy, dx, std::get<0>(t.children));
      } else {
        const ConstView in = t.intermediate[I - 1].view();
        Tensor d_in(in.shape);
        Child::backward(p + offsets[I], g + offsets[I], in, out, dy, d_in.view(), std::get<I>(t.children));
        if constexpr (I + 1 < count) t.intermediate[I] = Tensor();  // no longer needed
        backward_from<I - 1>(p, g, x, y, d_in.view(), dx, t);
      }
    }
  };
};

}  // namespace graft::nn
