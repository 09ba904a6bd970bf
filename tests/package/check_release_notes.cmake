# CHANGELOG.md has a section for the version in include/graft/version.hpp:
# a release is not made without its notes.
#   cmake -DSOURCE_DIR=<repo> -P check_release_notes.cmake
cmake_minimum_required(VERSION 3.25)
include(${SOURCE_DIR}/cmake/GraftVersion.cmake)
file(READ ${SOURCE_DIR}/CHANGELOG.md changelog)
string(REPLACE "." "\\." version_pattern "${GRAFT_VERSION}")
if(NOT changelog MATCHES "\n## \\[${version_pattern}\\] — [0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]\n")
  message(FATAL_ERROR "CHANGELOG.md: no section '## [${GRAFT_VERSION}] — YYYY-MM-DD' for the version in include/graft/version.hpp")
endif()
message(STATUS "CHANGELOG.md has the notes of graft ${GRAFT_VERSION}")
