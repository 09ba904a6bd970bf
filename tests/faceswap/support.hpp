// Shared by the faceswap tests: the shipped demo data, scratch folders, and
// running the faceswap program.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace faceswap::testing {

inline const std::filesystem::path demo = FACESWAP_DEMO_DIR;

// A fresh empty folder under the temporary directory, removed with the object.
class Scratch {
 public:
  explicit Scratch(const std::string& name)
      : path_(std::filesystem::temp_directory_path() / ("graft-" + name + "-" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~Scratch() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

struct Run {
  int status = -1;
  std::string output;  // stdout and stderr together
};

// Runs the faceswap program with `arguments` (already shell-quoted).
inline Run run_faceswap(const std::string& arguments) {
  Run run;
  const std::string command = std::string("'") + FACESWAP_PROGRAM + "' " + arguments + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return run;
  std::array<char, 4096> buffer;
  while (std::size_t n = std::fread(buffer.data(), 1, buffer.size(), pipe)) run.output.append(buffer.data(), n);
  const int status = ::pclose(pipe);
  run.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

inline std::string quoted(const std::filesystem::path& p) { return "'" + p.string() + "'"; }

// Starts the faceswap program in the background with its output in `log`; returns its pid.
inline pid_t start_faceswap(const std::vector<std::string>& arguments, const std::filesystem::path& log) {
  std::fflush(stdout);  // the child must not inherit (and write again) what the parent has buffered
  std::fflush(stderr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    FILE* out = std::freopen(log.c_str(), "w", stdout);
    if (out) ::dup2(::fileno(stdout), 2);
    std::vector<char*> argv{const_cast<char*>(FACESWAP_PROGRAM)};
    for (const auto& a : arguments) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(FACESWAP_PROGRAM, argv.data());
    ::_exit(127);
  }
  return pid;
}

// Waits for a started program and returns its exit status (-signal when killed).
inline int wait_for(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

}  // namespace faceswap::testing
