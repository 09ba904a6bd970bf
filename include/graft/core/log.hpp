// Minimal leveled logging to stderr.
//
// Training programs print progress on stdout; diagnostics go to stderr with a
// level and a time stamp so that they can be filtered. The level comes from
// GRAFT_LOG (error, warn, info, debug) or set_log_level().
#pragma once

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <string>
#include <string_view>

#include "graft/core/error.hpp"

namespace graft {

enum class LogLevel : int { error = 0, warn = 1, info = 2, debug = 3 };

namespace detail {
inline LogLevel level_from_env() {
  const char* v = std::getenv("GRAFT_LOG");
  if (!v) return LogLevel::info;
  const std::string_view s(v);
  if (s == "error") return LogLevel::error;
  if (s == "warn") return LogLevel::warn;
  if (s == "debug") return LogLevel::debug;
  return LogLevel::info;
}
inline std::atomic<int>& log_level_storage() {
  static std::atomic<int> level{static_cast<int>(level_from_env())};
  return level;
}
}  // namespace detail

inline void set_log_level(LogLevel level) { detail::log_level_storage() = static_cast<int>(level); }
inline bool log_enabled(LogLevel level) { return static_cast<int>(level) <= detail::log_level_storage().load(); }

template <class... Parts>
void log(LogLevel level, Parts&&... parts) {
  if (!log_enabled(level)) return;
  static constexpr const char* names[] = {"error", "warn", "info", "debug"};
  const std::string message = concat(std::forward<Parts>(parts)...);
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm local{};
  localtime_r(&now, &local);  // std::localtime shares one buffer between threads
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%H:%M:%S", &local);
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  std::fprintf(stderr, "[%s graft %s] %s\n", stamp, names[static_cast<int>(level)], message.c_str());
}

template <class... Parts>
void log_info(Parts&&... p) {
  log(LogLevel::info, std::forward<Parts>(p)...);
}
template <class... Parts>
void log_warn(Parts&&... p) {
  log(LogLevel::warn, std::forward<Parts>(p)...);
}
template <class... Parts>
void log_debug(Parts&&... p) {
  log(LogLevel::debug, std::forward<Parts>(p)...);
}

}  // namespace graft
