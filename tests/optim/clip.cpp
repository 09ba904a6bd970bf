// Global-norm clipping against a norm computed by hand and in double.
#include <doctest/doctest.h>

#include "random_fill.hpp"

#include <cmath>
#include <limits>
#include <span>
#include <vector>

#include "graft/core/philox.hpp"
#include "graft/optim/clip.hpp"

using graft::optim::clip_by_global_norm;
using graft::optim::global_norm;

namespace {

using graft::testing::fill_uniform;

}  // namespace

TEST_CASE("clip: global_norm of a hand-computed buffer") {
  // sqrt(3^2 + (-4)^2 + 12^2) = sqrt(9 + 16 + 144) = sqrt(169) = 13
  const std::vector<float> g{3.0f, -4.0f, 12.0f};
  CHECK(global_norm(g) == 13.0);
}

TEST_CASE("clip: global_norm of a random buffer matches a double sum") {
  std::vector<float> g(10007);
  fill_uniform(g, 21, -0.01f, 0.01f);
  double sum = 0.0;
  for (float x : g) sum += static_cast<double>(x) * x;
  CHECK(global_norm(g) == doctest::Approx(std::sqrt(sum)).epsilon(1e-12));
}

TEST_CASE("clip: clip_by_global_norm scales above max_norm and leaves the rest") {
  std::vector<float> g{3.0f, -4.0f, 12.0f};
  // norm 13 > 6.5: every element is halved, the norm before clipping is returned.
  CHECK(clip_by_global_norm(g, 6.5) == 13.0);
  CHECK(g == std::vector<float>{1.5f, -2.0f, 6.0f});
  CHECK(global_norm(g) == doctest::Approx(6.5));
  // norm 6.5 <= 10: untouched.
  CHECK(clip_by_global_norm(g, 10.0) == doctest::Approx(6.5));
  CHECK(g == std::vector<float>{1.5f, -2.0f, 6.0f});

  std::vector<float> random(1001);
  fill_uniform(random, 22);
  const double before = global_norm(random);
  CHECK(clip_by_global_norm(random, 1.0) == before);
  CHECK(global_norm(random) == doctest::Approx(1.0).epsilon(1e-6));
}

TEST_CASE("clip: a non-finite norm is returned and the gradients are left alone") {
  std::vector<float> g{1.0f, std::numeric_limits<float>::infinity(), 2.0f};
  CHECK(std::isinf(clip_by_global_norm(g, 1.0)));
  CHECK(g[0] == 1.0f);
  CHECK_THROWS_WITH_AS(clip_by_global_norm(g, 0.0), doctest::Contains("max_norm"), graft::Error);
}
