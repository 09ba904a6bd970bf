// Runs comm::Threads ranks of which one arrives late, and records when each
// rank stopped and what run_threads reported: the timeout tests of comm and ddp.
#pragma once

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "graft/comm/threads.hpp"

namespace graft::testing {

struct LateRankOutcome {
  std::string message;                                       // run_threads' error
  std::vector<std::chrono::steady_clock::duration> stopped;  // per rank, from the start
};

// Rank `late` sleeps `delay` before body(comm); the others run body at once.
template <class Body>
LateRankOutcome run_with_late_rank(int ranks, int late, std::chrono::milliseconds delay, std::chrono::milliseconds timeout,
                                   Body&& body) {
  LateRankOutcome outcome{{}, std::vector<std::chrono::steady_clock::duration>(static_cast<std::size_t>(ranks))};
  const auto start = std::chrono::steady_clock::now();
  try {
    comm::run_threads(ranks,
                      [&](comm::Threads& c) {
                        try {
                          if (c.rank() == late) std::this_thread::sleep_for(delay);
                          body(c);
                        } catch (...) {
                          outcome.stopped[static_cast<std::size_t>(c.rank())] = std::chrono::steady_clock::now() - start;
                          throw;
                        }
                      },
                      {.timeout = timeout});
  } catch (const Error& e) {
    outcome.message = e.what();
  }
  return outcome;
}

}  // namespace graft::testing
