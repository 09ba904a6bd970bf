// GRAFT_HOST_DEVICE marks a function that the CPU backend and CUDA kernels
// share (an optimizer's per-element rule, a loss's per-pixel term), so that
// both backends compute with one formula. Plain inline code for g++; host
// and device code under nvcc.
#pragma once

#if defined(__CUDACC__)
#define GRAFT_HOST_DEVICE __host__ __device__
#else
#define GRAFT_HOST_DEVICE
#endif
