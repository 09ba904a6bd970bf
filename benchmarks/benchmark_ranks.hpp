// The rank handling the data-parallel benchmark programs share: a --ranks
// option for comm::Threads that mpirun overrides (each process is a rank),
// and a launch that turns graft errors into a message and exit status 1.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdio>
#include <graft/comm/launch.hpp>

namespace graft::benchmarks {

inline void add_ranks_option(CLI::App& app, int& ranks) {
  app.add_option("--ranks", ranks, "thread ranks (ignored under mpirun, where each process is one rank)")
      ->check(CLI::Range(1, 256));
}

template <class Fn>
int launch_benchmark(const char* program, int ranks, Fn&& fn) {
  try {
    graft::comm::launch(graft::comm::launched_by_mpirun() ? 1 : ranks, fn);
  } catch (const graft::Error& e) {
    std::fprintf(stderr, "%s: %s\n", program, e.what());
    return 1;
  }
  return 0;
}

}  // namespace graft::benchmarks
