#include <doctest/doctest.h>

#include "graft/core/philox.hpp"

using graft::Philox;

TEST_CASE("Philox4x32-10 matches the Random123 known-answer vectors") {
  CHECK(Philox(0).block(0, 0) == Philox::Block{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u});
  CHECK(Philox(0xffffffffffffffffull).block(0xffffffffffffffffull, 0xffffffffffffffffull) ==
        Philox::Block{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu});
  CHECK(Philox(0x299f31d0a4093822ull).block(0x85a308d3243f6a88ull, 0x0370734413198a2eull) ==
        Philox::Block{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u});
}

TEST_CASE("Philox streams and counters give independent words") {
  const Philox rng(42);
  // index i is word i % 4 of block i / 4; another stream is another block.
  CHECK(rng.bits(5) == rng.block(1)[1]);
  CHECK(rng.bits(5, 3) == rng.block(1, 3)[1]);
  CHECK(rng.bits(5) != rng.bits(5, 3));
  CHECK(rng.bits(5) != rng.bits(6));
}

TEST_CASE("Philox uniform numbers are in [0, 1) with the expected mean and spread") {
  const Philox rng(7);
  double sum = 0.0, sum2 = 0.0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const double u = rng.uniform(static_cast<std::uint64_t>(i));
    REQUIRE(u >= 0.0);
    REQUIRE(u < 1.0);
    sum += u;
    sum2 += u * u;
  }
  CHECK(sum / n == doctest::Approx(0.5).epsilon(0.01));
  CHECK(sum2 / n - (sum / n) * (sum / n) == doctest::Approx(1.0 / 12.0).epsilon(0.01));
  double nsum = 0.0, nsum2 = 0.0;
  for (int i = 0; i < n; ++i) {
    const double z = rng.normal(static_cast<std::uint64_t>(i));
    nsum += z;
    nsum2 += z * z;
  }
  CHECK(std::abs(nsum / n) < 0.01);
  CHECK(nsum2 / n == doctest::Approx(1.0).epsilon(0.02));
  CHECK(Philox(1).uniform(5) != Philox(2).uniform(5));
}
