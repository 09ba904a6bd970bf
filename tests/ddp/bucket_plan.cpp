// The bucket plan of SAEHD-df (resolution 128, DeepFaceLab's defaults): sizes, order, contiguity.
#include <doctest/doctest.h>

#include "graft/ddp/bucket_plan.hpp"
#include "saehd.hpp"

using namespace graft;

namespace {

using Df = faceswap::DF<faceswap::Options{}>::Model;
constexpr std::int64_t mib = 1 << 20;

// The plan is computed at compile time from the model's constexpr parameter list.
constexpr std::size_t df_bucket_count = ddp::plan_buckets(Df::parameters, Df::buffer_size).size();
static_assert(df_bucket_count > 5);
static_assert(ddp::plan_buckets(Df::parameters, Df::buffer_size).front().end == Df::buffer_size);
static_assert(ddp::plan_buckets(Df::parameters, Df::buffer_size).back().begin == 0);

// The bytes parameter i occupies in the buffer, alignment included.
std::int64_t span_bytes(std::size_t i) {
  const std::int64_t end = i + 1 < Df::parameters.size() ? Df::parameters[i + 1].offset : Df::buffer_size;
  return (end - Df::parameters[i].offset) * 4;
}

void check_plan(const std::vector<ddp::GradientBucket>& plan, ddp::BucketSizes sizes) {
  REQUIRE(!plan.empty());
  CHECK(plan.front().end == Df::buffer_size);
  CHECK(plan.front().end_param == Df::parameters.size());
  CHECK(plan.back().begin == 0);
  CHECK(plan.back().first_param == 0);
  for (std::size_t b = 0; b < plan.size(); ++b) {
    const auto& bucket = plan[b];
    INFO("bucket ", b, ": ", bucket.bytes(), " bytes, parameters ", bucket.first_param, "..", bucket.end_param);
    CHECK(bucket.first_param < bucket.end_param);
    CHECK(bucket.begin == Df::parameters[bucket.first_param].offset);
    if (b + 1 < plan.size()) {
      // Contiguous and in reverse layer order: each bucket ends where the next one (earlier layers) begins.
      CHECK(plan[b + 1].end == bucket.begin);
      CHECK(plan[b + 1].end_param == bucket.first_param);
      // Full: the next parameter down would not have fitted.
      CHECK(bucket.bytes() + span_bytes(bucket.first_param - 1) > (b == 0 ? sizes.first_bytes : sizes.bytes));
    }
    const std::int64_t cap = b == 0 ? sizes.first_bytes : sizes.bytes;
    const bool one_big_tensor = bucket.end_param - bucket.first_param == 1;
    CHECK((bucket.bytes() <= cap || one_big_tensor));
  }
}

}  // namespace

TEST_CASE("SAEHD-df bucket plan with PyTorch's defaults: 1 MiB first, then 25 MiB, reverse layer order") {
  const auto plan = ddp::plan_buckets(Df::parameters, Df::buffer_size);
  CHECK(plan.size() == df_bucket_count);
  check_plan(plan, {});
  CHECK(plan.front().bytes() <= mib);
  // The first bucket holds the last layers of decoder_dst.
  CHECK(Df::parameters[plan.front().end_param - 1].name.view().starts_with("decoder_dst."));
  // inter.dense1.weight (32768 x 256 floats, 32 MiB) is bigger than a bucket and gets one of its own.
  bool dense1_alone = false;
  for (const auto& b : plan)
    dense1_alone |= b.end_param - b.first_param == 1 && Df::parameters[b.first_param].name.view() == "inter.dense1.weight";
  CHECK(dense1_alone);
  std::int64_t total = 0;
  for (const auto& b : plan) total += b.size();
  CHECK(total == Df::buffer_size);
  MESSAGE("SAEHD-df 128: ", plan.size(), " buckets over ", Df::buffer_size * 4 / mib, " MiB of gradients");
}

TEST_CASE("Bucket plan with other sizes, and with one bucket for everything") {
  check_plan(ddp::plan_buckets(Df::parameters, Df::buffer_size, {.first_bytes = 64 << 10, .bytes = 4 * mib}),
             {64 << 10, 4 * mib});
  const auto one = ddp::plan_buckets(Df::parameters, Df::buffer_size, {.first_bytes = 1LL << 40, .bytes = 1LL << 40});
  REQUIRE(one.size() == 1);
  CHECK(one[0].begin == 0);
  CHECK(one[0].end == Df::buffer_size);
}
