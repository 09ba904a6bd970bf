// A job whose rank 1 fails, for tests/mpi/expect_job_failure.cmake:
//   fault throw   rank 1 throws in its training step
//   fault hang    rank 1 never reaches its step (sleeps for ten minutes)
// Either way every process must stop within the communicator timeout (2 s)
// plus mpirun's teardown, with a message naming what happened.
#include <cstdio>
#include <string_view>
#include <thread>

#include "ddp_training.hpp"
#include "graft/comm/mpi.hpp"

using namespace graft;
using namespace graft::testing::ddp_training;

int main(int argc, char** argv) {
  const std::string_view mode = argc > 1 ? argv[1] : "";
  if (mode != "throw" && mode != "hang") {
    std::fprintf(stderr, "usage: fault throw|hang\n");
    return 2;
  }
  comm::Mpi c({.timeout = std::chrono::seconds(2)});
  Model m(seed);
  ddp::DataParallel dp(m, c, small_buckets);
  if (mode == "hang" && c.rank() == 1) std::this_thread::sleep_for(std::chrono::minutes(10));
  // Rank 1's buckets may all be reduced before it throws; the others then
  // stop at their next step's collectives.
  for (int step = 0; step < 3; ++step)
    dp.forward_backward([&] {
      run_slice(m, slice_of(step, 2 * c.size(), c.size(), c.rank(), 1, 0));
      if (mode == "throw" && c.rank() == 1) throw Error("rank 1 read a corrupt image");
    });
  std::printf("rank %d finished its steps, which it must not\n", c.rank());
  return 0;
}
