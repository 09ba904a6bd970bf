# graft::cuda: device memory, streams and the backend's own kernels, for
# sm_86 (A10G, AWS G5) and sm_90 (H100, AWS P5).
#
# ptxas reports register spills and local memory of every kernel as
# warnings, and -Werror makes them errors: a hot kernel that spills does not
# build.
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
  set(CMAKE_CUDA_ARCHITECTURES 86 90)
endif()
enable_language(CUDA)
# CMake 3.25 does not know nvcc 13's C++20 flag; graft's CUDA code is C++20
# (concepts, class-type template parameters), as its C++ is.
if(NOT CMAKE_CUDA20_STANDARD_COMPILE_OPTION)
  set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
  set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
endif()
find_package(CUDAToolkit REQUIRED)

add_library(graft_cuda STATIC
  src/backend/cuda/memory.cpp
  src/backend/cuda/dense.cpp
  src/backend/cuda/elementwise.cu
  src/backend/cuda/layout.cu
  src/backend/cuda/optim.cu
  src/backend/cuda/bias_gradient.cu
  src/backend/cuda/loss.cu
  src/backend/cuda/fused_loss.cu)
add_library(graft::cuda ALIAS graft_cuda)
set_target_properties(graft_cuda PROPERTIES EXPORT_NAME cuda POSITION_INDEPENDENT_CODE ON CUDA_STANDARD 20
                                            CUDA_STANDARD_REQUIRED ON)
target_include_directories(graft_cuda PUBLIC
  $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
  $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
target_compile_features(graft_cuda INTERFACE cxx_std_20)
target_compile_definitions(graft_cuda PUBLIC GRAFT_WITH_CUDA=1)
# The static runtime: a binary built here runs on a GPU machine whatever its CUDA install.
target_link_libraries(graft_cuda PUBLIC CUDA::cudart_static CUDA::cublasLt)
# NCCL (comm::Nccl, header-only) where the CUDA install has it.
find_library(GRAFT_NCCL_LIBRARY nccl HINTS ${CUDAToolkit_LIBRARY_DIR})
find_path(GRAFT_NCCL_INCLUDE_DIR nccl.h HINTS ${CUDAToolkit_INCLUDE_DIRS})
if(GRAFT_NCCL_LIBRARY AND GRAFT_NCCL_INCLUDE_DIR)
  target_link_libraries(graft_cuda PUBLIC ${GRAFT_NCCL_LIBRARY})
  target_include_directories(graft_cuda PUBLIC $<BUILD_INTERFACE:${GRAFT_NCCL_INCLUDE_DIR}>)
  target_compile_definitions(graft_cuda PUBLIC GRAFT_WITH_NCCL=1)
else()
  message(STATUS "graft: NCCL not found; comm::Nccl is left out")
endif()
# The optimizers' rules are the CPU's own formulas: without fused multiply-adds
# the GPU rounds them as the CPU does (no -march there), and the kernel is
# memory-bound, so FMA would save nothing.
set_source_files_properties(src/backend/cuda/optim.cu PROPERTIES COMPILE_OPTIONS --fmad=false)
# cuDNN's graph API through the header-only cudnn-frontend (PyPI's
# nvidia-cudnn-frontend, which scripts/setup-debian.sh installs; its headers
# land in Python's site-packages/include). Without it the convolutions are left out.
find_package(Python3 COMPONENTS Interpreter QUIET)
if(Python3_FOUND)
  execute_process(COMMAND ${Python3_EXECUTABLE} -c "import sysconfig; print(sysconfig.get_paths()['purelib'])"
                  OUTPUT_VARIABLE graft_python_site OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
endif()
find_path(GRAFT_CUDNN_FRONTEND_INCLUDE_DIR cudnn_frontend.h HINTS ${graft_python_site}/include)
find_library(GRAFT_CUDNN_LIBRARY cudnn HINTS ${CUDAToolkit_LIBRARY_DIR})
if(GRAFT_CUDNN_FRONTEND_INCLUDE_DIR AND GRAFT_CUDNN_LIBRARY)
  target_sources(graft_cuda PRIVATE src/backend/cuda/conv.cpp)
  # PRIVATE: the frontend is an implementation detail of conv.cpp; consumers link cuDNN.
  target_include_directories(graft_cuda SYSTEM PRIVATE ${GRAFT_CUDNN_FRONTEND_INCLUDE_DIR})
  # The frontend loads cuDNN's engines and NVRTC (used only by its experimental
  # kernels) with dlopen, so a binary does not need the 100 MB NVRTC to start.
  target_compile_definitions(graft_cuda PRIVATE NV_CUDNN_FRONTEND_USE_DYNAMIC_LOADING)
  target_link_libraries(graft_cuda PUBLIC ${CMAKE_DL_LIBS})
  target_link_libraries(graft_cuda PUBLIC ${GRAFT_CUDNN_LIBRARY})
  target_compile_definitions(graft_cuda PUBLIC GRAFT_WITH_CUDNN=1)
else()
  message(STATUS "graft: cudnn-frontend or cuDNN not found (pip install nvidia-cudnn-frontend); cuda::Cudnn is left out")
endif()
target_compile_options(graft_cuda PRIVATE
  # 554: nvcc's front end notes that BasicView<const T>'s conversion to itself
  # (tensor.hpp) is never called, which is the point; g++ is silent.
  $<$<COMPILE_LANGUAGE:CUDA>:--expt-relaxed-constexpr -diag-suppress=554 -Xptxas=-warn-spills,-warn-lmem-usage,-Werror>
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra>)
# Brought in by FetchContent, graft compiles its CUDA code only for a target that links graft::cuda.
if(NOT PROJECT_IS_TOP_LEVEL)
  set_target_properties(graft_cuda PROPERTIES EXCLUDE_FROM_ALL ON)
endif()
