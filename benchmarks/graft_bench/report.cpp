#include "report.hpp"

#include <unistd.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <initializer_list>
#include <graft/core/error.hpp>
#include <graft/io/atomic_file.hpp>
#include <graft/version.hpp>
#include <memory>
#include <oneapi/dnnl/dnnl.h>
#include <opencv2/core/version.hpp>
#include <sstream>
#include <thread>
#if defined(GRAFT_WITH_MPI)
#include <mpi.h>
#endif
#if defined(FACESWAP_WITH_CUDA)
#include <cuda_runtime_api.h>
#include <cudnn.h>
#if defined(GRAFT_WITH_NCCL)
#include <nccl.h>
#endif
#endif

namespace graft_bench {
namespace {

// The standard output of a shell command, or "" when it fails (no such tool).
std::string output_of(const char* command) {
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(command, "r"), ::pclose);
  if (!pipe) return {};
  std::string out;
  std::array<char, 4096> chunk;
  while (const std::size_t n = std::fread(chunk.data(), 1, chunk.size(), pipe.get())) out.append(chunk.data(), n);
  const int status = ::pclose(pipe.release());
  return status == 0 ? out : std::string{};
}

// The value of the first "key : value" line of a /proc file.
std::string proc_field(const char* file, const std::string& key) {
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(key, 0) == 0) {
      const auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      const auto value = line.find_first_not_of(" \t", colon + 1);
      return value == std::string::npos ? std::string{} : line.substr(value);
    }
  return {};
}

std::vector<std::string> csv_fields(const std::string& line) {
  std::vector<std::string> fields;
  std::stringstream in(line);
  for (std::string field; std::getline(in, field, ',');) {
    const auto first = field.find_first_not_of(' ');
    fields.push_back(first == std::string::npos ? std::string{} : field.substr(first));
  }
  return fields;
}

}  // namespace

nlohmann::json describe_machine() {
  std::array<char, 256> host{};
  ::gethostname(host.data(), host.size() - 1);
  nlohmann::json machine{{"host", host.data()},
                         {"cpu", {{"model", proc_field("/proc/cpuinfo", "model name")},
                                  {"logical_cores", std::thread::hardware_concurrency()}}}};
  const std::string memory_kib = proc_field("/proc/meminfo", "MemTotal");
  machine["memory_gib"] = memory_kib.empty() ? 0.0 : std::stod(memory_kib) / (1024.0 * 1024.0);
  nlohmann::json gpus = nlohmann::json::array();
  std::stringstream query(
      output_of("nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader,nounits 2>/dev/null"));
  for (std::string line; std::getline(query, line);)
    if (const auto f = csv_fields(line); f.size() == 3)
      gpus.push_back({{"name", f[0]}, {"memory_mib", std::stod(f[1])}, {"driver", f[2]}});
  machine["gpus"] = gpus;
  const std::string topology = gpus.empty() ? std::string{} : output_of("nvidia-smi topo -m 2>/dev/null");
  machine["interconnect"] = topology.empty() ? nlohmann::json() : nlohmann::json(topology);
  return machine;
}

nlohmann::json describe_software() {
  const dnnl_version_t* dnnl = dnnl_version();
  nlohmann::json software{{"graft", graft::version_string},
#if defined(__clang__)
                          {"compiler", "Clang " __clang_version__},
#elif defined(__GNUC__)
                          {"compiler", "GCC " __VERSION__},
#else
                          {"compiler", __VERSION__},
#endif
                          {"openmp", _OPENMP},
                          {"onednn", std::to_string(dnnl->major) + "." + std::to_string(dnnl->minor) + "." +
                                         std::to_string(dnnl->patch)},
                          {"opencv", CV_VERSION},
                          {"cuda", nullptr},
                          {"cuda_driver", nullptr},
                          {"cudnn", nullptr},
                          {"nccl", nullptr}};
#if defined(FACESWAP_WITH_CUDA)
  // As linked and as the machine has them; the driver's is null where no driver answers.
  // Each library packs its version into one number: CUDA 13.0 is 13000, cuDNN 9.14.0 91400, NCCL 2.28.3 22803.
  const auto unpacked = [](long version, std::initializer_list<long> units) {
    std::string text;
    long rest = version;
    for (const long unit : units) {
      text += (text.empty() ? "" : ".") + std::to_string(rest / unit);
      rest %= unit;
    }
    return text;
  };
  int runtime = 0, driver = 0;
  if (cudaRuntimeGetVersion(&runtime) == cudaSuccess) software["cuda"] = unpacked(runtime, {1000, 10});
  if (cudaDriverGetVersion(&driver) == cudaSuccess && driver > 0) software["cuda_driver"] = unpacked(driver, {1000, 10});
  (void)cudaGetLastError();
  software["cudnn"] = unpacked(long(cudnnGetVersion()), {10000, 100, 1});
#if defined(GRAFT_WITH_NCCL)
  int nccl = 0;
  if (ncclGetVersion(&nccl) == ncclSuccess) software["nccl"] = unpacked(nccl, {10000, 100, 1});
#endif
#endif
  software["backends"] = software["cudnn"].is_null() ? "cpu" : "cpu, cuda";
#if defined(GRAFT_WITH_MPI)
  std::array<char, MPI_MAX_LIBRARY_VERSION_STRING> mpi{};
  int length = 0;
  MPI_Get_library_version(mpi.data(), &length);  // allowed before MPI_Init
  std::string text(mpi.data(), std::size_t(length));
  software["mpi"] = text.substr(0, text.find_first_of(",\n"));
#else
  software["mpi"] = nullptr;
#endif
  return software;
}

void write_report(const std::filesystem::path& path, const nlohmann::json& report) {
  const std::string text = report.dump(2) + "\n";
  graft::io::write_file_atomically(path, std::as_bytes(std::span(text)));
}

nlohmann::json read_report(const std::filesystem::path& path) {
  std::ifstream in(path);
  graft::check(bool(in), path.string(), ": cannot open the report");
  nlohmann::json report;
  try {
    report = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    graft::fail(path.string(), ": not a JSON file (", e.what(), ")");
  }
  graft::check(report.is_object() && report.contains("graft_bench_report"), path.string(),
               ": not a graft-bench report (no \"graft_bench_report\")");
  graft::check(report["graft_bench_report"] == report_format, path.string(), ": report format ",
               report["graft_bench_report"].dump(), ", this graft-bench reads format ", report_format);
  for (const char* key : {"kind", "machine", "config", "results"})
    graft::check(report.contains(key), path.string(), ": the report has no \"", key, "\"");
  return report;
}

std::string trained_on(const nlohmann::json& report) {
  const auto& machine = report["machine"];
  const bool gpu = report.contains("config") && report["config"].value("backend", std::string("cpu")) == "cuda";
  if (gpu && machine.contains("gpus") && !machine["gpus"].empty())
    return std::to_string(machine["gpus"].size()) + "x " + machine["gpus"][0].value("name", "GPU");
  const auto& cpu = machine.value("cpu", nlohmann::json::object());
  return cpu.value("model", std::string("CPU")) + " (" + std::to_string(cpu.value("logical_cores", 0)) + " cores)";
}

std::string label_of(const nlohmann::json& report, const std::filesystem::path& path) {
  if (report.contains("label") && report["label"].is_string() && !report["label"].get<std::string>().empty())
    return report["label"];
  return path.stem().string();
}

}  // namespace graft_bench
