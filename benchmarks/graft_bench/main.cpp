// graft-bench: compare machines on the face-swap training graft is built for.
//   graft-bench throughput   [--recipe demo-64] [--model df --resolution 128 --batch 64 --ranks 8] [--backend cuda] -o a.json
//   graft-bench time-to-loss [--recipe demo-64] [--target-loss 0.95] -o a.json
//   graft-bench compare a.json b.json [--price a.json=32.77] [--plot loss.png]
//   graft-bench project --report one-gpu.json --gpus 1,2,4,8,16 --interconnect p5.48xlarge
// (docs/benchmarks.md explains each, with results.)
#include <CLI/CLI.hpp>

#include <cstdio>
#include <graft/comm/launch.hpp>
#include <graft/core/error.hpp>
#include <map>

#include "compare.hpp"
#include "measure.hpp"
#include "precision.hpp"
#include "projection.hpp"
#include "report.hpp"

namespace {

struct Measure {
  graft_bench::RunOptions run;
  std::string recipe = "demo-64";
  std::filesystem::path output;
  // Overrides of the recipe, applied only when given.
  std::optional<std::string> model, optimizer;
  std::optional<int> resolution, ranks, device;
  std::optional<bool> tune_convolutions;
  std::optional<std::int64_t> batch, steps;
  std::optional<float> lr;
  std::optional<std::uint64_t> seed;
  std::optional<double> target_loss;
  std::optional<std::filesystem::path> src, dst;
};

CLI::App* add_measure(CLI::App& app, const char* name, const char* description, Measure& m) {
  auto* cmd = app.add_subcommand(name, description);
  cmd->add_option("-o,--output", m.output, "the JSON report to write")->required();
  cmd->add_option("--recipe", m.recipe, "the fixed recipe to start from: demo-64 (CPU demo model) or df-128 (SAEHD-df, a GPU recipe); the options below override it");
  cmd->add_option("--model", m.model, "df, df-ud, liae, liae-ud, quick96 or demo");
  cmd->add_option("--resolution", m.resolution, "face size in pixels (a resolution the model is built for)");
  cmd->add_option("--batch", m.batch, "images per side per step, all ranks together")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--ranks", m.ranks, "thread ranks (under mpirun: 1, each process is a rank)")->check(CLI::Range(1, 1024));
  cmd->add_option("--optimizer", m.optimizer, "adabelief, rmsprop or adam");
  cmd->add_option("--lr", m.lr, "learning rate");
  cmd->add_option("--seed", m.seed, "seed of the model and the data order");
  cmd->add_option("--src", m.src, "face set to learn (default: the shipped demo set spkA)");
  cmd->add_option("--dst", m.dst, "face set of the other person (default: the shipped demo set spkC)");
  cmd->add_option("--threads", m.run.threads, "OpenMP threads of the whole job (0: OMP_NUM_THREADS or all cores)")
      ->check(CLI::Range(0, 4096));
  cmd->add_option("--backend", m.run.backend, "cpu, or cuda: faceswap train's GPU step (a GPU per rank, the whole step as one CUDA graph)")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  cmd->add_option("--precision", m.run.precision,
                  std::string("what the convolutions multiply in, as faceswap train --precision: ") +
                      faceswap::auto_precision_help + ", f32 or bf16 (the GPU step: bf16 only); the report records it")
      ->check(CLI::IsMember(faceswap::precisions));
  cmd->add_option("--device", m.device, "with --backend cuda: the first GPU (rank r trains on GPU device + r)")->check(CLI::Range(0, 1023));
  cmd->add_flag("--tune-convolutions,!--no-tune-convolutions", m.tune_convolutions,
                "with --backend cuda: time cuDNN's engines on the first step (default on, as faceswap train; about half a minute)");
  cmd->add_option("--label", m.run.label, "the report's name in compare (default: the file name)");
  cmd->add_option("--work", m.run.work, "keep the training run's files here (default: a temporary folder, removed)");
  return cmd;
}

// The recipe, with what the command line overrides.
void apply(Measure& m, int argc, char** argv) {
  const graft_bench::Recipe& recipe = graft_bench::find_recipe(m.recipe);
  auto& t = m.run.train;
  t = recipe.options;
  t.target_loss = recipe.target_loss;
  if (m.model) t.model = *m.model;
  if (m.resolution) t.resolution = *m.resolution;
  if (m.batch) t.batch = *m.batch;
  if (m.ranks) t.ranks = *m.ranks;
  if (m.optimizer) t.optimizer = *m.optimizer;
  if (m.lr) t.lr = *m.lr;
  if (m.seed) t.seed = *m.seed;
  if (m.src) t.src = *m.src;
  if (m.dst) t.dst = *m.dst;
  if (m.target_loss) t.target_loss = *m.target_loss;
  if (m.device) t.device = *m.device;
  if (m.tune_convolutions) t.tune_convolutions = *m.tune_convolutions;
  m.run.recipe = m.recipe;
  for (int i = 0; i < argc; ++i) m.run.command += (i ? " " : "") + std::string(argv[i]);
}

void write(const nlohmann::json& report, const std::filesystem::path& output) {
  if (report.is_null()) return;  // not rank 0 of an mpirun job
  graft_bench::write_report(output, report);
  std::printf("%s", graft_bench::comparison_table(std::vector{graft_bench::ComparedReport{graft_bench::label_of(report, output), report}}).c_str());
  std::printf("report: %s\n", output.c_str());
}

struct Compare {
  std::vector<std::filesystem::path> reports;
  std::vector<std::string> prices;
  std::filesystem::path plot;
};

int run_compare(const Compare& c) {
  std::map<std::string, double> price_of;
  for (const std::string& p : c.prices) {
    const auto equals = p.rfind('=');
    graft::check(equals != std::string::npos, "graft-bench compare: --price ", p, ": write REPORT=USD_PER_HOUR");
    try {
      price_of[p.substr(0, equals)] = std::stod(p.substr(equals + 1));
    } catch (const std::exception&) {
      graft::fail("graft-bench compare: --price ", p, ": '", p.substr(equals + 1), "' is not a number");
    }
  }
  std::vector<graft_bench::ComparedReport> compared;
  for (const auto& path : c.reports) {
    auto report = graft_bench::read_report(path);
    auto& r = compared.emplace_back(graft_bench::ComparedReport{graft_bench::label_of(report, path), std::move(report)});
    for (const auto& key : {path.string(), path.filename().string(), r.label})
      if (const auto it = price_of.find(key); it != price_of.end()) r.price_per_hour = it->second, price_of.erase(it);
  }
  graft::check(price_of.empty(), "graft-bench compare: --price ", price_of.empty() ? "" : price_of.begin()->first,
               "=...: no such report among the ones compared");
  std::printf("%s", graft_bench::comparison_table(compared).c_str());
  if (!c.plot.empty()) {
    graft_bench::write_loss_plot(c.plot, compared);
    std::printf("loss against wall time: %s\n", c.plot.c_str());
  }
  return 0;
}

struct Project {
  std::filesystem::path report, output;
  std::vector<int> gpus{1, 2, 4, 8};
  std::string interconnect = "p5.48xlarge";
  std::optional<double> busbw, latency_us;
  std::string wire = "f32";
};

int run_project(const Project& p) {
  graft_bench::Interconnect link = graft_bench::find_interconnect(p.interconnect);
  const nlohmann::json report = graft_bench::read_report(p.report);
  const graft_bench::StepProfile profile = graft_bench::profile_of(report, p.report.string());
  if (p.busbw) link = {.name = "custom", .gpus_per_node = 1 << 30, .busbw_GBps = *p.busbw, .source = "--busbw"};
  if (p.latency_us) link.latency_us = *p.latency_us;
  const double wire_bytes = p.wire == "bf16" ? 2 : 4;
  std::printf("PROJECTION (not a measurement) from %s: %s, %.4f s per step on one device, %.3g MB of gradients in %zu buckets\n",
              p.report.c_str(), graft_bench::trained_on(report).c_str(), profile.step_s,
              [&] { double s = 0; for (double b : profile.bucket_bytes) s += b; return s / 1e6; }(), profile.bucket_bytes.size());
  std::printf("interconnect %s: %.1f GB/s bus bandwidth in a node, %.1f across nodes, %.0f us per all-reduce; %s on the wire\n",
              link.name.c_str(), link.busbw_GBps, link.inter_node_busbw_GBps, link.latency_us, p.wire.c_str());
  std::printf("| GPUs | step s | all-reduce s | exposed s | efficiency | img/s |\n|---:|---:|---:|---:|---:|---:|\n");
  nlohmann::json rows = nlohmann::json::array();
  for (const int n : p.gpus) {
    const auto r = graft_bench::project(profile, n, link, wire_bytes);
    std::printf("| %d | %.4f | %.4f | %.4f | %.0f%% | %.1f |\n", n, r.step_s, r.communication_s, r.exposed_s, 100 * r.efficiency,
                r.images_per_s);
    rows.push_back({{"gpus", n},
                    {"step_s", r.step_s},
                    {"communication_s", r.communication_s},
                    {"exposed_s", r.exposed_s},
                    {"efficiency", r.efficiency},
                    {"images_per_s", r.images_per_s}});
  }
  if (!p.output.empty()) {
    graft_bench::write_report(p.output, {{"graft_bench_projection", graft_bench::report_format},
                                         {"projection", true},
                                         {"from", p.report.string()},
                                         {"interconnect", {{"name", link.name},
                                                           {"busbw_GBps", link.busbw_GBps},
                                                           {"inter_node_busbw_GBps", link.inter_node_busbw_GBps},
                                                           {"latency_us", link.latency_us},
                                                           {"source", link.source}}},
                                         {"wire", p.wire},
                                         {"rows", rows}});
    std::printf("projection: %s\n", p.output.c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"graft-bench: training throughput, time to loss, comparisons and scaling projections (docs/benchmarks.md)"};
  app.require_subcommand(1);
  Measure throughput, ttl;
  throughput.run.train.steps = 30;
  auto* throughput_cmd = add_measure(app, "throughput", "Training images per second, median over steps after a warm-up", throughput);
  throughput_cmd->add_option("--steps", throughput.steps, "steps in all (default 30)")->check(CLI::Range(4, 1 << 30));
  throughput_cmd->add_option("--warmup", throughput.run.warmup, "steps left out of the statistics (at least 3 with --backend cuda)")->check(CLI::Range(1, 1 << 30));
  auto* ttl_cmd = add_measure(app, "time-to-loss", "Train a fixed recipe until its loss reaches a threshold; report the wall time", ttl);
  ttl_cmd->add_option("--target-loss", ttl.target_loss, "the loss (mean over the recipe's window) that ends the run");
  ttl_cmd->add_option("--max-steps", ttl.steps, "give up after this many steps (default: the recipe's)")->check(CLI::Range(1, 1 << 30));

  Compare compare;
  auto* compare_cmd = app.add_subcommand("compare", "Reports side by side, and their loss against wall time as a PNG");
  compare_cmd->add_option("reports", compare.reports, "graft-bench reports (the first is the baseline)")->required()->check(CLI::ExistingFile);
  compare_cmd->add_option("--price", compare.prices, "REPORT=USD_PER_HOUR: the machine's hourly price (report file or label)");
  compare_cmd->add_option("--plot", compare.plot, "write the loss against wall time of every report to this PNG");

  Project project;
  auto* project_cmd = app.add_subcommand("project", "PROJECT the step time and scaling efficiency on N GPUs from a one-GPU report");
  project_cmd->add_option("--report", project.report, "a single-rank throughput report")->required()->check(CLI::ExistingFile);
  project_cmd->add_option("--gpus", project.gpus, "GPU counts to project")->delimiter(',')->check(CLI::Range(1, 1 << 20));
  project_cmd->add_option("--interconnect", project.interconnect, "preset: g5.48xlarge or p5.48xlarge");
  project_cmd->add_option("--busbw", project.busbw, "all-reduce bus bandwidth in GB/s (instead of a preset)")->check(CLI::PositiveNumber);
  project_cmd->add_option("--latency-us", project.latency_us, "microseconds per all-reduce call")->check(CLI::NonNegativeNumber);
  project_cmd->add_option("--wire", project.wire, "gradients on the wire: f32, or bf16 (comm::Compressed)")->check(CLI::IsMember({"f32", "bf16"}));
  project_cmd->add_option("-o,--output", project.output, "also write the projection as JSON");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    if (app.got_subcommand(throughput_cmd)) {
      apply(throughput, argc, argv);
      if (throughput.steps) throughput.run.train.steps = *throughput.steps;
      else throughput.run.train.steps = 30;
      throughput.run.train.target_loss = 0;  // a throughput run does not stop early
      write(graft_bench::measure_throughput(throughput.run), throughput.output);
    } else if (app.got_subcommand(ttl_cmd)) {
      apply(ttl, argc, argv);
      ttl.run.train.steps = ttl.steps ? *ttl.steps : graft_bench::find_recipe(ttl.recipe).max_steps;
      write(graft_bench::measure_time_to_loss(ttl.run), ttl.output);
    } else if (app.got_subcommand(compare_cmd)) {
      return run_compare(compare);
    } else {
      return run_project(project);
    }
  } catch (const std::exception& e) {
    // Most messages name graft-bench already; the trainer's name the command (train: ...).
    const std::string message = e.what();
    std::fprintf(stderr, "%s%s\n", message.starts_with("graft-bench") ? "" : "graft-bench: ", message.c_str());
    return 1;
  }
  return 0;
}
