#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "graft/core/dtype.hpp"
#include "graft/core/error.hpp"
#include "graft/core/tensor.hpp"

using namespace graft;

static_assert(Shape{3, 128, 128}.numel() == 49152);
static_assert(Shape{3, 128, 128} != Shape{3, 128, 64});
static_assert(batched(8, Shape{3, 4, 5}) == Shape{8, 3, 4, 5});

TEST_CASE("Tensors are 64-byte aligned and views see the same memory") {
  for (std::int64_t n : {1, 3, 17, 1000, 123457}) {
    Tensor t(Shape{n});
    CHECK(reinterpret_cast<std::uintptr_t>(t.data()) % 64 == 0);
  }
  Tensor t(Shape{2, 3, 4, 5}, 1.5f);
  View v = t.view();
  v.data[7] = 2.0f;
  CHECK(t[7] == 2.0f);
  CHECK(v.sample(1).shape == Shape{3, 4, 5});
  CHECK(v.sample(1).data == t.data() + 60);
}

TEST_CASE("A wrong input shape names both shapes") {
  Tensor t(Shape{2, 3, 4, 4});
  CHECK_NOTHROW(check_input("layer", t.view(), Shape{3, 4, 4}));
  CHECK_THROWS_WITH_AS(check_input("conv1", t.view(), Shape{3, 8, 8}),
                       "conv1: input has shape (2, 3, 4, 4), expected (batch, 3, 8, 8)", graft::Error);
  CHECK_THROWS_AS(std::move(t).reshaped(Shape{5}), graft::Error);
}

TEST_CASE("bf16 rounds to nearest even and keeps NaN") {
  CHECK(static_cast<float>(bf16(1.0f)) == 1.0f);
  CHECK(static_cast<float>(bf16(-2.5f)) == -2.5f);
  // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1).
  CHECK(static_cast<float>(bf16(1.0f + 1.0f / 256)) == 1.0f);
  CHECK(static_cast<float>(bf16(1.0f + 3.0f / 256)) == 1.0f + 4.0f / 256);
  CHECK(std::isnan(static_cast<float>(bf16(std::numeric_limits<float>::quiet_NaN()))));
  CHECK(size_of(DType::bf16) == 2);
  CHECK(safetensors_name(DType::f32) == "F32");
}

TEST_CASE("bf16 tensors convert to and from f32 with round-to-nearest-even") {
  Tensor x(Shape{2, 3, 4});
  for (std::int64_t i = 0; i < x.numel(); ++i) x[i] = 0.37f * static_cast<float>(i) - 3.1f;
  const Bf16Tensor h = to_bf16(x.view());
  CHECK(Bf16Tensor::dtype() == DType::bf16);
  CHECK(Tensor::dtype() == DType::f32);
  CHECK(h.shape() == x.shape());
  const Tensor back = to_f32(h.view());
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    CHECK(back[i] == static_cast<float>(bf16(x[i])));
    CHECK(std::abs(back[i] - x[i]) <= std::abs(x[i]) / 256.0f);  // 8 significant bits
  }
}
