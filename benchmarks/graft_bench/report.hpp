// graft-bench's JSON reports: what ran, on what, and what it measured.
//
// A report is self-describing, so that two teams can compare machines from
// the files alone: the hardware (CPU, memory, GPUs and how they are
// connected, where nvidia-smi can tell), the library versions, the exact
// configuration, the results, and the loss against wall time.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

namespace graft_bench {

inline constexpr int report_format = 1;

// The host, CPU, memory and GPUs (name, memory, driver) and `nvidia-smi topo -m`.
nlohmann::json describe_machine();
// graft, the compiler, OpenMP, oneDNN, OpenCV, MPI; CUDA, cuDNN and NCCL as built.
nlohmann::json describe_software();

// Writes `report` (pretty, complete or not at all).
void write_report(const std::filesystem::path& path, const nlohmann::json& report);
// Reads a report, checking that it is one and of a format this program knows;
// errors name the file.
nlohmann::json read_report(const std::filesystem::path& path);

// What trained: the machine's GPUs ("8x NVIDIA H100 80GB HBM3") for a
// --backend cuda report, else the CPU model and its core count.
std::string trained_on(const nlohmann::json& report);

// The report's label, or its file name without the extension.
std::string label_of(const nlohmann::json& report, const std::filesystem::path& path);

}  // namespace graft_bench
