// Model<Part<"name", Layer, InputShape>...>: named modules over one flat
// parameter buffer and one flat gradient buffer.
//
// A face-swap model is a few modules (encoder, inter, two decoders) whose
// data flow the training step spells out. Model owns the two buffers, lays
// the parts out one after another at compile time, initialises them from a
// Philox seed (Glorot-uniform weights, zero biases, as DeepFaceLab) and gives
// each part as a Module. `Model::parameters` is the constexpr list of every
// tensor with its checkpoint name ("encoder.down1.downs.0.conv1.weight"), shape and offset.
#pragma once

#include <cmath>
#include <tuple>

#include "graft/core/philox.hpp"
#include "graft/nn/module.hpp"
#include "graft/nn/sequential.hpp"

namespace graft::nn {

template <FixedString N, class L, Shape In>
struct Part {
  static constexpr auto name = N;
  using Layer = L;
  static constexpr Shape input_shape = In;
  using Impl = Bound<L, In>;
  using Module = nn::Module<L, In>;
};

// Fills one parameter tensor; element i of the whole model uses Philox
// counter (global offset + i), so the values do not depend on threading.
inline void initialise(const ParamSpec& spec, float* data, std::uint64_t seed) {
  const std::int64_t n = spec.shape.numel();
  switch (spec.init) {
    case Init::zeros:
      std::fill_n(data, n, 0.0f);
      break;
    case Init::glorot_uniform: {
      const Philox rng(seed);
      const auto limit = static_cast<float>(std::sqrt(6.0 / static_cast<double>(spec.fan_in + spec.fan_out)));
      // Counter-based, so the threads' split does not change a single value.
#pragma omp parallel for schedule(static) if (n > (1 << 16))
      for (std::int64_t i = 0; i < n; ++i) data[i] = rng.uniform(-limit, limit, static_cast<std::uint64_t>(spec.offset + i));
      break;
    }
  }
}

template <class... Parts>
class Model {
 public:
  using PartList = std::tuple<Parts...>;
  static constexpr std::size_t part_count = sizeof...(Parts);
  static constexpr auto part_offsets =
      detail::child_offsets<std::tuple<typename Parts::Impl...>>(std::make_index_sequence<part_count>{});
  static constexpr auto parameters =
      detail::collect_params<std::tuple<Parts...>, std::tuple<typename Parts::Impl...>>(std::array<ParamSpec, 0>{}, 0);
  static constexpr std::int64_t parameter_count = count_of(parameters);
  static constexpr std::int64_t buffer_size = span_of(parameters);
  static_assert(unique_names(parameters),
                "nn::Model: two parameters have the same name; give the parts or layers distinct Named names");

  explicit Model(std::uint64_t seed = 0) : params_(buffer_size, 0.0f), grads_(buffer_size, 0.0f) {
    for (const auto& spec : parameters) initialise(spec, params_.data() + spec.offset, seed);
  }

  template <FixedString N>
  auto part() {
    constexpr std::size_t i = index_of<N>();
    using P = std::tuple_element_t<i, PartList>;
    return typename P::Module(params_.data() + part_offsets[i], grads_.data() + part_offsets[i], N.view());
  }

  std::span<float> parameter_buffer() { return params_.span(); }
  std::span<const float> parameter_buffer() const { return params_.span(); }
  std::span<float> gradient_buffer() { return grads_.span(); }
  std::span<const float> gradient_buffer() const { return grads_.span(); }
  void zero_gradients() { grads_.zero(); }

 private:
  template <FixedString N, std::size_t I = 0>
  static constexpr std::size_t index_of() {
    static_assert(I < part_count, "Model::part: no part with this name");
    if constexpr (std::tuple_element_t<I, PartList>::name.view() == N.view())
      return I;
    else
      return index_of<N, I + 1>();
  }

  AlignedBuffer<float> params_, grads_;
};

}  // namespace graft::nn
