// Learning-rate schedules at chosen steps, and their JSON form.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "graft/optim/schedule.hpp"

namespace optim = graft::optim;
using nlohmann::json;

TEST_CASE("schedule: Constant") {
  const optim::Constant constant{.lr = 5e-5f};
  CHECK(constant(0) == 5e-5f);
  CHECK(constant(1'000'000) == 5e-5f);
}

TEST_CASE("schedule: Cosine with warm-up") {
  const optim::Cosine cosine{.base = 1.0f, .min = 0.1f, .total_steps = 110, .warmup_steps = 10};
  // Warm-up: (k + 1) / 10.
  CHECK(cosine(0) == doctest::Approx(0.1));
  CHECK(cosine(4) == doctest::Approx(0.5));
  CHECK(cosine(9) == doctest::Approx(1.0));
  // Decay over 100 steps: 0.1 + 0.9 * (1 + cos(pi * (k - 10) / 100)) / 2.
  CHECK(cosine(10) == doctest::Approx(1.0));
  CHECK(cosine(35) == doctest::Approx(0.1 + 0.9 * (1 + 0.70710678) / 2));  // cos(pi/4)
  CHECK(cosine(60) == doctest::Approx(0.55));                              // halfway: cos(pi/2) = 0
  CHECK(cosine(110) == doctest::Approx(0.1));
  CHECK(cosine(500) == doctest::Approx(0.1));
}

TEST_CASE("schedule: Cosine without warm-up starts at base") {
  const optim::Cosine cosine{.base = 2e-4f, .total_steps = 1000};
  CHECK(cosine(0) == 2e-4f);
  CHECK(cosine(500) == doctest::Approx(1e-4));
  CHECK(cosine(1000) == 0.0f);
}

TEST_CASE("schedule: Step drops by gamma every N steps") {
  const optim::Step step{.base = 1.0f, .gamma = 0.5f, .every = 100};
  CHECK(step(0) == 1.0f);
  CHECK(step(99) == 1.0f);
  CHECK(step(100) == 0.5f);
  CHECK(step(250) == 0.25f);
  CHECK(step(1000) == doctest::Approx(1.0 / 1024));
}

TEST_CASE("schedule: JSON round trip and errors") {
  const optim::Cosine cosine{.base = 3e-4f, .min = 1e-6f, .total_steps = 50000, .warmup_steps = 500};
  const optim::Step step{.base = 0.1f, .gamma = 0.3f, .every = 30};
  const optim::Constant constant{.lr = 5e-5f};
  CHECK(json::parse(json(cosine).dump()).get<optim::Cosine>() == cosine);
  CHECK(json(step).get<optim::Step>() == step);
  CHECK(json(constant).get<optim::Constant>() == constant);
  CHECK_THROWS_WITH_AS(json({{"base", 1e-3}, {"warmup", 10}}).get<optim::Cosine>(), doctest::Contains("unknown key \"warmup\""),
                       graft::Error);
  CHECK_THROWS_WITH_AS(json({{"every", 2.5}}).get<optim::Step>(), doctest::Contains("\"every\" must be an integer"),
                       graft::Error);
  CHECK_THROWS_WITH_AS(json({{"total_steps", 10}, {"warmup_steps", 20}}).get<optim::Cosine>(), doctest::Contains("warmup_steps"),
                       graft::Error);
}
