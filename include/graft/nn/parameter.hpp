// Parameter declarations: what a layer owns, known at compile time.
//
// Every layer lists its parameters as ParamSpec values (name, shape, offset
// in the layer's slice of the flat buffer, initialiser). Combinators prefix
// the names and shift the offsets of their children, so a whole model's
// flat layout -- and the checkpoint names like `encoder.down1.downs.0.conv1.weight` --
// is one constexpr array.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "graft/core/shape.hpp"

namespace graft::nn {

// A string usable as a template argument: `Named<"conv1", Conv2d<64, 3>>`.
template <std::size_t N>
struct FixedString {
  char chars[N]{};
  constexpr FixedString(const char (&s)[N]) { std::copy_n(s, N, chars); }
  constexpr std::string_view view() const { return {chars, N - 1}; }
};

// A compile-time parameter name of bounded length.
struct Name {
  static constexpr std::size_t capacity = 120;
  std::array<char, capacity> chars{};
  std::size_t length = 0;

  constexpr Name() = default;
  constexpr Name(std::string_view s) { append(s); }

  constexpr Name& append(std::string_view s) {
    for (char c : s) {
      if (length == capacity) throw "graft::nn::Name: parameter name longer than 120 characters";
      chars[length++] = c;
    }
    return *this;
  }
  // "prefix.name", or the name alone when the prefix is empty.
  constexpr Name under(std::string_view prefix) const {
    Name out(prefix);
    if (!prefix.empty()) out.append(".");
    out.append(view());
    return out;
  }
  constexpr std::string_view view() const { return {chars.data(), length}; }
  constexpr bool operator==(const Name& o) const { return view() == o.view(); }
};

constexpr Name index_name(std::size_t i) {
  Name n;
  char digits[20]{};
  std::size_t count = 0;
  do {
    digits[count++] = static_cast<char>('0' + i % 10);
    i /= 10;
  } while (i);
  while (count) n.append(std::string_view(&digits[--count], 1));
  return n;
}

enum class Init : std::uint8_t { glorot_uniform, zeros };

struct ParamSpec {
  Name name;
  Shape shape;
  std::int64_t offset = 0;  // in floats, from the start of the owner's slice
  Init init = Init::zeros;
  std::int64_t fan_in = 0, fan_out = 0;  // for Glorot: limit = sqrt(6 / (fan_in + fan_out))
};

// Each parameter starts on a 64-byte boundary of the flat buffer.
inline constexpr std::int64_t param_alignment = 16;
constexpr std::int64_t aligned_size(std::int64_t floats) {
  return (floats + param_alignment - 1) / param_alignment * param_alignment;
}

// Lays out specs one after another from `offset` and returns the end.
template <std::size_t N>
constexpr std::array<ParamSpec, N> laid_out(std::array<ParamSpec, N> specs, std::int64_t offset = 0) {
  for (auto& s : specs) {
    s.offset = offset;
    offset += aligned_size(s.shape.numel());
  }
  return specs;
}

template <std::size_t N>
constexpr std::int64_t span_of(const std::array<ParamSpec, N>& specs) {
  std::int64_t end = 0;
  for (const auto& s : specs) end = std::max(end, s.offset + aligned_size(s.shape.numel()));
  return end;
}

template <std::size_t N>
constexpr std::int64_t count_of(const std::array<ParamSpec, N>& specs) {
  std::int64_t n = 0;
  for (const auto& s : specs) n += s.shape.numel();
  return n;
}

// Whether no two specs share a name: checkpoints are keyed by it.
template <std::size_t N>
constexpr bool unique_names(const std::array<ParamSpec, N>& specs) {
  for (std::size_t i = 0; i < N; ++i)
    for (std::size_t j = i + 1; j < N; ++j)
      if (specs[i].name == specs[j].name) return false;
  return true;
}

// Appends `child` (prefixed by `prefix`, shifted by `offset`) to `head`.
template <std::size_t N, std::size_t M>
constexpr std::array<ParamSpec, N + M> join(const std::array<ParamSpec, N>& head, const std::array<ParamSpec, M>& child,
                                            std::string_view prefix, std::int64_t offset) {
  std::array<ParamSpec, N + M> out{};
  for (std::size_t i = 0; i < N; ++i) out[i] = head[i];
  for (std::size_t i = 0; i < M; ++i) {
    out[N + i] = child[i];
    out[N + i].name = child[i].name.under(prefix);
    out[N + i].offset = child[i].offset + offset;
  }
  return out;
}

}  // namespace graft::nn
