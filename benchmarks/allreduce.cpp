// All-reduce bandwidth of a communicator, 1 KiB to 256 MiB, in the manner of
// nccl-tests: time per call, algorithm bandwidth (bytes / time) and bus
// bandwidth (algbw x 2(N-1)/N, what each rank's link must carry for a ring).
// A plain program rather than Google Benchmark: every rank must run the same
// number of calls, which benchmark's adaptive iteration count cannot promise.
//   bench_allreduce --ranks 2                  # comm::Threads
//   mpirun -np 2 bench_allreduce               # comm::Mpi
//   bench_allreduce --ranks 2 --bf16           # Compressed<...>: f32 in, bf16 on the wire
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <graft/comm/compressed.hpp>
#include <graft/core/buffer.hpp>
#include <string>

#include "benchmark_ranks.hpp"

namespace {

struct Settings {
  std::int64_t min_bytes = 1 << 10, max_bytes = std::int64_t{256} << 20;
  bool bf16 = false;
};

std::string human(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB"};
  int u = 0;
  while (bytes >= 1024 && u < 3) bytes /= 1024, ++u;
  char text[32];
  std::snprintf(text, sizeof text, "%.0f %s", bytes, units[u]);
  return text;
}

template <graft::comm::Communicator Comm>
void measure(Comm& comm, const Settings& s) {
  const bool report = comm.rank() == 0;
  if (report)
    std::printf("%s, %d ranks%s\n%12s %8s %12s %12s %12s\n", std::string(Comm::name).c_str(), comm.size(),
                s.bf16 ? ", f32 reduced through bf16" : "", "size", "calls", "time (us)", "algbw GB/s", "busbw GB/s");
  graft::AlignedBuffer<float> data(static_cast<std::size_t>(s.max_bytes / 4), 1.0f);
  for (std::int64_t bytes = s.min_bytes; bytes <= s.max_bytes; bytes *= 4) {
    const auto span = data.span().first(static_cast<std::size_t>(bytes / 4));
    // About 0.5 GiB of data per size, at least 3 calls and at most 2000.
    const std::int64_t calls = std::clamp<std::int64_t>((std::int64_t{512} << 20) / bytes, 3, 2000);
    comm.all_reduce_sum(span);  // warm-up: first touch of the pages, connection set-up
    comm.barrier();
    const auto start = std::chrono::steady_clock::now();
    for (std::int64_t i = 0; i < calls; ++i) comm.all_reduce_sum(span);
    comm.barrier();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / double(calls);
    const double algbw = double(bytes) / seconds / 1e9;
    const double busbw = algbw * 2.0 * (comm.size() - 1) / comm.size();
    if (report)
      std::printf("%12s %8lld %12.1f %12.2f %12.2f\n", human(double(bytes)).c_str(), static_cast<long long>(calls), seconds * 1e6,
                  algbw, busbw);
  }
}

}  // namespace

int main(int argc, char** argv) {
  Settings settings;
  int ranks = 2;
  CLI::App app{"All-reduce bandwidth of comm::Threads (--ranks N) or comm::Mpi (under mpirun)."};
  graft::benchmarks::add_ranks_option(app, ranks);
  app.add_option("--min-bytes", settings.min_bytes, "smallest message")
      ->check(CLI::Range(std::int64_t{4}, std::int64_t{1} << 34));
  app.add_option("--max-bytes", settings.max_bytes, "largest message")->check(CLI::Range(std::int64_t{4}, std::int64_t{1} << 34));
  app.add_flag("--bf16", settings.bf16, "reduce f32 through comm::Compressed (bf16 on the wire)");
  CLI11_PARSE(app, argc, argv);
  return graft::benchmarks::launch_benchmark("bench_allreduce", ranks, [&](auto& comm) {
    if (settings.bf16) {
      graft::comm::Compressed wire(comm);
      measure(wire, settings);
    } else {
      measure(comm, settings);
    }
  });
}
