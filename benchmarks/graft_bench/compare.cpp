#include "compare.hpp"

#include <cstdio>
#include <vector>

#include "report.hpp"
#include "train/line_plot.hpp"

namespace graft_bench {
namespace {

std::string format(const char* pattern, double value) {
  char text[64];
  std::snprintf(text, sizeof text, pattern, value);
  return text;
}

double images_per_s(const nlohmann::json& report) { return report["results"].value("images_per_s", 0.0); }
int devices_of(const nlohmann::json& report) { return std::max(1, report["results"].value("devices", 1)); }
std::optional<double> time_to_loss(const nlohmann::json& report) {
  const auto& r = report["results"];
  if (report["kind"] == "time-to-loss" && r.value("reached", false)) return r["time_to_loss_s"].get<double>();
  return std::nullopt;
}

}  // namespace

std::string comparison_table(std::span<const ComparedReport> reports) {
  std::string table =
      "| report | kind | machine | devices | batch/side | img/s | speed-up | per-device efficiency | time to loss | steps | "
      "$/h | images per $ | $ to loss |\n"
      "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  if (reports.empty()) return table;
  const auto& base = reports.front().report;
  for (const auto& [label, report, price] : reports) {
    const double rate = images_per_s(report);
    const auto ttl = time_to_loss(report), base_ttl = time_to_loss(base);
    const double speedup = ttl && base_ttl ? *base_ttl / *ttl : rate / images_per_s(base);
    const double efficiency = (rate / devices_of(report)) / (images_per_s(base) / devices_of(base));
    const auto& r = report["results"];
    std::string steps = r.contains("steps") ? std::to_string(r["steps"].get<std::int64_t>()) : "";
    std::string ttl_text = report["kind"] == "time-to-loss" ? (ttl ? format("%.1f s", *ttl) : "not reached") : "";
    table += "| " + label + " | " + report["kind"].get<std::string>() + " | " + trained_on(report) + " | " +
             std::to_string(devices_of(report)) + " | " + std::to_string(report["config"].value("batch", 0)) + " | " +
             format("%.1f", rate) + " | " + format("%.2fx", speedup) + " | " + format("%.0f%%", 100 * efficiency) + " | " +
             ttl_text + " | " + steps + " | " + (price ? format("%.2f", *price) : "") + " | " +
             (price ? format("%.0f", rate * 3600 / *price) : "") + " | " +
             (price && ttl ? format("%.3f", *ttl / 3600 * *price) : "") + " |\n";
  }
  return table;
}

void write_loss_plot(const std::filesystem::path& path, std::span<const ComparedReport> reports) {
  std::vector<faceswap::PlotSeries> series;
  for (const auto& [label, report, price] : reports) {
    faceswap::PlotSeries s{label + " (" + trained_on(report) + ")"};
    if (report.contains("curve"))
      for (const auto& point : report["curve"]) s.points.emplace_back(point[0].get<double>(), point[1].get<double>());
    series.push_back(std::move(s));
  }
  faceswap::write_line_plot(path, series, {.title = "loss (mean over the loss window) against wall time in s", .height = 400});
}

}  // namespace graft_bench
