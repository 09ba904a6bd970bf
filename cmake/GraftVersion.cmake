# Reads graft's version from include/graft/version.hpp (its single source of
# truth) into GRAFT_VERSION, for project().
file(READ "${CMAKE_CURRENT_LIST_DIR}/../include/graft/version.hpp" graft_version_header)
foreach(part MAJOR MINOR PATCH)
  if(NOT graft_version_header MATCHES "#define GRAFT_VERSION_${part} ([0-9]+)")
    message(FATAL_ERROR "include/graft/version.hpp: no GRAFT_VERSION_${part}")
  endif()
  set(graft_version_${part} ${CMAKE_MATCH_1})
endforeach()
set(GRAFT_VERSION "${graft_version_MAJOR}.${graft_version_MINOR}.${graft_version_PATCH}")
if(NOT graft_version_header MATCHES "#define GRAFT_VERSION_STRING \"${GRAFT_VERSION}\"")
  message(FATAL_ERROR "include/graft/version.hpp: GRAFT_VERSION_STRING does not say ${GRAFT_VERSION}")
endif()
