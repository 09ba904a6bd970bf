// graft-bench: the projection's arithmetic, the comparison table, reports
// that are not reports, and the projection against a measured two-rank run.
#include <doctest/doctest.h>
#include <omp.h>

#include <cmath>
#include <thread>

#include <graft/version.hpp>
#include <opencv2/imgcodecs.hpp>
#if defined(FACESWAP_WITH_CUDA)
#include <cuda_runtime_api.h>
#endif

#include "compare.hpp"
#include "measure.hpp"
#include "projection.hpp"
#include "report.hpp"
#include "scratch_directory.hpp"
#include "train/trainer.hpp"

using namespace graft_bench;
using graft::testing::ScratchDirectory;

namespace {

// Two 1 GB buckets, ready at 0.5 s and 0.8 s of a 1 s step whose backward ends at 0.8 s.
StepProfile two_buckets() {
  return {.step_s = 1.0, .forward_backward_s = 0.8, .images_per_step = 16, .bucket_bytes = {1e9, 1e9}, .bucket_ready_s = {0.5, 0.8}};
}

Interconnect link(double busbw_GBps, double inter_node_GBps = 0) {
  return {.name = "test", .gpus_per_node = 8, .busbw_GBps = busbw_GBps, .inter_node_busbw_GBps = inter_node_GBps};
}

nlohmann::json throughput_report(double images_per_s, int devices, const std::string& gpu) {
  nlohmann::json gpus = nlohmann::json::array();
  for (int i = 0; i < devices; ++i) gpus.push_back({{"name", gpu}});
  return {{"graft_bench_report", report_format},
          {"kind", "throughput"},
          {"machine", {{"gpus", gpus}}},
          {"config", {{"batch", 64 * devices}, {"backend", "cuda"}}},
          {"results", {{"images_per_s", images_per_s}, {"devices", devices}}}};
}

// OpenMP threads for one block (measure takes the job's total from omp_set_num_threads).
struct OmpThreads {
  int saved = omp_get_max_threads();
  ~OmpThreads() { omp_set_num_threads(saved); }
};

}  // namespace

TEST_CASE("project: buckets start when ready and after the previous one; only what outlasts backward is exposed") {
  const StepProfile p = two_buckets();
  // Ring all-reduce on 2 GPUs at 10 GB/s: 1e9 x 2 (2 - 1) / 2 / 1e10 = 0.1 s a bucket.
  auto r = project(p, 2, link(10));
  CHECK(r.communication_s == doctest::Approx(0.2));
  CHECK(r.exposed_s == doctest::Approx(0.1));  // the second bucket ends at 0.9 s, backward at 0.8 s
  CHECK(r.step_s == doctest::Approx(1.1));
  CHECK(r.efficiency == doctest::Approx(1 / 1.1));
  CHECK(r.images_per_s == doctest::Approx(2 * 16 / 1.1));
  // bf16 on the wire halves the bytes.
  CHECK(project(p, 2, link(10), 2).exposed_s == doctest::Approx(0.05));
  // A slow link queues the buckets: 0.5 -> 1.5 -> 2.5 s, 1.7 s past backward.
  CHECK(project(p, 2, link(1)).exposed_s == doctest::Approx(1.7));
  // 8 GPUs: 2 x 7 / 8 = 1.75 x the bytes; 16 GPUs leave the node and use the inter-node bandwidth.
  CHECK(project(p, 8, link(10, 1)).communication_s == doctest::Approx(0.35));
  CHECK(project(p, 16, link(10, 1)).communication_s == doctest::Approx(2 * 1.875));
  // One GPU is the measurement itself; latency is paid per bucket.
  CHECK(project(p, 1, link(10)).step_s == 1.0);
  Interconnect slow_start = link(10);
  slow_start.latency_us = 1e5;
  CHECK(project(p, 2, slow_start).communication_s == doctest::Approx(0.4));
  CHECK_THROWS_WITH(project(p, 0, link(10)), doctest::Contains("at least one GPU"));
  for (const auto& preset : interconnect_presets()) {
    CHECK(find_interconnect(preset.name).busbw_GBps > 0);
    CHECK(!preset.source.empty());
  }
  CHECK_THROWS_WITH(find_interconnect("p4d"), doctest::Contains("presets: g5.48xlarge, p5.48xlarge"));
}

TEST_CASE("compare: speed-up and per-device efficiency against the first report, images per dollar") {
  const std::vector<ComparedReport> reports{{"g5", throughput_report(100, 1, "NVIDIA A10G"), 1.0},
                                            {"p5", throughput_report(3200, 8, "NVIDIA H100 80GB HBM3"), 98.32}};
  const std::string table = comparison_table(reports);
  INFO(table);
  CHECK(table.find("| g5 | throughput | 1x NVIDIA A10G | 1 | 64 | 100.0 | 1.00x | 100% |") != std::string::npos);
  // 3200 / 100 = 32x; per GPU 400 against 100 = 400%; 3200 x 3600 / 98.32 = 117168 images per dollar.
  CHECK(table.find("| p5 | throughput | 8x NVIDIA H100 80GB HBM3 | 8 | 512 | 3200.0 | 32.00x | 400% |") != std::string::npos);
  CHECK(table.find("| 98.32 | 117168 |") != std::string::npos);
  // A CPU-backend report names the CPU that trained, even on a machine with GPUs.
  nlohmann::json cpu_run = throughput_report(50, 1, "NVIDIA A10G");
  cpu_run["config"]["backend"] = "cpu";
  cpu_run["machine"]["cpu"] = {{"model", "AMD EPYC 7R32"}, {"logical_cores", 192}};
  CHECK(trained_on(cpu_run) == "AMD EPYC 7R32 (192 cores)");
}

TEST_CASE("A throughput profile takes each step's bucket timeline (CPU) or the one timed step's (GPU)") {
  // 12 steps of 0.1 s (every third 0.13 s), the first 2 left out as warm-up.
  faceswap::TrainSummary cpu{.ranks = 1, .parameters = 3'000'000, .bucket_bytes = {4'000'000, 8'000'000}};
  double t = 0;
  for (int i = 0; i < 12; ++i) {
    t += i % 3 == 2 ? 0.13 : 0.1;
    cpu.steps.push_back({.end_s = t,
                         .loss = 1.0,
                         .forward_backward_s = 0.07 + 0.001 * i,
                         .bucket_ready_s = {0.03f + 0.001f * float(i), 0.07f},
                         .data_wait_s = i % 3 == 2 ? 0.03 : 0.0});
  }
  nlohmann::json report{{"kind", "throughput"}, {"config", {{"images_per_step", 16}}}};
  add_throughput(report, cpu, 2, 8);
  CHECK(report["results"]["steps_measured"] == 10);
  CHECK(report["results"]["step_s_median"].get<double>() == doctest::Approx(0.1));
  CHECK(report["results"]["images_per_s"].get<double>() == doctest::Approx(160));
  // The slow steps waited 0.03 s for data: 4 x 0.03 of 6 x 0.1 + 4 x 0.13 s.
  CHECK(report["results"]["data_wait_share"].get<double>() == doctest::Approx(0.12 / 1.12));
  // Medians over steps 2..11: (0.036 + 0.037) / 2 and 0.07; backward (0.076 + 0.077) / 2.
  CHECK(report["profile"]["bucket_ready_s"][0].get<double>() == doctest::Approx(0.0365).epsilon(1e-5));
  CHECK(report["profile"]["bucket_ready_s"][1].get<double>() == doctest::Approx(0.07).epsilon(1e-5));
  CHECK(report["profile"]["forward_backward_s"].get<double>() == doctest::Approx(0.0765));
  CHECK(report["profile"]["timeline"] == "median over the measured steps");

  // The GPU loop: steps with times and losses only, one timed step's timeline in the summary.
  faceswap::TrainSummary gpu = cpu;
  for (auto& step : gpu.steps) step = {.end_s = step.end_s, .loss = step.loss, .data_wait_s = step.data_wait_s};
  gpu.bucket_ready_s = {0.012f, 0.02f};
  gpu.forward_backward_s = 0.02;
  add_throughput(report, gpu, 2, 8);
  CHECK(report["profile"]["bucket_ready_s"][0].get<double>() == doctest::Approx(0.012));
  CHECK(report["profile"]["bucket_ready_s"][1].get<double>() == doctest::Approx(0.02));
  CHECK(report["profile"]["forward_backward_s"].get<double>() == doctest::Approx(0.02));
  CHECK(report["profile"]["timeline"] == "one step timed operation by operation");
  // project reads it. On 2 GPUs at 10 GB/s the first bucket's 0.4 ms hides behind backward; the last
  // one's 0.8 ms starts when backward ends (20 ms) and is exposed.
  const StepProfile profile = profile_of(report, "gpu.json");
  const Projection two = project(profile, 2, link(10));
  CHECK(two.exposed_s == doctest::Approx(0.0008));
  CHECK(two.step_s == doctest::Approx(0.1008));

  gpu.steps.resize(4);
  CHECK_THROWS_WITH(add_throughput(report, gpu, 2, 8), doctest::Contains("4 steps recorded, need --warmup (2) + 3"));
}

TEST_CASE("Reports that are not graft-bench reports are refused naming the file") {
  ScratchDirectory dir("bench-test");
  CHECK_THROWS_WITH(read_report(dir / "missing.json"), doctest::Contains("missing.json: cannot open the report"));
  graft::testing::write_bytes(dir / "text.json", "not json");
  CHECK_THROWS_WITH(read_report(dir / "text.json"), doctest::Contains("text.json: not a JSON file"));
  graft::testing::write_bytes(dir / "other.json", R"({"step": 3})");
  CHECK_THROWS_WITH(read_report(dir / "other.json"), doctest::Contains("other.json: not a graft-bench report"));
  graft::testing::write_bytes(dir / "future.json", R"({"graft_bench_report": 99})");
  CHECK_THROWS_WITH(read_report(dir / "future.json"), doctest::Contains("future.json: report format 99"));
  // A multi-rank report already has communication in its step time.
  auto two = throughput_report(10, 2, "GPU");
  CHECK_THROWS_WITH(profile_of(two, "two.json"), doctest::Contains("two.json: project needs a single-rank"));
}

TEST_CASE("The projection from one rank agrees with a measured two-rank run on the CPU") {
  // Each rank is one core (the "device"). This VM's two vCPUs share one
  // physical core, so a rank alone runs faster than each of two ranks side by
  // side, which a projection of communication must not be blamed for: the
  // one-rank baseline is measured as two independent one-rank jobs at once,
  // each with what a rank of the two-rank job has (one thread, the same batch).
  ScratchDirectory dir("bench-test");
  RunOptions one{.train = find_recipe("demo-64").options, .warmup = 4, .threads = 1};
  one.train.batch = 4;
  one.train.steps = 16;
  one.train.target_loss = 0;
  // f32 convolutions, as the 30% below was calibrated: the two vCPUs also
  // share that core's one AMX unit, and bf16 steps slow down far more than
  // f32 ones when both use it, which is the machine, not the communication.
  one.precision = "f32";
  RunOptions two = one;
  two.train.batch = 8;
  two.train.ranks = 2;
  two.threads = 2;
  OmpThreads restore;
  // A shared VM: a neighbour's burst slows a run by a third or more. Four
  // rounds, alternating the two kinds of run; each kind is judged by its
  // quietest round (the least disturbed), as benchmarks are.
  const auto step_of = [](const nlohmann::json& r) { return r["results"]["step_s_median"].get<double>(); };
  nlohmann::json single, pair;
  for (int round = 0; round < 4; ++round) {
    nlohmann::json mine, beside;
    {
      std::jthread neighbour([&] { beside = measure_throughput(one); });
      mine = measure_throughput(one);
    }
    const nlohmann::json both = measure_throughput(two);
    MESSAGE("round ", round, ": one rank (beside another) ", step_of(mine), " s per step (the other ", step_of(beside),
            " s); two ranks ", step_of(both), " s");
    if (single.is_null() || step_of(mine) < step_of(single)) single = mine;
    if (pair.is_null() || step_of(both) < step_of(pair)) pair = both;
  }
  const Interconnect measured{.name = "threads", .busbw_GBps = pair["allreduce"]["busbw_GBps"].get<double>()};
  const Projection p = project(profile_of(single, "single.json"), 2, measured);
  const double step = step_of(pair);
  MESSAGE("two ranks projected ", p.step_s, " s (", p.exposed_s, " s of all-reduce exposed at ", measured.busbw_GBps,
          " GB/s), measured ", step, " s");
  // Relative, 30%: in quiet rounds the two-rank job still runs up to ~25%
  // slower than projected, because its communication and loader threads
  // share the two cores with the compute, which the projection (like a GPU
  // with its own copy engines) does not charge for. (doctest::Approx would
  // add an absolute 0.3 s here: its scale is 1.)
  CHECK(std::abs(p.step_s / step - 1) < 0.3);

  write_report(dir / "single.json", single);
  REQUIRE(read_report(dir / "single.json") == single);
  CHECK(single["results"]["devices"] == 1);
  CHECK(pair["results"]["devices"] == 2);
  CHECK(single["results"]["steps_measured"] == 12);
  CHECK(single["profile"]["parameters"].get<std::int64_t>() > 0);
  CHECK(single["software"]["graft"] == std::string(graft::version_string));
  CHECK(!single["machine"]["cpu"]["model"].get<std::string>().empty());
  CHECK(single["curve"].size() == 16);
}

TEST_CASE("time-to-loss reports the step, time and images at the target, or that it was not reached; compare plots it") {
  ScratchDirectory dir("bench-test");
  RunOptions o{.train = find_recipe("demo-64").options, .label = "quick"};
  o.train.batch = 4;
  o.train.loss_window = 5;
  o.train.steps = 60;
  o.train.target_loss = 3.0;  // the demo model starts near 4 and passes 3 within a few dozen steps
  const nlohmann::json reached = measure_time_to_loss(o);
  const auto& r = reached["results"];
  REQUIRE(r["reached"] == true);
  CHECK(r["steps"].get<std::int64_t>() < 60);
  CHECK(r["images_seen"] == 2 * 4 * r["steps"].get<std::int64_t>());
  CHECK(r["time_to_loss_s"].get<double>() > 0);
  CHECK(reached["curve"].back()[1].get<double>() <= 3.0);

  o.train.steps = 6;
  o.train.target_loss = 1e-3;
  o.label = "cut short";
  const nlohmann::json missed = measure_time_to_loss(o);
  CHECK(missed["results"]["reached"] == false);
  CHECK(missed["results"]["steps"] == 6);

  const std::vector<ComparedReport> both{{"quick", reached, 2.0}, {"cut short", missed, {}}};
  const std::string table = comparison_table(both);
  CHECK(table.find("| not reached |") != std::string::npos);
  write_loss_plot(dir / "loss.png", both);
  const cv::Mat plot = cv::imread((dir / "loss.png").string());
  CHECK(plot.cols == 800);
  CHECK(plot.rows > 400);
}

TEST_CASE("Measurements refuse what this build cannot do, naming the option") {
  RunOptions o{.train = find_recipe("demo-64").options};
  o.precision = "f16";
  CHECK_THROWS_WITH(measure_throughput(o), doctest::Contains("--precision must be auto, f32 or bf16, got f16"));
  o.backend = "cuda";
  o.precision = "f32";
  CHECK_THROWS_WITH(measure_throughput(o), doctest::Contains("--precision f32: the cuda backend runs in bf16"));
  o.precision = "auto";
  o.backend = "rocm";
  CHECK_THROWS_WITH(measure_throughput(o), doctest::Contains("--backend rocm: cpu or cuda"));
  o.backend = "cuda";
  o.warmup = 2;
  CHECK_THROWS_WITH(measure_throughput(o), doctest::Contains("--backend cuda: need --warmup >= 3"));
  o.warmup = 5;
  // Without a GPU (CI), --backend cuda stops before it loads anything, saying why.
#if defined(FACESWAP_WITH_CUDA)
  int gpus = 0;
  if (cudaGetDeviceCount(&gpus) != cudaSuccess || gpus == 0)
    CHECK_THROWS_WITH(measure_throughput(o), doctest::Contains("--backend cuda, but no CUDA GPU is usable here"));
  (void)cudaGetLastError();
#else
  CHECK_THROWS_WITH(measure_throughput(o), doctest::Contains("built without the CUDA backend"));
#endif
  o.backend = "cpu";
  o.train.steps = 5;
  CHECK_THROWS_WITH(measure_throughput(o), doctest::Contains("--steps >= --warmup + 3"));
  CHECK_THROWS_WITH(find_recipe("df-512"), doctest::Contains("recipes: demo-64"));
}

TEST_CASE("The graft-bench program: a bad report, preset or price is one message and a non-zero exit, and no output") {
  ScratchDirectory dir("bench-test");
  const std::string program = GRAFT_BENCH_PROGRAM;
  graft::testing::write_bytes(dir / "notes.json", R"({"step": 3})");
  write_report(dir / "g5.json", throughput_report(100, 1, "NVIDIA A10G"));
  auto run = [&](const std::string& arguments, std::string& output) {
    return graft::testing::run_captured("'" + program + "' " + arguments, dir / "run.log", output);
  };
  std::string output;
  CHECK(run("compare '" + (dir / "notes.json").string() + "'", output) == 1);
  CHECK(output.find("notes.json: not a graft-bench report") != std::string::npos);
  CHECK(run("compare '" + (dir / "g5.json").string() + "' --price p5.json=98.32", output) == 1);
  CHECK(output.find("--price p5.json=...: no such report") != std::string::npos);
  CHECK(run("compare '" + (dir / "g5.json").string() + "' --price g5.json=cheap", output) == 1);
  CHECK(output.find("'cheap' is not a number") != std::string::npos);
  CHECK(run("project --report '" + (dir / "g5.json").string() + "' --interconnect p4d -o '" + (dir / "p.json").string() + "'",
            output) == 1);
  CHECK(output.find("no interconnect preset 'p4d'") != std::string::npos);
  CHECK(!std::filesystem::exists(dir / "p.json"));
  CHECK(run("throughput --recipe df-512 -o '" + (dir / "t.json").string() + "'", output) == 1);
  CHECK(output.find("no recipe 'df-512' (recipes: demo-64, df-128)") != std::string::npos);
  CHECK(!std::filesystem::exists(dir / "t.json"));
  CHECK(run("compare '" + (dir / "g5.json").string() + "' --price g5.json=16.29", output) == 0);
  CHECK(output.find("| g5 | throughput | 1x NVIDIA A10G |") != std::string::npos);
}
