#include "measure.hpp"

#include <omp.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <numeric>
#include <graft/comm/launch.hpp>
#include <graft/core/error.hpp>

#include "find_by_name.hpp"
#include "precision.hpp"
#include "report.hpp"
#include "statistics.hpp"
#include "train/variants.hpp"

namespace graft_bench {

std::filesystem::path demo_faces(const char* speaker) { return std::filesystem::path(FACESWAP_DEMO_DIR) / "faces" / speaker; }

const std::vector<Recipe>& recipes() {
  static const std::vector<Recipe> all = [] {
    faceswap::TrainOptions demo;
    demo.src = demo_faces("spkA");
    demo.dst = demo_faces("spkC");
    demo.model = "demo";
    demo.resolution = 64;
    demo.batch = 8;
    demo.lr = 2e-4f;
    demo.seed = 1;
    demo.loss_window = 20;
    // DeepFaceLab's SAEHD as a studio starts it: df at 128 px, AdaBelief at its 5e-5, 64 faces per side
    // (the GPU benchmark's batch). No agreed target loss yet: time-to-loss asks for --target-loss.
    faceswap::TrainOptions df = demo;
    df.model = "df";
    df.resolution = 128;
    df.batch = 64;
    df.lr = 5e-5f;
    df.loss_window = 50;
    return std::vector<Recipe>{
        {"demo-64",
         "faceswap's CPU demo model (SAEHD-df cut down, 64 px), batch 8 per side, AdaBelief lr 2e-4, seed 1, the shipped "
         "GRID face sets",
         demo, 0.6, 3000},
        {"df-128", "SAEHD-df at 128 px, batch 64 per side, AdaBelief lr 5e-5, seed 1, the shipped GRID face sets (a GPU recipe)", df, 0,
         20000},
    };
  }();
  return all;
}

const Recipe& find_recipe(const std::string& name) {
  return find_by_name(recipes(), name, "graft-bench: no recipe '" + name + "'", "recipes");
}

namespace {

// A folder for the training run's files; a temporary one is removed with it.
class RunFolder {
 public:
  explicit RunFolder(const std::filesystem::path& given) : path_(given), temporary_(given.empty()) {
    if (temporary_) {  // mkdtemp: a new folder, never one that exists
      std::string name = (std::filesystem::temp_directory_path() / "graft-bench-run-XXXXXX").string();
      graft::check(::mkdtemp(name.data()) != nullptr, "graft-bench: cannot create a temporary folder in ",
                   std::filesystem::temp_directory_path().string());
      path_ = name;
    }
    std::filesystem::create_directories(path_);
  }
  ~RunFolder() {
    std::error_code ignored;
    if (temporary_) std::filesystem::remove_all(path_, ignored);
  }
  RunFolder(const RunFolder&) = delete;
  RunFolder& operator=(const RunFolder&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  bool temporary_;
};

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  ::gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

// All-reduces buffers of the bucket sizes in order, as one DDP step does,
// and returns the median time of the sequence on rank 0: the communicator's
// cost for this model's gradients without compute beside it.
double time_bucket_sequence(int ranks, const std::vector<std::int64_t>& bucket_bytes, double timeout_s) {
  double seconds = 0;
  graft::comm::launch(
      ranks,
      [&](auto& comm) {
        std::vector<std::vector<float>> buckets;
        for (const std::int64_t bytes : bucket_bytes) buckets.emplace_back(std::size_t(bytes / 4), 1.0f);
        std::vector<double> times;
        for (int repeat = 0; repeat < 7; ++repeat) {
          comm.barrier();
          const auto start = std::chrono::steady_clock::now();
          for (auto& bucket : buckets) comm.all_reduce_sum(std::span(bucket));
          times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        }
        if (comm.rank() == 0) seconds = median(times);
      },
      {.timeout = std::chrono::milliseconds(std::int64_t(timeout_s * 1000))});
  return seconds;
}

// Runs the training the report describes; null when this process is not rank 0.
struct Run {
  faceswap::TrainSummary summary;
  nlohmann::json report;
};

Run train_and_describe(const char* kind, RunOptions o) {
  graft::check(o.backend == "cpu" || o.backend == "cuda", "graft-bench: --backend ", o.backend, ": cpu or cuda");
  o.train.backend = o.backend;
  o.train.precision = o.precision;
  faceswap::validate_precision("graft-bench", o.train.precision, o.train.backend);
#if !defined(FACESWAP_WITH_CUDA)
  graft::check(o.backend == "cpu", "graft-bench: --backend cuda: this graft-bench was built without the CUDA backend (it needs the CUDA "
               "toolkit with cuDNN at configure time)");
#endif
  if (o.threads > 0) ::omp_set_num_threads(o.threads);
  const int threads = ::omp_get_max_threads();
  const RunFolder folder(o.work);
  o.train.output = folder.path() / "run";
  o.train.preview_every = 0;
  o.train.tensorboard = false;
  o.train.autosave_minutes = 0;
  o.train.save_every = 0;
  o.train.record_steps = true;
  faceswap::validate(o.train);
  Run run{faceswap::train(o.train), nullptr};
  if (!run.summary.lead) return run;
  nlohmann::json config = o.train.to_json();
  config.erase("output");
  config.update({{"recipe", o.recipe},
                 {"backend", o.backend},
                 {"precision", faceswap::effective_precision(o.train.precision, o.train.backend)},
                 {"threads", threads},
                 {"warmup", o.warmup},
                 {"images_per_step", 2 * o.train.batch}});
  run.report = {{"graft_bench_report", report_format},
                {"kind", kind},
                {"label", o.label},
                {"created", utc_now()},
                {"command", o.command},
                {"machine", describe_machine()},
                {"software", describe_software()},
                {"config", config}};
  // Loss against wall time, at most 400 points.
  nlohmann::json curve = nlohmann::json::array();
  const auto& steps = run.summary.steps;
  const std::size_t stride = std::max<std::size_t>(1, steps.size() / 400);
  for (std::size_t i = 0; i < steps.size(); ++i)
    if (i % stride == 0 || i + 1 == steps.size()) curve.push_back({steps[i].end_s, steps[i].loss});
  run.report["curve"] = curve;
  return run;
}

}  // namespace

void add_throughput(nlohmann::json& report, const faceswap::TrainSummary& summary, std::int64_t warmup, std::int64_t batch) {
  const auto& steps = summary.steps;
  graft::check(std::int64_t(steps.size()) >= warmup + 3, "graft-bench throughput: ", steps.size(), " steps recorded, need --warmup (",
               warmup, ") + 3");
  // Step i's time is from the end of step i - 1: what the job really spends, data loading included.
  // The bucket timeline is each step's (CPU) or one timed step's (GPU: TrainSummary says which).
  const bool timed_per_step = summary.bucket_ready_s.empty();
  std::vector<double> step_s, forward_backward_s, data_wait_s;
  std::vector<std::vector<double>> ready(summary.bucket_bytes.size());
  for (std::size_t i = std::size_t(warmup); i < steps.size(); ++i) {
    step_s.push_back(steps[i].end_s - steps[i - 1].end_s);
    data_wait_s.push_back(steps[i].data_wait_s);
    if (!timed_per_step) continue;
    forward_backward_s.push_back(steps[i].forward_backward_s);
    for (std::size_t b = 0; b < ready.size(); ++b) ready[b].push_back(steps[i].bucket_ready_s[b]);
  }
  if (!timed_per_step) {
    forward_backward_s = {summary.forward_backward_s};
    for (std::size_t b = 0; b < ready.size(); ++b) ready[b] = {summary.bucket_ready_s[b]};
  }
  const double images_per_step = double(2 * batch);
  const double step = median(step_s);
  report["results"] = {{"images_per_s", images_per_step / step},
                       {"step_s_median", step},
                       {"step_s_p10", percentile(step_s, 0.1)},
                       {"step_s_p90", percentile(step_s, 0.9)},
                       {"steps_measured", step_s.size()},
                       // Near 1: the augmentation threads, not the model, set the pace.
                       {"data_wait_share", std::accumulate(data_wait_s.begin(), data_wait_s.end(), 0.0) /
                                               std::accumulate(step_s.begin(), step_s.end(), 0.0)},
                       {"devices", summary.ranks}};
  nlohmann::json ready_s = nlohmann::json::array();
  for (auto& r : ready) ready_s.push_back(median(r));
  report["profile"] = {{"parameters", summary.parameters},
                       {"gradient_bytes", std::accumulate(summary.bucket_bytes.begin(), summary.bucket_bytes.end(), std::int64_t{0})},
                       {"bucket_bytes", summary.bucket_bytes},
                       {"bucket_ready_s", ready_s},
                       {"forward_backward_s", median(forward_backward_s)},
                       {"timeline", timed_per_step ? "median over the measured steps" : "one step timed operation by operation"},
                       {"step_s", step}};
}

nlohmann::json measure_throughput(const RunOptions& o) {
  graft::check(o.warmup >= 1 && o.train.steps >= o.warmup + 3, "graft-bench throughput: need --warmup >= 1 and --steps >= --warmup + 3, got ",
               o.warmup, " and ", o.train.steps);
  // On the GPU the first step builds (and tunes) cuDNN's graphs, the second is timed operation by operation, the third captures the graph.
  graft::check(o.backend != "cuda" || o.warmup >= 3, "graft-bench throughput --backend cuda: need --warmup >= 3 (the first step builds "
               "cuDNN's graphs, the second is the profiled one, the third captures the CUDA graph), got ", o.warmup);
  Run run = train_and_describe("throughput", o);
  // Every rank takes part in the all-reduce probe of the host communicator
  // (the CPU backend's); only rank 0 reports. The GPU backend's NCCL is
  // not probed here: nccl-tests measures it (docs/benchmarks.md).
  const bool probe = run.summary.ranks > 1 && o.backend == "cpu";
  const double sequence = probe
                              ? time_bucket_sequence(o.train.ranks, run.summary.bucket_bytes, o.train.comm_timeout_s)
                              : 0.0;
  if (!run.summary.lead) return nullptr;
  add_throughput(run.report, run.summary, o.warmup, o.train.batch);
  if (probe) {
    const double n = run.summary.ranks;
    const double gradient_bytes = run.report["profile"]["gradient_bytes"].get<double>();
    run.report["allreduce"] = {{"communicator", graft::comm::launched_by_mpirun() ? "mpi" : "threads"},
                               {"bucket_sequence_s", sequence},
                               {"busbw_GBps", gradient_bytes * 2 * (n - 1) / n / sequence / 1e9}};
  }
  return run.report;
}

nlohmann::json measure_time_to_loss(const RunOptions& o) {
  graft::check(o.train.target_loss > 0, "graft-bench time-to-loss: need a --target-loss above 0",
               !o.recipe.empty() && find_recipe(o.recipe).target_loss == 0 ? " (recipe " + o.recipe + " has none agreed yet)" : "");
  Run run = train_and_describe("time-to-loss", o);
  if (!run.summary.lead) return nullptr;
  const auto& s = run.summary;
  const bool reached = s.time_to_loss >= 0;
  run.report["results"] = {{"reached", reached},
                           {"time_to_loss_s", reached ? nlohmann::json(s.time_to_loss) : nlohmann::json()},
                           {"target_loss", o.train.target_loss},
                           {"steps", s.last_step},
                           {"images_seen", 2 * o.train.batch * s.last_step},
                           {"seconds", s.seconds},
                           {"images_per_s", double(2 * o.train.batch * (s.last_step - s.first_step)) / s.seconds},
                           {"final_loss", s.final_loss},
                           {"devices", s.ranks}};
  return run.report;
}

}  // namespace graft_bench
