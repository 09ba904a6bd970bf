#include "projection.hpp"

#include <algorithm>
#include <graft/core/error.hpp>

#include "find_by_name.hpp"

namespace graft_bench {

const std::vector<Interconnect>& interconnect_presets() {
  // Estimates for the 25 MiB buckets DataParallel sends; docs/benchmarks.md
  // gives the derivations. Override them with --busbw and --latency-us.
  static const std::vector<Interconnect> presets{
      {"g5.48xlarge", 8, 12.0, 10.0, 50.0,
       "8 A10G on PCIe Gen4 x16 (32 GB/s per direction, no NVLink: peer traffic crosses the host), about 40% of the link "
       "as all-reduce bus bandwidth; 100 Gbit/s networking between nodes"},
      {"p5.48xlarge", 8, 360.0, 40.0, 20.0,
       "8 H100 SXM5 on NVLink 4 through NVSwitch (450 GB/s per direction per GPU; nccl-tests report 460-480 GB/s busbw at "
       "GB sizes, less at 25 MiB); 3200 Gbit/s EFA per node (about 50 GB/s per GPU) between nodes"},
  };
  return presets;
}

const Interconnect& find_interconnect(const std::string& name) {
  return find_by_name(interconnect_presets(), name, "graft-bench project: no interconnect preset '" + name + "'", "presets",
                      "; or give --busbw and --latency-us");
}

StepProfile profile_of(const nlohmann::json& report, const std::string& where) {
  graft::check(report.value("kind", "") == "throughput", where, ": project needs a throughput report, this one is ",
               report.value("kind", "?"));
  const int devices = report["results"].value("devices", 0);
  graft::check(devices == 1, where, ": project needs a single-rank (one GPU) report, this one ran ", devices,
               " ranks; measure with --ranks 1");
  graft::check(report.contains("profile"), where, ": the report has no \"profile\"");
  const auto& p = report["profile"];
  StepProfile profile;
  try {
    profile.step_s = p.at("step_s").get<double>();
    profile.forward_backward_s = p.at("forward_backward_s").get<double>();
    profile.bucket_bytes = p.at("bucket_bytes").get<std::vector<double>>();
    profile.bucket_ready_s = p.at("bucket_ready_s").get<std::vector<double>>();
    profile.images_per_step = report.at("config").at("images_per_step").get<double>();
  } catch (const nlohmann::json::exception& e) {
    graft::fail(where, ": the report's profile is incomplete (", e.what(), ")");
  }
  graft::check(profile.step_s > 0 && profile.bucket_bytes.size() == profile.bucket_ready_s.size() &&
                   !profile.bucket_bytes.empty(),
               where, ": the report's profile is inconsistent (step time ", profile.step_s, ", ",
               profile.bucket_bytes.size(), " bucket sizes, ", profile.bucket_ready_s.size(), " ready times)");
  return profile;
}

Projection project(const StepProfile& profile, int gpus, const Interconnect& link, double wire_bytes_per_value) {
  graft::check(gpus >= 1, "graft-bench project: need at least one GPU, got ", gpus);
  graft::check(link.busbw_GBps > 0, "graft-bench project: the bus bandwidth must be positive, got ", link.busbw_GBps, " GB/s");
  Projection p{.gpus = gpus, .step_s = profile.step_s, .images_per_s = profile.images_per_step / profile.step_s};
  if (gpus == 1) return p;
  const double busbw =
      1e9 * (gpus > link.gpus_per_node && link.inter_node_busbw_GBps > 0 ? link.inter_node_busbw_GBps : link.busbw_GBps);
  const double n = gpus;
  double end = 0;
  for (std::size_t b = 0; b < profile.bucket_bytes.size(); ++b) {
    const double bytes = profile.bucket_bytes[b] * wire_bytes_per_value / 4;
    const double seconds = link.latency_us * 1e-6 + bytes * 2 * (n - 1) / n / busbw;
    p.communication_s += seconds;
    end = std::max(end, profile.bucket_ready_s[b]) + seconds;
  }
  p.exposed_s = std::max(0.0, end - profile.forward_backward_s);
  p.step_s = profile.step_s + p.exposed_s;
  p.efficiency = profile.step_s / p.step_s;
  p.images_per_s = n * profile.images_per_step / p.step_s;
  return p;
}

}  // namespace graft_bench
