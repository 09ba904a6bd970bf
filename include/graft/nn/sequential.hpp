// Seq<Layers...>: layers applied one after another, and Named<"name", L>.
//
// Adjacent pairs with a fused implementation (FusedPair in layer.hpp, such as
// Conv2d followed by LeakyReLU) run as one layer; names and parameters do not
// change.
//
// Contract: the output shape is the last layer's output on the chain of
// shapes; a layer that cannot take its predecessor's output stops the
// compilation in that layer's Impl, with both shapes in the message.
// Parameter names are the child's Named name, or its index in the Seq,
// followed by the child's own names: Seq<Named<"conv1", Conv2d<..>>> gives
// "conv1.weight". Seq keeps every intermediate output for backward.
#pragma once

#include <tuple>
#include <type_traits>
#include <utility>

#include "graft/nn/gradient_observer.hpp"
#include "graft/nn/layer.hpp"

namespace graft::nn {

template <FixedString N, class L>
struct Named {
  static constexpr auto name = N;
  using Inner = L;
  template <Shape In>
  using Impl = Bound<L, In>;
};

namespace detail {

template <class L>
concept HasName = requires {
  L::name.view();
};

template <class L>
constexpr Name child_name(std::size_t index) {
  if constexpr (HasName<L>)
    return Name(L::name.view());
  else
    return index_name(index);
}

// A child of a Seq after fusion, with its position in the Seq as written
// (so that index names do not shift when a pair is fused).
template <std::size_t Index, class L>
struct Item {
  static constexpr std::size_t index = Index;
  using Layer = L;
};

template <class S>
struct ItemTraits {
  static constexpr bool is_item = false;
};
template <std::size_t Index, class L>
struct ItemTraits<Item<Index, L>> {
  static constexpr bool is_item = true;
};

// The name of the child at `position` of a combinator's spec list.
template <class S>
constexpr Name spec_name(std::size_t position) {
  if constexpr (ItemTraits<S>::is_item)
    return child_name<typename S::Layer>(S::index);
  else
    return child_name<S>(position);
}

// The fused replacement of the adjacent pair (A, B), looking through Named on A.
template <class A, class B>
struct FusedThroughName {
  using type = typename FusedPair<A, B>::type;
};
template <FixedString N, class L, class B>
struct FusedThroughName<Named<N, L>, B> {
  using Inner = typename FusedPair<L, B>::type;
  using type = std::conditional_t<std::is_void_v<Inner>, void, Named<N, Inner>>;
};

// Scans a Seq's layers left to right, replacing each fusable pair.
template <class Done, std::size_t I, class... Rest>
struct FuseScan {
  using type = Done;
};
template <class... Done, std::size_t I, class A>
struct FuseScan<std::tuple<Done...>, I, A> {
  using type = std::tuple<Done..., Item<I, A>>;
};
template <bool Fuse, class Done, std::size_t I, class A, class B, class... Rest>
struct FuseStep;
template <class... Done, std::size_t I, class A, class B, class... Rest>
struct FuseScan<std::tuple<Done...>, I, A, B, Rest...> {
  using type =
      typename FuseStep<!std::is_void_v<typename FusedThroughName<A, B>::type>, std::tuple<Done...>, I, A, B, Rest...>::type;
};
template <class... Done, std::size_t I, class A, class B, class... Rest>
struct FuseStep<false, std::tuple<Done...>, I, A, B, Rest...> {
  using type = typename FuseScan<std::tuple<Done..., Item<I, A>>, I + 1, B, Rest...>::type;
};
template <class... Done, std::size_t I, class A, class B, class... Rest>
struct FuseStep<true, std::tuple<Done...>, I, A, B, Rest...> {
  using type = typename FuseScan<std::tuple<Done..., Item<I, typename FusedThroughName<A, B>::type>>, I + 2, Rest...>::type;
};

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

template <class Items>
struct LayersOf;
template <class... Items>
struct LayersOf<std::tuple<Items...>> {
  template <Shape In>
  using Chained = Chain<In, typename Items::Layer...>;
};

// Parameters of the children of a combinator, each prefixed by its name and
// placed after the previous one. Returns (specs, offsets of the children).
template <class Specs, class Bounds, std::size_t I = 0, class Acc>
constexpr auto collect_params(const Acc& acc, std::int64_t offset) {
  if constexpr (I == std::tuple_size_v<Bounds>) {
    return acc;
  } else {
    using Child = std::tuple_element_t<I, Bounds>;
    constexpr Name name = spec_name<std::tuple_element_t<I, Specs>>(I);
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
    using Items = typename detail::FuseScan<std::tuple<>, 0, Ls...>::type;
    using Chained = typename detail::LayersOf<Items>::template Chained<In>;
    using Children = typename Chained::type;
    static constexpr std::size_t count = std::tuple_size_v<Items>;
    static constexpr Shape out = Chained::out;
    static constexpr auto params = detail::collect_params<Items, Children>(std::array<ParamSpec, 0>{}, 0);
    static constexpr auto offsets = detail::child_offsets<Children>(std::make_index_sequence<count>{});

    struct Trace {
      std::array<Tensor, (count > 1 ? count - 1 : 0)> intermediate;  // output of child i, for i < count - 1
      detail::TracesOf<Children> children;
    };

    template <std::size_t I>
    static constexpr Shape out_of = std::tuple_element_t<I, Children>::out;

    static void forward(const float* p, ConstView x, View y, Trace& t) { forward_from<0>(p, x, y, t); }

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
        report_gradients_added(g + offsets[0], span_of(Child::params));
      } else {
        const ConstView in = t.intermediate[I - 1].view();
        Tensor d_in(in.shape);
        Child::backward(p + offsets[I], g + offsets[I], in, out, dy, d_in.view(), std::get<I>(t.children));
        report_gradients_added(g + offsets[I], span_of(Child::params));
        if constexpr (I + 1 < count) t.intermediate[I] = Tensor();  // no longer needed
        backward_from<I - 1>(p, g, x, y, d_in.view(), dx, t);
      }
    }
  };
};

}  // namespace graft::nn
