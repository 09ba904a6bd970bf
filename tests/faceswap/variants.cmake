# examples/faceswap/cmake/variants.cmake in script mode: FACESWAP_VARIANTS
# becomes one translation unit per variant and the list header, demo:64 is
# always there, and an entry the architectures cannot take stops the
# configuration with a message naming it.
#   cmake -DWORK=<folder> -P tests/faceswap/variants.cmake
# (With VARIANTS set, it only generates that list: the child runs below.)
cmake_minimum_required(VERSION 3.25)
include(${CMAKE_CURRENT_LIST_DIR}/../../examples/faceswap/cmake/variants.cmake)

if(NOT WORK)
  message(FATAL_ERROR "usage: cmake -DWORK=<scratch folder> -P ${CMAKE_CURRENT_LIST_FILE}")
endif()

if(DEFINED VARIANTS)
  faceswap_variant_sources("${VARIANTS}" "${WORK}" sources)
  return()
endif()

file(REMOVE_RECURSE "${WORK}")
faceswap_variant_sources("df:192;liae-ud:320;df:192" "${WORK}" sources)
set(expected "${WORK}/df_192.cpp;${WORK}/liae_ud_320.cpp;${WORK}/demo_64.cpp")
if(NOT sources STREQUAL expected)
  message(FATAL_ERROR "sources: ${sources}, expected ${expected}")
endif()
file(READ "${WORK}/liae_ud_320.cpp" text)
if(NOT text MATCHES "FACESWAP_DEFINE_VARIANT\\(liae_ud, 320\\)")
  message(FATAL_ERROR "liae_ud_320.cpp does not define the variant:\n${text}")
endif()
file(READ "${WORK}/built_variants.hpp" text)
if(NOT text MATCHES "#define FACESWAP_VARIANTS\\(X\\) X\\(df, 192\\) X\\(liae_ud, 320\\) X\\(demo, 64\\)\n"
   OR NOT text MATCHES "#define FACESWAP_RESOLUTION_RULE \"df and liae take multiples of 16 from 64 to 640")
  message(FATAL_ERROR "built_variants.hpp:\n${text}")
endif()

# The default list generates too.
faceswap_variant_sources("${FACESWAP_DEFAULT_VARIANTS}" "${WORK}/default" sources)
list(LENGTH sources count)
if(NOT count EQUAL 12)
  message(FATAL_ERROR "the default list gave ${count} sources: ${sources}")
endif()

# Each bad entry fails with its own message.
foreach(case
    "df:200|\"df:200\": df takes resolutions that are multiples of 16"
    "df-ud:240|\"df-ud:240\": df-ud takes resolutions that are multiples of 32"
    "liae:48|\"liae:48\": liae takes resolutions that are multiples of 16 from 64 to 640"
    "df:704|\"df:704\": df takes resolutions that are multiples of 16 from 64 to 640"
    "quick96:128|\"quick96:128\": the architectures are df, df-ud, liae, liae-ud, quick96 and demo; df and liae take"
    "saehd:128|\"saehd:128\": the architectures are"
    "df128|\"df128\" is not architecture:resolution"
    "df:0160|\"df:0160\" is not architecture:resolution")
  string(REPLACE "|" ";" parts "${case}")
  list(GET parts 0 entry)
  list(GET parts 1 expect)
  execute_process(COMMAND ${CMAKE_COMMAND} "-DVARIANTS=${entry}" "-DWORK=${WORK}/bad" -P ${CMAKE_CURRENT_LIST_FILE}
                  RESULT_VARIABLE status ERROR_VARIABLE err OUTPUT_VARIABLE out)
  string(REGEX REPLACE "[ \n]+" " " err "${err}")  # CMake wraps its messages
  string(FIND "${err}" "FACESWAP_VARIANTS: ${expect}" at)
  if(status EQUAL 0 OR at EQUAL -1)
    message(FATAL_ERROR "FACESWAP_VARIANTS=${entry}: exit ${status}, expected a failure saying\n  ${expect}\ngot:\n${err}")
  endif()
  if(EXISTS "${WORK}/bad/built_variants.hpp")
    message(FATAL_ERROR "FACESWAP_VARIANTS=${entry}: failed but wrote built_variants.hpp")
  endif()
endforeach()
message(STATUS "FACESWAP_VARIANTS: generated and refused as expected")
