// graft-bench's two measurements, both by training the real face-swap
// model with the real data pipeline (examples/faceswap):
//   throughput:   training images per second after a warm-up, median over steps;
//   time-to-loss: a fixed recipe trained until the loss reaches a threshold.
// Each returns the whole report (report.hpp), or null on the ranks of an
// mpirun job other than rank 0, which report nothing.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "train/options.hpp"

namespace faceswap {
struct TrainSummary;
}

namespace graft_bench {

// A fixed recipe: the model, data, seed and hyper-parameters, and the loss
// that ends a time-to-loss run; the same recipe on two machines is a fair race.
struct Recipe {
  std::string name, description;
  faceswap::TrainOptions options;  // src and dst default to the shipped demo face sets
  double target_loss = 0;
  std::int64_t max_steps = 0;  // a time-to-loss run that gets here has failed
};
const std::vector<Recipe>& recipes();
const Recipe& find_recipe(const std::string& name);  // throws listing the recipes

struct RunOptions {
  faceswap::TrainOptions train;
  std::string recipe;           // recorded; the options are already in `train`
  std::int64_t warmup = 5;      // steps left out of the throughput statistics
  int threads = 0;              // OpenMP threads of the whole job (0: as OMP_NUM_THREADS or the cores say)
  std::string backend = "cpu";  // cpu, or cuda (faceswap train --backend cuda)
  std::string precision = "auto";  // faceswap train --precision: auto, f32 or bf16 (the report records what ran)
  std::string label;             // names the report in compare's table and plot
  std::filesystem::path work;    // where the training run writes; empty: a temporary folder, removed
  std::string command;           // the command line, recorded in the report
};

nlohmann::json measure_throughput(const RunOptions& options);
// A throughput run's "results" and step "profile" from its summary, the
// steps after `warmup` measured (with `batch` faces per side), into `report`.
void add_throughput(nlohmann::json& report, const faceswap::TrainSummary& summary, std::int64_t warmup, std::int64_t batch);
nlohmann::json measure_time_to_loss(const RunOptions& options);

// The shipped demo face sets (examples/faceswap/demo/faces/spkA and spkC).
std::filesystem::path demo_faces(const char* speaker);

}  // namespace graft_bench
