// comm::Nccl: gradient all-reduces between GPUs with NCCL, one rank per GPU.
//
// NCCL needs every rank to hold the same unique id before ncclCommInitRank;
// a host communicator carries it: comm::Mpi (one process per GPU) or
// comm::Threads (one thread per GPU), whichever started the job. After that
// the collectives work on device memory and are enqueued on a stream: the
// DDP step records an event on the compute stream when a bucket's gradients
// are final, the communication stream waits on it (no host synchronisation)
// and the all-reduce runs beside the rest of backward. Enqueued inside a
// stream capture they become part of the step's CUDA graph.
//
// Faults: wait() polls the stream and ncclCommGetAsyncError; an error, or
// no progress within the timeout (a rank that died or hangs), ends the
// communicator with ncclCommAbort and throws CommError naming this rank, the
// operation and the cause, so that no rank blocks forever.
#pragma once

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <chrono>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "graft/backend/cuda/check.hpp"
#include "graft/comm/communicator.hpp"

namespace graft::comm {

inline void check_nccl(ncclResult_t status, const std::string& call,
                       std::source_location at = std::source_location::current()) {
  if (status != ncclSuccess)
    throw CommError(concat(call, ": ", ncclGetErrorString(status), " (NCCL ", int(status), ") at ", cuda::where(at)));
}

struct NcclOptions {
  std::chrono::milliseconds timeout = default_timeout;
};

class Nccl {
 public:
  static constexpr std::string_view name = "nccl";

  // Every rank of `bootstrap` calls this with its own GPU.
  template <Communicator Bootstrap>
  Nccl(Bootstrap& bootstrap, int device, NcclOptions options = {})
      : rank_(bootstrap.rank()), size_(bootstrap.size()), device_(device), options_(options) {
    cuda::check(cudaSetDevice(device), "cudaSetDevice(" + std::to_string(device) + ")");
    ncclUniqueId id{};
    if (rank_ == 0) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
    bootstrap.broadcast(std::as_writable_bytes(std::span(&id, 1)), 0);
    check_nccl(ncclCommInitRank(&comm_, size_, id, rank_),
               concat("ncclCommInitRank (rank ", rank_, " of ", size_, " on GPU ", device, ")"));
  }
  ~Nccl() {
    if (comm_) ncclCommDestroy(comm_);  // after abort() there is nothing left to destroy
  }
  Nccl(const Nccl&) = delete;
  Nccl& operator=(const Nccl&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  int device() const { return device_; }

  // In place, on `stream`: every rank ends with the element-wise sum (or mean) of `count` values at `data`.
  void all_reduce_sum(float* data, std::size_t count, cudaStream_t stream) { reduce(data, count, ncclFloat32, ncclSum, stream); }
  void all_reduce_sum(bf16* data, std::size_t count, cudaStream_t stream) { reduce(data, count, ncclBfloat16, ncclSum, stream); }
  void all_reduce_mean(float* data, std::size_t count, cudaStream_t stream) { reduce(data, count, ncclFloat32, ncclAvg, stream); }
  void all_reduce_mean(bf16* data, std::size_t count, cudaStream_t stream) { reduce(data, count, ncclBfloat16, ncclAvg, stream); }
  // Every rank ends with root's `count` floats.
  void broadcast(float* data, std::size_t count, int root, cudaStream_t stream) {
    check_root("comm::Nccl", root, size_);
    check_alive();
    check_nccl(ncclBroadcast(data, data, count, ncclFloat32, root, comm_, stream), "ncclBroadcast");
  }

  // Waits until `stream` has finished, watching for NCCL errors and the timeout (see above).
  void wait(cudaStream_t stream, std::string_view what = "the step's collectives") {
    check_alive();
    const auto deadline = std::chrono::steady_clock::now() + options_.timeout;
    for (;;) {
      const cudaError_t done = cudaStreamQuery(stream);
      if (done == cudaSuccess) return;
      if (done != cudaErrorNotReady) cuda::check(done, concat("cudaStreamQuery while waiting for ", what));
      ncclResult_t async = ncclSuccess;
      check_nccl(ncclCommGetAsyncError(comm_, &async), "ncclCommGetAsyncError");
      if (async != ncclSuccess && async != ncclInProgress)
        fail_with(concat("rank ", rank_, ": ", what, " failed: ", ncclGetErrorString(async)));
      if (std::chrono::steady_clock::now() > deadline)
        fail_with(concat("rank ", rank_, " waited ", options_.timeout.count(), " ms for ", what,
                         "; another rank has stopped or hangs"));
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }

  // Ends the communicator; collectives in flight on any rank fail instead of waiting.
  void abort(std::string_view why) {
    if (comm_) ncclCommAbort(std::exchange(comm_, nullptr));
    reason_ = std::string(why);
  }

 private:
  void check_alive() const {
    if (!comm_) throw Aborted(concat("comm::Nccl rank ", rank_, ": the communicator was aborted (", reason_, ")"));
  }
  void reduce(void* data, std::size_t count, ncclDataType_t type, ncclRedOp_t op, cudaStream_t stream) {
    check_alive();
    check_nccl(ncclAllReduce(data, data, count, type, op, comm_, stream), "ncclAllReduce");
  }
  [[noreturn]] void fail_with(const std::string& message) {
    abort(message);
    throw CommError(message);
  }

  int rank_, size_, device_;
  NcclOptions options_;
  ncclComm_t comm_ = nullptr;
  std::string reason_;  // why abort() was called
};

}  // namespace graft::comm
