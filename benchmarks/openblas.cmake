# bench_conv_im2col_openblas: im2col + OpenBLAS convolutions, the alternative
# that oneDNN was measured against (conv_im2col_openblas.cpp). Optional: a
# machine without OpenBLAS skips this one benchmark and builds everything else.
#
# The source calls openblas_set_num_threads and openblas_get_config, so any
# BLAS will not do: the vendor is pinned, and the include directory is the one
# holding openblas_config.h, because Debian's plain <cblas.h> is an
# alternatives link that may belong to another BLAS.
block(SCOPE_FOR VARIABLES)
  set(BLA_VENDOR OpenBLAS)
  find_package(BLAS QUIET)
  find_path(GRAFT_OPENBLAS_INCLUDE_DIR openblas_config.h
    PATH_SUFFIXES openblas openblas-pthread openblas-openmp openblas-serial)
  if(BLAS_FOUND AND GRAFT_OPENBLAS_INCLUDE_DIR)
    add_executable(bench_conv_im2col_openblas ${CMAKE_CURRENT_LIST_DIR}/conv_im2col_openblas.cpp)
    target_link_libraries(bench_conv_im2col_openblas PRIVATE
      graft::graft benchmark::benchmark benchmark::benchmark_main BLAS::BLAS)
    target_include_directories(bench_conv_im2col_openblas PRIVATE
      ${GRAFT_OPENBLAS_INCLUDE_DIR} ${CMAKE_CURRENT_LIST_DIR} ${PROJECT_SOURCE_DIR}/examples/faceswap)
  else()
    message(STATUS "OpenBLAS not found: bench_conv_im2col_openblas is not built")
  endif()
endblock()
