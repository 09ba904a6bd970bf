// What DataParallel costs per step: SAEHD-df (resolution 64) forward and
// backward on each rank, once with the gradient all-reduce (forward_backward)
// and once without (no_sync), alternating, so that the difference of the two
// medians is the communication backward did not hide. The all-reduce of the
// whole gradient buffer alone is timed too: what overlap saves is the gap
// between the two.
//   bench_ddp_step --ranks 2 --batch 4 --steps 6
//   mpirun -np 2 bench_ddp_step --batch 4 --steps 6
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <graft/ddp/data_parallel.hpp>
#include <string>

#include <vector>
#include "benchmark_ranks.hpp"

#include "random_faces.hpp"
#include "train_step.hpp"

namespace {

constexpr faceswap::Options df64{.resolution = 64};
using Step = faceswap::DfStep<df64>;

struct Settings {
  std::int64_t batch = 4;  // per side, per rank
  int steps = 6;
  std::int64_t bucket_mib = 25;
};

double median(std::vector<double> v) {
  std::ranges::sort(v);
  return v[v.size() / 2];
}

template <graft::comm::Communicator Comm>
void measure(Comm& comm, const Settings& s) {
  Step::Model model(1);
  // DeepFaceLab's loss is a batch sum: summing over ranks keeps it one.
  graft::ddp::DataParallel parallel(
      model, comm,
      {.buckets = {.first_bytes = 1 << 20, .bytes = s.bucket_mib << 20}, .average = graft::ddp::GradientAverage::sum});
  const graft::testing::RandomSide src(s.batch, 64, 10 + std::uint64_t(comm.rank())),
      dst(s.batch, 64, 20 + std::uint64_t(comm.rank()));
  auto time = [&](auto&& run) {
    comm.barrier();
    const auto start = std::chrono::steady_clock::now();
    run();
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  };
  auto work = [&] { Step{}.forward_backward(model, src.view(), dst.view()); };
  std::vector<double> synced, local, reduce_only;
  for (int i = 0; i <= s.steps; ++i) {  // the first round warms the caches up and is not counted
    model.zero_gradients();
    const double a = time([&] { parallel.forward_backward(work); });
    model.zero_gradients();
    const double b = time([&] { parallel.no_sync(work); });
    const double c = time([&] { comm.all_reduce_sum(model.gradient_buffer()); });
    if (i == 0) continue;
    synced.push_back(a), local.push_back(b), reduce_only.push_back(c);
  }
  if (comm.rank() != 0) return;
  const double with = median(synced), without = median(local), reduce = median(reduce_only);
  std::printf("SAEHD-df 64, %lld+%lld images per rank, %d ranks (%s), %zu buckets over %.0f MiB of gradients\n",
              static_cast<long long>(s.batch), static_cast<long long>(s.batch), comm.size(), std::string(Comm::name).c_str(),
              parallel.buckets().size(), double(Step::Model::buffer_size) * 4 / (1 << 20));
  std::printf("  forward+backward, no_sync          %9.1f ms (median of %d)\n", without, s.steps);
  std::printf("  forward+backward+all-reduce        %9.1f ms\n", with);
  std::printf("  DDP overhead per step              %9.1f ms (%.1f%%)\n", with - without, 100.0 * (with - without) / without);
  std::printf("  all-reduce of all gradients alone  %9.1f ms (hidden by overlap: %.1f ms)\n", reduce,
              std::clamp(reduce - (with - without), 0.0, reduce));
}

}  // namespace

int main(int argc, char** argv) {
  Settings settings;
  int ranks = 2;
  CLI::App app{"DataParallel's cost per SAEHD-df training step: comm::Threads (--ranks N) or comm::Mpi (under mpirun)."};
  graft::benchmarks::add_ranks_option(app, ranks);
  app.add_option("--batch", settings.batch, "images per side per rank")->check(CLI::Range(std::int64_t{1}, std::int64_t{64}));
  app.add_option("--steps", settings.steps, "measured steps of each kind")->check(CLI::Range(1, 1000));
  app.add_option("--bucket-mib", settings.bucket_mib, "bucket size after the first (1 MiB)")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{4096}));
  CLI11_PARSE(app, argc, argv);
  return graft::benchmarks::launch_benchmark("bench_ddp_step", ranks, [&](auto& comm) { measure(comm, settings); });
}
