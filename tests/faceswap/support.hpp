// Shared by the faceswap tests: the shipped demo data, and running the
// faceswap program and the Python checks (over tests/support/scratch_directory.hpp).
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "scratch_directory.hpp"

namespace faceswap::testing {

inline const std::filesystem::path demo = FACESWAP_DEMO_DIR;

using Scratch = graft::testing::ScratchDirectory;

struct Run {
  int status = -1;
  std::string output;  // stdout and stderr together
};

inline std::string quoted(const std::filesystem::path& p) { return "'" + p.string() + "'"; }

// Runs the faceswap program with `arguments` (already shell-quoted).
inline Run run_faceswap(const std::string& arguments) {
  const Scratch logs("faceswap-run");
  Run run;
  run.status = graft::testing::run_captured(quoted(FACESWAP_PROGRAM) + " " + arguments, logs / "output.log", run.output);
  return run;
}

// Runs a Python script of tests/faceswap with `arguments` (already shell-quoted).
inline Run run_python(const std::string& script, const std::string& arguments) {
  const Scratch logs("faceswap-python");
  Run run;
  const auto path = std::filesystem::path(GRAFT_TEST_SOURCE_DIR) / "faceswap" / script;
  run.status = graft::testing::run_captured(quoted(std::filesystem::path(graft::testing::python_executable())) + " " + quoted(path) + " " + arguments,
                                            logs / "output.log", run.output);
  return run;
}

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
