// graft's version. The single source of truth: CMake's project() reads it
// from here, the installed graftConfigVersion.cmake carries it to consumers,
// and CHANGELOG.md has a section for it (a test checks both).
#pragma once

#include <string_view>

#define GRAFT_VERSION_MAJOR 0
#define GRAFT_VERSION_MINOR 1
#define GRAFT_VERSION_PATCH 0
#define GRAFT_VERSION_STRING "0.1.0"

namespace graft {

struct Version {
  int major, minor, patch;
  friend constexpr auto operator<=>(const Version&, const Version&) = default;
};

inline constexpr Version version{GRAFT_VERSION_MAJOR, GRAFT_VERSION_MINOR, GRAFT_VERSION_PATCH};
inline constexpr std::string_view version_string = GRAFT_VERSION_STRING;

}  // namespace graft
