// A temporary directory per test, removed afterwards, and byte-level file
// helpers for damaging files on purpose.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace graft::testing {

class ScratchDirectory {
 public:
  // `name` tells the folders of different tests apart when one is left behind.
  explicit ScratchDirectory(const std::string& name = "io-test") {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("graft-" + name + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ScratchDirectory(const ScratchDirectory&) = delete;
  ScratchDirectory& operator=(const ScratchDirectory&) = delete;
  ~ScratchDirectory() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

  // The number of entries in the directory, for "no temporary file left behind".
  std::size_t entry_count() const {
    return static_cast<std::size_t>(
        std::distance(std::filesystem::directory_iterator(path_), std::filesystem::directory_iterator{}));
  }

 private:
  std::filesystem::path path_;
};

inline std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// The Python interpreter CMake found, or python3 from PATH.
inline std::string python_executable() {
#ifdef GRAFT_PYTHON
  const std::string configured = GRAFT_PYTHON;
  if (!configured.empty()) return configured;
#endif
  return "python3";
}

// Runs `command` through the shell with stdout and stderr captured in
// `output`; returns the exit status (or -1 when it did not exit normally).
inline int run_captured(const std::string& command, const std::filesystem::path& log, std::string& output) {
  const int status = std::system((command + " > '" + log.string() + "' 2>&1").c_str());
  output = read_bytes(log);
  return (status != -1 && WIFEXITED(status)) ? WEXITSTATUS(status) : -1;
}

// Whether `python_executable()` can import safetensors and numpy; `output`
// says why not.
inline bool python_has_safetensors(const ScratchDirectory& dir, std::string& output) {
  return run_captured("'" + python_executable() + "' -c 'import safetensors, numpy'", dir / "import.log", output) == 0;
}

inline std::string missing_safetensors_message(const std::string& output) {
  return "Python's safetensors is not importable by " + python_executable() + "; run `pip install safetensors numpy`\n" + output;
}

}  // namespace graft::testing
