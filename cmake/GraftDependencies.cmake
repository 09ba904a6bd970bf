# Dependencies: find_package first (Debian's -dev packages), FetchContent as
# the fallback on machines without them.
include(FetchContent)
include(GNUInstallDirs)

find_package(OpenMP REQUIRED COMPONENTS CXX)

FetchContent_Declare(nlohmann_json
  URL https://github.com/nlohmann/json/releases/download/v3.11.2/json.tar.xz
  FIND_PACKAGE_ARGS 3.10 NAMES nlohmann_json)
# graft uses oneDNN 2.x's operation-descriptor API (removed in 3.0).
set(ONEDNN_BUILD_TESTS OFF CACHE BOOL "" FORCE)
set(ONEDNN_BUILD_EXAMPLES OFF CACHE BOOL "" FORCE)
FetchContent_Declare(dnnl
  GIT_REPOSITORY https://github.com/oneapi-src/oneDNN.git
  GIT_TAG v2.7.5
  FIND_PACKAGE_ARGS 2.6 NAMES dnnl)
FetchContent_MakeAvailable(nlohmann_json dnnl)
if(NOT TARGET DNNL::dnnl AND TARGET dnnl)
  add_library(DNNL::dnnl ALIAS dnnl)
endif()

if(GRAFT_BUILD_TESTS)
  FetchContent_Declare(doctest
    GIT_REPOSITORY https://github.com/doctest/doctest.git
    GIT_TAG v2.4.9
    FIND_PACKAGE_ARGS NAMES doctest)
  FetchContent_MakeAvailable(doctest)
endif()

if(GRAFT_BUILD_EXAMPLES OR GRAFT_BUILD_BENCHMARKS)
  FetchContent_Declare(CLI11
    GIT_REPOSITORY https://github.com/CLIUtils/CLI11.git
    GIT_TAG v2.3.2
    FIND_PACKAGE_ARGS NAMES CLI11)
  FetchContent_MakeAvailable(CLI11)
endif()

if(GRAFT_BUILD_BENCHMARKS)
  set(BENCHMARK_ENABLE_TESTING OFF CACHE BOOL "" FORCE)
  FetchContent_Declare(benchmark
    GIT_REPOSITORY https://github.com/google/benchmark.git
    GIT_TAG v1.7.1
    FIND_PACKAGE_ARGS NAMES benchmark)
  FetchContent_MakeAvailable(benchmark)
endif()
