// launch(ranks, fn): run a data-parallel program on the ranks it was started with.
//
// One program serves both ways of starting a job: run by hand, `ranks`
// threads of this process each call fn(comm::Threads&); started by mpirun or
// srun (and built with graft::mpi), this process is one rank and calls
// fn(comm::Mpi&). So fn is a generic lambda, instantiated once per
// communicator. Threads is used even for one rank, where its collectives are
// two uncontended mutex handshakes, to keep it at two instantiations.
#pragma once

#include "graft/comm/threads.hpp"
#if defined(GRAFT_WITH_MPI)
#include "graft/comm/mpi.hpp"
#endif

namespace graft::comm {

struct LaunchOptions {
  std::chrono::milliseconds timeout = default_timeout;
};

// True when an MPI launcher started this process and graft was built with MPI.
inline bool launched_by_mpirun() {
#if defined(GRAFT_WITH_MPI)
  return Mpi::launched_by_mpirun();
#else
  return false;
#endif
}

template <class Fn>
void launch(int ranks, Fn&& fn, LaunchOptions options = {}) {
#if defined(GRAFT_WITH_MPI)
  if (Mpi::launched_by_mpirun()) {
    check(ranks == 1, "comm::launch: asked for ", ranks,
          " thread ranks under mpirun, where each process is one rank; set the rank count with mpirun -np instead");
    Mpi mpi({.timeout = options.timeout});
    fn(mpi);
    return;
  }
#endif
  run_threads(ranks, fn, {.timeout = options.timeout});
}

}  // namespace graft::comm
