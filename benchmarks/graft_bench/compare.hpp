// graft-bench compare: reports side by side (speed-up, per-device
// efficiency, images per dollar), and the loss against wall time of each.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>

namespace graft_bench {

struct ComparedReport {
  std::string label;
  nlohmann::json report;
  std::optional<double> price_per_hour;  // USD per hour of the whole machine (all its devices)
};

// A Markdown table, one row per report; speed-up and efficiency are against
// the first report. Time-to-loss reports are compared by their time to loss
// (when both reached it), throughput reports by images per second.
std::string comparison_table(std::span<const ComparedReport> reports);

// Loss against wall time for every report that has a curve.
void write_loss_plot(const std::filesystem::path& path, std::span<const ComparedReport> reports);

}  // namespace graft_bench
