// Streams and events, owned (RAII). A step runs on one compute stream; the
// gradient all-reduces run on a communication stream that waits on an event
// recorded when a bucket's gradients are final, so neither waits on the host.
#pragma once

#include <cuda_runtime_api.h>

#include <utility>

#include "graft/backend/cuda/check.hpp"

namespace graft::cuda {

// Owns one CUDA handle (a stream, an event), destroyed with `Destroy`; moves, never copies.
template <class Handle, cudaError_t (*Destroy)(Handle)>
class UniqueHandle {
 public:
  UniqueHandle() = default;
  ~UniqueHandle() {
    if (handle_) Destroy(handle_);
  }
  UniqueHandle(UniqueHandle&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  UniqueHandle& operator=(UniqueHandle&& other) noexcept {
    std::swap(handle_, other.handle_);
    return *this;
  }
  UniqueHandle(const UniqueHandle&) = delete;
  UniqueHandle& operator=(const UniqueHandle&) = delete;

  Handle get() const { return handle_; }

 protected:
  Handle handle_ = nullptr;
};

class Stream : public UniqueHandle<cudaStream_t, cudaStreamDestroy> {
 public:
  Stream() { check(cudaStreamCreateWithFlags(&handle_, cudaStreamNonBlocking), "cudaStreamCreateWithFlags"); }

  operator cudaStream_t() const { return handle_; }
  void synchronize() const { check(cudaStreamSynchronize(handle_), "cudaStreamSynchronize"); }
};

class Event : public UniqueHandle<cudaEvent_t, cudaEventDestroy> {
 public:
  // Timing off unless asked: a timing event costs more to record.
  explicit Event(bool timing = false) {
    check(cudaEventCreateWithFlags(&handle_, timing ? cudaEventDefault : cudaEventDisableTiming), "cudaEventCreateWithFlags");
  }

  void record(cudaStream_t stream) { check(cudaEventRecord(handle_, stream), "cudaEventRecord"); }
  // `stream` waits (on the device) until the work recorded before this event is done.
  void make_wait(cudaStream_t stream) const { check(cudaStreamWaitEvent(stream, handle_, 0), "cudaStreamWaitEvent"); }
  void synchronize() const { check(cudaEventSynchronize(handle_), "cudaEventSynchronize"); }
  // Milliseconds between `start` and this event (both recorded with timing on).
  float milliseconds_since(const Event& start) const {
    float ms = 0;
    check(cudaEventElapsedTime(&ms, start.handle_, handle_), "cudaEventElapsedTime");
    return ms;
  }
};

}  // namespace graft::cuda
