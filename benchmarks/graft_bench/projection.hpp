// graft-bench project: the step time and scaling efficiency of N GPUs, from
// one measured single-GPU run and an interconnect's all-reduce bandwidth.
// A projection, not a measurement: it is labelled so wherever it is printed.
//
// The model (docs/benchmarks.md derives it): every GPU computes what the
// measured one did (the batch per GPU stays the same). DataParallel
// all-reduces the gradient buckets in order, each as soon as backward has
// made it final: bucket i is ready at the time the measured run recorded,
// starts when it is ready and the previous bucket is done, and takes
//   latency + bytes x 2 (N - 1) / N / busbw        (ring all-reduce)
// The part of the last bucket's end that lies past the end of backward is
// exposed and adds to the measured step time.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace graft_bench {

struct Interconnect {
  std::string name;
  int gpus_per_node = 8;
  double busbw_GBps = 0;             // all-reduce bus bandwidth within a node
  double inter_node_busbw_GBps = 0;  // across nodes (used when N > gpus_per_node)
  double latency_us = 0;             // per all-reduce call
  std::string source;                // where the numbers come from
};
const std::vector<Interconnect>& interconnect_presets();  // g5.48xlarge, p5.48xlarge
const Interconnect& find_interconnect(const std::string& name);

// What the projection needs from a single-rank throughput report.
struct StepProfile {
  double step_s = 0;              // median step time
  double forward_backward_s = 0;  // median time to the end of backward
  double images_per_step = 0;
  std::vector<double> bucket_bytes, bucket_ready_s;
};
// Reads a report's profile; `where` names the file in errors. Refuses
// reports of more than one rank (their step time already has communication in it).
StepProfile profile_of(const nlohmann::json& report, const std::string& where);

struct Projection {
  int gpus = 1;
  double communication_s = 0;  // all buckets back to back
  double exposed_s = 0;        // what overlap with backward does not hide
  double step_s = 0;
  double efficiency = 1;  // single-GPU step time / projected step time
  double images_per_s = 0;
};

// `wire_bytes_per_value`: 4 for f32 gradients, 2 with bf16 compression.
Projection project(const StepProfile& profile, int gpus, const Interconnect& link, double wire_bytes_per_value = 4);

}  // namespace graft_bench
