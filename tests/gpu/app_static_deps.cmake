# Included (CMAKE_PROJECT_INCLUDE) by tests/gpu/build.sh's application build
# only: the lent GPU machines have no OpenCV, dlib or BLAS and nothing can be
# installed there, so faceswap and graft-bench link them statically: OpenCV
# from build-app/opencv (tests/gpu/opencv.sh), dlib and OpenBLAS from
# Debian's static archives. Declaring dlib::dlib before find_package(dlib)
# makes dlib's own config take this target instead of libdlib.so.
set(graft_debian_lib /usr/lib/x86_64-linux-gnu)
if(NOT TARGET dlib::dlib)
  add_library(dlib::dlib STATIC IMPORTED)
  set_target_properties(dlib::dlib PROPERTIES
    IMPORTED_LOCATION ${graft_debian_lib}/libdlib.a
    INTERFACE_INCLUDE_DIRECTORIES /usr/include
    # dlib's headers call BLAS and LAPACK (its config.h asks for them); OpenBLAS's archive has both.
    INTERFACE_LINK_LIBRARIES "${graft_debian_lib}/openblas-pthread/libopenblas.a;-l:libgfortran.a;-l:libquadmath.a;Threads::Threads")
endif()
find_package(Threads REQUIRED)
