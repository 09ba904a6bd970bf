# cmake --install: the headers, libgraft (and libgraft_cuda), and
# graftConfig.cmake / graftConfigVersion.cmake with the exported targets
# graft::graft, graft::mpi and graft::cuda (the last two where built). A
# consumer's find_package(graft) looks up the same dependencies graft was
# built against (cmake/graftConfig.cmake.in).
include(CMakePackageConfigHelpers)

# An exported target may only link to imported targets (found packages): a
# dependency that FetchContent built from source has no installed package a
# consumer could find, so installing is refused with the reason.
set(graft_install_blockers "")
foreach(dependency nlohmann_json::nlohmann_json DNNL::dnnl OpenMP::OpenMP_CXX)
  get_target_property(aliased ${dependency} ALIASED_TARGET)
  if(aliased)
    get_target_property(imported ${aliased} IMPORTED)
  else()
    get_target_property(imported ${dependency} IMPORTED)
  endif()
  if(NOT imported)
    list(APPEND graft_install_blockers ${dependency})
  endif()
endforeach()
if(graft_install_blockers)
  message(WARNING "graft: no install rules, because ${graft_install_blockers} came from FetchContent rather than "
                  "an installed package; install them (scripts/setup-debian.sh) to make graft installable")
  return()
endif()

set(graft_config_dir ${CMAKE_INSTALL_LIBDIR}/cmake/graft)
set(graft_exported graft)
if(GRAFT_WITH_MPI)
  set_target_properties(graft_mpi PROPERTIES EXPORT_NAME mpi)
  list(APPEND graft_exported graft_mpi)
endif()
if(TARGET graft_cuda)
  list(APPEND graft_exported graft_cuda)
endif()
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/graft DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS ${graft_exported} EXPORT graftTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(EXPORT graftTargets NAMESPACE graft:: DESTINATION ${graft_config_dir})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/graftConfig.cmake.in ${PROJECT_BINARY_DIR}/graftConfig.cmake
                              INSTALL_DESTINATION ${graft_config_dir})
# 0.x: a minor version may change the interface, so only the same minor matches.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/graftConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/graftConfig.cmake ${PROJECT_BINARY_DIR}/graftConfigVersion.cmake
        DESTINATION ${graft_config_dir})
install(FILES ${PROJECT_SOURCE_DIR}/LICENSE ${PROJECT_SOURCE_DIR}/CHANGELOG.md DESTINATION ${CMAKE_INSTALL_DOCDIR} OPTIONAL)
