// Everything for data-parallel training: communicators, DataParallel, the sampler.
#pragma once

#include "graft/comm/communicator.hpp"
#include "graft/comm/compressed.hpp"
#include "graft/comm/single.hpp"
#include "graft/comm/threads.hpp"
#include "graft/ddp/bucket_plan.hpp"
#include "graft/ddp/data_parallel.hpp"
#include "graft/ddp/distributed_sampler.hpp"
#if defined(GRAFT_WITH_MPI)
#include "graft/comm/mpi.hpp"
#endif
