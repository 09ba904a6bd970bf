// Philox4x32-10, the counter-based generator of Salmon et al. (SC'11).
//
// Every random number in graft is a pure function of (seed, counter): weight
// i of a model, sample j of step k, pixel p of an augmentation. No generator
// state is shared between threads or ranks, so results do not depend on how
// the work is split, and a resumed run draws exactly what an uninterrupted
// one would.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>

namespace graft {

class Philox {
 public:
  using Block = std::array<std::uint32_t, 4>;

  constexpr explicit Philox(std::uint64_t seed)
      : key_{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)} {}

  // Four 32-bit words for a 128-bit counter given as (low, high) 64-bit halves.
  constexpr Block block(std::uint64_t counter_low, std::uint64_t counter_high = 0) const {
    Block c{static_cast<std::uint32_t>(counter_low), static_cast<std::uint32_t>(counter_low >> 32),
            static_cast<std::uint32_t>(counter_high), static_cast<std::uint32_t>(counter_high >> 32)};
    std::array<std::uint32_t, 2> k = key_;
    for (int round = 0; round < 10; ++round) {
      c = single_round(c, k);
      k[0] += 0x9E3779B9u;
      k[1] += 0xBB67AE85u;
    }
    return c;
  }

  // The index-th 32-bit word of the stream `stream`.
  constexpr std::uint32_t bits(std::uint64_t index, std::uint64_t stream = 0) const {
    return block(index / 4, stream)[index % 4];
  }

  // Uniform in [0, 1) with 24 random bits, exactly representable in float.
  constexpr float uniform(std::uint64_t index, std::uint64_t stream = 0) const {
    return static_cast<float>(bits(index, stream) >> 8) * (1.0f / 16777216.0f);
  }

  // Uniform in [low, high).
  constexpr float uniform(float low, float high, std::uint64_t index, std::uint64_t stream = 0) const {
    return low + (high - low) * uniform(index, stream);
  }

  // Standard normal by Box-Muller over the first two words of block `index`
  // (so normal(i) and uniform(4 i) share a word: draw them from different streams).
  float normal(std::uint64_t index, std::uint64_t stream = 0) const {
    const Block b = block(index, stream);
    const float u1 = (static_cast<float>(b[0] >> 8) + 1.0f) * (1.0f / 16777216.0f);  // (0, 1]
    const float u2 = static_cast<float>(b[1] >> 8) * (1.0f / 16777216.0f);
    return std::sqrt(-2.0f * std::log(u1)) * std::cos(6.2831853071795864f * u2);
  }

 private:
  static constexpr Block single_round(const Block& c, const std::array<std::uint32_t, 2>& k) {
    const std::uint64_t p0 = std::uint64_t{0xD2511F53u} * c[0];
    const std::uint64_t p1 = std::uint64_t{0xCD9E8D57u} * c[2];
    const auto hi0 = static_cast<std::uint32_t>(p0 >> 32), lo0 = static_cast<std::uint32_t>(p0);
    const auto hi1 = static_cast<std::uint32_t>(p1 >> 32), lo1 = static_cast<std::uint32_t>(p1);
    return {hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0};
  }
  std::array<std::uint32_t, 2> key_;
};

}  // namespace graft
