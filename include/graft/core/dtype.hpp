// Element types: f32 for everything on the CPU today, bf16 for the CUDA
// backend's activations and weight copies and for compressed all-reduce.
//
// bf16 is stored as the upper 16 bits of an IEEE float; conversion from f32
// rounds to nearest even and keeps NaN a NaN, as the CUDA intrinsics do.
#pragma once

#include <bit>
#include <cstdint>
#include <string_view>

namespace graft {

enum class DType : std::uint8_t { f32, bf16 };

constexpr std::size_t size_of(DType t) { return t == DType::f32 ? 4 : 2; }

// The names safetensors uses.
constexpr std::string_view safetensors_name(DType t) { return t == DType::f32 ? "F32" : "BF16"; }

struct bf16 {
  std::uint16_t bits = 0;

  constexpr bf16() = default;
  constexpr explicit bf16(float f) : bits(round_to_bf16(f)) {}
  constexpr explicit operator float() const { return std::bit_cast<float>(std::uint32_t{bits} << 16); }

  static constexpr std::uint16_t round_to_bf16(float f) {
    const auto u = std::bit_cast<std::uint32_t>(f);
    if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu) != 0) return static_cast<std::uint16_t>((u >> 16) | 0x40u);
    const std::uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);
    return static_cast<std::uint16_t>((u + rounding) >> 16);
  }
};

template <class T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() {
  return DType::f32;
}
template <>
constexpr DType dtype_of<bf16>() {
  return DType::bf16;
}

}  // namespace graft
