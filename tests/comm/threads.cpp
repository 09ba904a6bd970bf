// comm::Threads and comm::Single against direct sums; timeouts, aborts and mismatches.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "graft/comm/compressed.hpp"
#include "graft/comm/single.hpp"
#include "graft/comm/threads.hpp"
#include "late_rank.hpp"
#include "random_fill.hpp"

using namespace graft;
using namespace std::chrono_literals;

namespace {

// Rank r's input: 1000 + r distinct random values, the same on every call.
std::vector<float> input_of(int rank, std::size_t count) {
  std::vector<float> v(count);
  testing::fill_uniform(v, 40 + static_cast<std::uint64_t>(rank));
  return v;
}

// The reduction as every rank must see it: summed in rank order in float.
std::vector<float> expected_sum(int ranks, std::size_t count) {
  std::vector<float> sum = input_of(0, count);
  for (int r = 1; r < ranks; ++r) {
    const auto v = input_of(r, count);
    for (std::size_t i = 0; i < count; ++i) sum[i] += v[i];
  }
  return sum;
}

}  // namespace

TEST_CASE("Threads: all_reduce_sum and mean equal the rank-order sum, bit for bit, on every rank") {
  for (int ranks : {1, 2, 3, 4}) {
    for (std::size_t count : {std::size_t{1}, std::size_t{31}, std::size_t{4099}, std::size_t{100000}}) {
      const auto sum = expected_sum(ranks, count);
      std::atomic<int> mismatches{0};
      comm::run_threads(ranks, [&](comm::Threads& c) {
        auto x = input_of(c.rank(), count);
        c.all_reduce_sum(std::span(x));
        for (std::size_t i = 0; i < count; ++i) mismatches += x[i] != sum[i];
        auto y = input_of(c.rank(), count);
        c.all_reduce_mean(std::span(y));
        for (std::size_t i = 0; i < count; ++i) mismatches += y[i] != sum[i] / static_cast<float>(ranks);
      });
      CHECK_MESSAGE(mismatches == 0, ranks, " ranks, ", count, " elements");
    }
  }
}

TEST_CASE("Threads: the ranks of one process are its machine's ranks") {
  std::atomic<int> wrong{0};
  comm::run_threads(3, [&](comm::Threads& c) { wrong += c.local_rank() != c.rank() || c.local_size() != 3; });
  CHECK(wrong == 0);
  const comm::Single single;
  CHECK(single.local_rank() == 0);
  CHECK(single.local_size() == 1);
}

TEST_CASE("Threads: bf16 all-reduce sums in f32 and rounds once") {
  const int ranks = 3;
  const std::size_t count = 5000;
  std::vector<float> expected(count, 0.0f);
  for (int r = 0; r < ranks; ++r) {
    const auto v = input_of(r, count);
    for (std::size_t i = 0; i < count; ++i) expected[i] += static_cast<float>(bf16(v[i]));
  }
  std::atomic<int> mismatches{0};
  comm::run_threads(ranks, [&](comm::Threads& c) {
    const auto v = input_of(c.rank(), count);
    std::vector<bf16> x(count);
    for (std::size_t i = 0; i < count; ++i) x[i] = bf16(v[i]);
    c.all_reduce_sum(std::span(x));
    for (std::size_t i = 0; i < count; ++i) mismatches += x[i].bits != bf16(expected[i]).bits;
  });
  CHECK(mismatches == 0);
}

TEST_CASE("Compressed<Threads>: f32 gradients through bf16 stay within bf16 rounding") {
  const int ranks = 4;
  const std::size_t count = 20000;
  const auto sum = expected_sum(ranks, count);
  std::vector<float> inputs_abs(count, 0.0f);
  for (int r = 0; r < ranks; ++r) {
    const auto v = input_of(r, count);
    for (std::size_t i = 0; i < count; ++i) inputs_abs[i] += std::abs(v[i]);
  }
  std::atomic<int> outside{0};
  comm::run_threads(ranks, [&](comm::Threads& c) {
    comm::Compressed<comm::Threads> wire(c);
    static_assert(comm::Communicator<decltype(wire)>);
    auto x = input_of(c.rank(), count);
    wire.all_reduce_sum(std::span(x));
    // bf16 keeps 8 significant bits: each input rounds by at most 2^-8 of
    // itself, and the sum once more by 2^-8 of itself.
    for (std::size_t i = 0; i < count; ++i)
      outside += std::abs(x[i] - sum[i]) > 0x1p-8f * inputs_abs[i] + 0x1p-8f * std::abs(sum[i]) + 1e-7f;
  });
  CHECK(outside == 0);
}

TEST_CASE("Threads: broadcast, all_gather and barrier") {
  comm::run_threads(4, [](comm::Threads& c) {
    std::vector<float> x = input_of(c.rank(), 777);
    c.broadcast(std::span(x), 2);
    CHECK(x == input_of(2, 777));
    std::string text = c.rank() == 1 ? "from rank one" : "?????????????";
    c.broadcast(std::as_writable_bytes(std::span(text)), 1);
    CHECK(text == "from rank one");
    const auto all = comm::all_gather_value(c, std::int64_t{100} + c.rank());
    CHECK(all == std::vector<std::int64_t>{100, 101, 102, 103});
    c.barrier();
  });
}

TEST_CASE("Single: collectives are the identity") {
  comm::Single c;
  std::vector<float> x = input_of(0, 10);
  const auto before = x;
  c.all_reduce_sum(std::span(x));
  c.all_reduce_mean(std::span(x));
  c.broadcast(std::span(x), 0);
  CHECK(x == before);
  CHECK(comm::all_gather_value(c, 7) == std::vector<int>{7});
  CHECK_THROWS_WITH_AS(c.broadcast(std::span(x), 1), doctest::Contains("broadcast from rank 1"), Error);
}

TEST_CASE("Threads: a rank that throws stops every rank, and run_threads names it") {
  std::atomic<int> aborted{0};
  const auto start = std::chrono::steady_clock::now();
  CHECK_THROWS_WITH_AS(comm::run_threads(4,
                                         [&](comm::Threads& c) {
                                           std::vector<float> x(100, 1.0f);
                                           c.all_reduce_sum(std::span(x));
                                           if (c.rank() == 2) throw Error("the data loader of rank 2 failed");
                                           try {
                                             c.all_reduce_sum(std::span(x));
                                           } catch (const comm::Aborted& e) {
                                             CHECK(std::string(e.what()).find(
                                                       "rank 2 aborted: the data loader of rank 2 failed") != std::string::npos);
                                             ++aborted;
                                             throw;
                                           }
                                         },
                                         {.timeout = 60s}),
                       "rank 2 of 4: the data loader of rank 2 failed", Error);
  CHECK(aborted == 3);
  CHECK(std::chrono::steady_clock::now() - start < 10s);  // not the 60 s timeout
}

TEST_CASE("Threads: a rank that does not arrive is named after the timeout, and every rank stops") {
  const auto outcome = testing::run_with_late_rank(3, 1, 1500ms, 300ms, [](comm::Threads& c) { c.barrier(); });
  INFO(outcome.message);
  CHECK(outcome.message.find("waited 300 ms in barrier (collective #1) for rank(s) 1, which did not arrive") !=
        std::string::npos);
  CHECK(outcome.stopped[0] < 1200ms);
  CHECK(outcome.stopped[2] < 1200ms);
  CHECK(outcome.stopped[1] >= 1500ms);  // the late rank stops as soon as it arrives
}

TEST_CASE("Threads: ranks calling different collectives get an error naming both") {
  CHECK_THROWS_WITH_AS(comm::run_threads(2,
                                         [](comm::Threads& c) {
                                           std::vector<float> x(10 + static_cast<std::size_t>(c.rank()), 1.0f);
                                           c.all_reduce_sum(std::span(x));
                                         },
                                         {.timeout = 10s}),
                       doctest::Contains("does not match across ranks"), Error);
}
