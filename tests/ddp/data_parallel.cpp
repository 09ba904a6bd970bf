// DataParallel over comm::Threads: N ranks x B/N samples against one rank x B
// samples, no_sync accumulation, overlap of the all-reduce with backward, and faults.
#include <doctest/doctest.h>

#include <atomic>
#include <thread>

#include "ddp_training.hpp"
#include "graft/comm/single.hpp"
#include "graft/comm/threads.hpp"
#include "graft/ddp/data_parallel.hpp"
#include "late_rank.hpp"

using namespace graft;
using namespace std::chrono_literals;
using namespace graft::testing::ddp_training;

namespace {

std::vector<std::vector<float>> train_threads(int ranks, int steps, int batch, int micro_steps = 1) {
  std::vector<std::vector<float>> params(static_cast<std::size_t>(ranks));
  comm::run_threads(
      ranks, [&](comm::Threads& c) { params[static_cast<std::size_t>(c.rank())] = train_rank(c, steps, batch, micro_steps); });
  return params;
}

}  // namespace

TEST_CASE("DataParallel: one rank is bit-identical to training without it") {
  const auto alone = train_alone(steps, batch);
  CHECK(train_threads(1, steps, batch)[0] == alone);
  comm::Single single;
  CHECK(train_rank(single, steps, batch, 1) == alone);
}

TEST_CASE("DataParallel: N ranks x B/N samples train like one rank x B samples") {
  const auto alone = train_alone(steps, batch);
  for (int ranks : {2, 4}) {
    const auto params = train_threads(ranks, steps, batch);
    for (int r = 1; r < ranks; ++r)
      CHECK_MESSAGE(params[static_cast<std::size_t>(r)] == params[0], "rank ", r, " differs from rank 0");
    const float difference = max_difference(params[0], alone);
    MESSAGE(ranks, " ranks: largest parameter difference from one rank ", difference);
    CHECK(difference <= tolerance);
    CHECK(difference > 0.0f);  // the comparison would catch a change (the orders of addition do differ)
  }
}

TEST_CASE("DataParallel: Threads results repeat bit for bit") {
  CHECK(train_threads(4, steps, batch)[0] == train_threads(4, steps, batch)[0]);
}

TEST_CASE("DataParallel: no_sync over M micro-steps equals one step on the concatenated batch") {
  const auto alone = train_alone(steps, batch);
  comm::Single single;
  const auto accumulated = train_rank(single, steps, batch, 4);
  MESSAGE("1 rank, 4 micro-steps: largest difference ", max_difference(accumulated, alone));
  CHECK(max_difference(accumulated, alone) <= tolerance);
  const auto two_ranks = train_threads(2, steps, batch, 2);
  MESSAGE("2 ranks x 2 micro-steps: largest difference ", max_difference(two_ranks[0], alone));
  CHECK(max_difference(two_ranks[0], alone) <= tolerance);
  CHECK(two_ranks[1] == two_ranks[0]);
}

TEST_CASE("DataParallel: buckets are sent during backward, in order, and the first is reduced before backward ends") {
  // Whether the communication thread finishes the first bucket before
  // backward returns depends on the scheduler: on a loaded 2-core machine it
  // may not get a core in time. So five steps run; every one must send every
  // bucket during backward and in order, and at least one must show the
  // overlap.
  constexpr int steps = 5;
  std::vector<std::vector<ddp::StepTimeline>> timelines(2, std::vector<ddp::StepTimeline>(steps));
  std::size_t bucket_count = 0;
  comm::run_threads(2, [&](comm::Threads& c) {
    Model m(seed);
    ddp::DataParallel dp(m, c, small_buckets);
    bucket_count = dp.buckets().size();
    for (int step = 0; step < steps; ++step) {
      m.zero_gradients();
      dp.forward_backward([&] { run_slice(m, slice_of(0, 64, 2, c.rank(), 1, 0)); });
      timelines[static_cast<std::size_t>(c.rank())][static_cast<std::size_t>(step)] = dp.last_timeline();
    }
  });
  CHECK(bucket_count >= 8);
  for (const auto& rank : timelines) {
    int overlapped = 0;
    for (const auto& t : rank) {
      REQUIRE(t.buckets.size() == bucket_count);
      for (std::size_t b = 0; b < t.buckets.size(); ++b) {
        INFO("bucket ", b);
        CHECK(t.buckets[b].queued_during_backward);  // every bucket, the encoder's too, is final inside backward
        if (b > 0) CHECK(t.buckets[b].started >= t.buckets[b - 1].finished);  // one at a time, in order
      }
      // decoder_dst's last layers: reduced while the rest of backward was still running.
      overlapped += t.buckets[0].finished < t.backward_returned;
    }
    MESSAGE("the first bucket was reduced before backward returned in ", overlapped, " of ", steps, " steps");
    CHECK(overlapped >= 1);
  }
}

TEST_CASE("DataParallel: a module run again after its gradients were sent is an error, not a silent mistake") {
  CHECK_THROWS_WITH_AS(comm::run_threads(2,
                                         [&](comm::Threads& c) {
                                           Model m(seed);
                                           ddp::DataParallel dp(m, c, small_buckets);
                                           dp.forward_backward([&] {
                                             run_slice(m, slice_of(0, 4, 2, c.rank(), 1, 0));
                                             run_slice(m, slice_of(1, 4, 2, c.rank(), 1, 0));
                                           });
                                         }),
                       doctest::Contains("changed after its bucket was sent"), Error);
}

TEST_CASE("DataParallel: a rank that throws in its step stops every rank at once") {
  std::atomic<int> stopped{0};
  const auto start = std::chrono::steady_clock::now();
  CHECK_THROWS_WITH_AS(comm::run_threads(3,
                                         [&](comm::Threads& c) {
                                           Model m(seed);
                                           ddp::DataParallel dp(m, c, small_buckets);
                                           // Its buckets may all be reduced before rank 1 throws; then
                                           // the others stop in their next step.
                                           try {
                                             for (int step = 0; step < 3; ++step)
                                               dp.forward_backward([&] {
                                                 run_slice(m, slice_of(step, 6, 3, c.rank(), 1, 0));
                                                 if (c.rank() == 1) throw Error("rank 1 read a corrupt image");
                                               });
                                           } catch (const comm::Aborted&) {
                                             ++stopped;
                                             throw;
                                           }
                                         },
                                         {.timeout = 60s}),
                       "rank 1 of 3: rank 1 read a corrupt image", Error);
  CHECK(stopped == 2);
  CHECK(std::chrono::steady_clock::now() - start < 20s);  // long before the 60 s timeout
}

TEST_CASE("DataParallel: a rank that hangs past the timeout stops every rank with a message naming it") {
  const auto outcome = testing::run_with_late_rank(3, 2, 2500ms, 500ms, [](comm::Threads& c) {
    Model m(seed);
    ddp::DataParallel dp(m, c, small_buckets);
    dp.forward_backward([&] { run_slice(m, slice_of(0, 6, 3, c.rank(), 1, 0)); });
  });
  INFO(outcome.message);
  CHECK(outcome.message.find("for rank(s) 2, which did not arrive") != std::string::npos);
  CHECK(outcome.stopped[0] < 2000ms);
  CHECK(outcome.stopped[1] < 2000ms);
}
