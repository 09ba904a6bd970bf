# A project outside graft's tree, made from docs/getting-started.md, built
# against graft and run: the program must exit 0 (its loss fell).
#
#   cmake -DMODE=find_package|fetch_content -DDOC=<getting-started.md> -DWORK=<dir>
#         -DGRAFT_SOURCE_DIR=<repo> -DGRAFT_BINARY_DIR=<graft's build> -DCXX=<compiler>
#         -DGENERATOR=<generator> -P build_consumer.cmake
#
# The project's CMakeLists.txt is the doc's ```cmake <MODE> block; its
# main.cpp is every ```cpp block in order. find_package builds against a
# fresh `cmake --install` of graft's build into WORK/prefix; fetch_content
# points FetchContent at the source tree.
cmake_minimum_required(VERSION 3.25)
foreach(required MODE DOC WORK GRAFT_SOURCE_DIR GRAFT_BINARY_DIR CXX GENERATOR)
  if(NOT DEFINED ${required})
    message(FATAL_ERROR "build_consumer.cmake: -D${required}=... is missing")
  endif()
endforeach()

file(READ "${DOC}" doc)
set(program "")
set(cmake_lists "")
# Walk the fenced blocks: "```<info>\n" ... "\n```". string(FIND)/SUBSTRING
# rather than list operations, because C++ is full of semicolons.
set(rest "${doc}")
while(TRUE)
  string(FIND "${rest}" "```" open)
  if(open EQUAL -1)
    break()
  endif()
  string(SUBSTRING "${rest}" ${open} -1 rest)
  string(FIND "${rest}" "\n" info_end)
  math(EXPR info_length "${info_end} - 3")
  string(SUBSTRING "${rest}" 3 ${info_length} info)
  math(EXPR body_start "${info_end} + 1")
  string(SUBSTRING "${rest}" ${body_start} -1 rest)
  string(FIND "${rest}" "\n```" close)
  if(close EQUAL -1)
    message(FATAL_ERROR "${DOC}: the block ```${info} is not closed")
  endif()
  math(EXPR close_length "${close} + 1")
  string(SUBSTRING "${rest}" 0 ${close_length} body)
  math(EXPR after "${close} + 4")
  string(SUBSTRING "${rest}" ${after} -1 rest)
  string(STRIP "${info}" info)
  if(info STREQUAL "cpp")
    string(APPEND program "${body}\n")
  elseif(info STREQUAL "cmake ${MODE}")
    set(cmake_lists "${body}")
  endif()
endwhile()
if(program STREQUAL "" OR cmake_lists STREQUAL "")
  message(FATAL_ERROR "${DOC}: no ```cpp blocks, or no ```cmake ${MODE} block")
endif()

set(project_dir "${WORK}/${MODE}/project")
set(build_dir "${WORK}/${MODE}/build")
file(REMOVE_RECURSE "${WORK}/${MODE}")
file(WRITE "${project_dir}/main.cpp" "${program}")
file(WRITE "${project_dir}/CMakeLists.txt" "${cmake_lists}")

function(run step)
  execute_process(COMMAND ${ARGN} WORKING_DIRECTORY "${WORK}/${MODE}" RESULT_VARIABLE result)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "consumer (${MODE}): ${step} failed (${result}): ${ARGN}")
  endif()
endfunction()

set(configure_args -S "${project_dir}" -B "${build_dir}" -G "${GENERATOR}" -DCMAKE_CXX_COMPILER=${CXX}
                   -DCMAKE_BUILD_TYPE=Release)
if(MODE STREQUAL "find_package")
  run("install graft" ${CMAKE_COMMAND} --install "${GRAFT_BINARY_DIR}" --prefix "${WORK}/${MODE}/prefix")
  # Only the fresh install may be found, not an older one elsewhere.
  list(APPEND configure_args "-DCMAKE_PREFIX_PATH=${WORK}/${MODE}/prefix" -Dgraft_DIR=${WORK}/${MODE}/prefix/lib/cmake/graft)
elseif(MODE STREQUAL "fetch_content")
  list(APPEND configure_args "-DGRAFT_SOURCE_DIR=${GRAFT_SOURCE_DIR}")
else()
  message(FATAL_ERROR "build_consumer.cmake: MODE is find_package or fetch_content, not '${MODE}'")
endif()
run("configure" ${CMAKE_COMMAND} ${configure_args})
run("build" ${CMAKE_COMMAND} --build "${build_dir}" -j2)
run("run" "${build_dir}/my_trainer")
