// Device memory: a caching allocator per GPU, and DeviceBuffer, which owns a
// block of it.
//
// cudaMalloc and cudaFree synchronise the device and cost tens of
// microseconds, and a captured CUDA graph may not allocate at all. So blocks
// are rounded to size classes (512 B steps below 1 MiB, 2 MiB steps above),
// kept when freed, and handed out again to a later request of the same class
// on the same stream: stream order makes the reuse safe without an event.
// After the first steps a training loop allocates nothing new; stats() lets
// a test prove it. No managed memory.
//
// A captured CUDA graph keeps the addresses of the temporaries its step used,
// and every replay writes them again; a block freed during the capture must
// therefore never go to anyone else. ParkFrees (which StepGraph uses) parks
// such blocks with the graph until it is destroyed.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "graft/backend/cuda/check.hpp"

namespace graft::cuda {

struct MemoryStats {
  std::int64_t in_use_bytes = 0;    // handed out and not yet given back
  std::int64_t reserved_bytes = 0;  // obtained from cudaMalloc (in use or cached)
  std::int64_t device_allocations = 0;  // cudaMalloc calls so far
};

class DeviceAllocator;

// A block freed while a step was being captured: its graph still uses it.
struct ParkedBlock {
  DeviceAllocator* allocator;
  void* block;
  std::size_t bytes;
  cudaStream_t stream;
};

class DeviceAllocator {
 public:
  // The allocator of `device` (created on first use; one per GPU for the process).
  static DeviceAllocator& of_device(int device);
  // The allocator of the current device (cudaGetDevice).
  static DeviceAllocator& current();

  void* allocate(std::size_t bytes, cudaStream_t stream);
  void deallocate(void* block, std::size_t bytes, cudaStream_t stream);
  // Frees the cached blocks (after synchronising the device).
  void release_cached();
  MemoryStats stats() const;

  static std::size_t size_class(std::size_t bytes);

  DeviceAllocator(const DeviceAllocator&) = delete;
  DeviceAllocator& operator=(const DeviceAllocator&) = delete;

 private:
  explicit DeviceAllocator(int device) : device_(device) {}
  int device_;
  mutable std::mutex mutex_;
  std::map<std::pair<cudaStream_t, std::size_t>, std::vector<void*>> cached_;
  MemoryStats stats_;
};

// `count` elements of T on the current device, from its caching allocator,
// ordered on `stream`. Uninitialised.
// While alive, the blocks this thread frees are parked in `into` instead of
// being cached for reuse, and this thread's allocations take a parked block
// of their size class and stream first (the graph being captured orders the
// reuse); release_parked() gives them back.
class ParkFrees {
 public:
  explicit ParkFrees(std::vector<ParkedBlock>& into);
  ~ParkFrees();
  ParkFrees(const ParkFrees&) = delete;
  ParkFrees& operator=(const ParkFrees&) = delete;

 private:
  std::vector<ParkedBlock>* previous_;
};
void release_parked(std::vector<ParkedBlock>& blocks);

template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t count, cudaStream_t stream = nullptr)
      : allocator_(&DeviceAllocator::current()),
        data_(static_cast<T*>(allocator_->allocate(count * sizeof(T), stream))),
        count_(count),
        stream_(stream) {}
  ~DeviceBuffer() { reset(); }
  DeviceBuffer(DeviceBuffer&& other) noexcept { swap(other); }
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept {
    DeviceBuffer(std::move(other)).swap(*this);
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  T* data() const { return data_; }
  std::size_t size() const { return count_; }
  std::size_t bytes() const { return count_ * sizeof(T); }
  cudaStream_t stream() const { return stream_; }

  void copy_from_host(const T* host) {
    check(cudaMemcpyAsync(data_, host, bytes(), cudaMemcpyHostToDevice, stream_), "cudaMemcpyAsync (host to device)");
  }
  void copy_to_host(T* host) const {
    check(cudaMemcpyAsync(host, data_, bytes(), cudaMemcpyDeviceToHost, stream_), "cudaMemcpyAsync (device to host)");
    check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
  }
  // Every byte set to `byte` (0xFF: NaN in f32 and bf16, to poison outputs in tests).
  void fill_bytes(int byte) { check(cudaMemsetAsync(data_, byte, bytes(), stream_), "cudaMemsetAsync"); }

 private:
  void reset() {
    if (data_) allocator_->deallocate(data_, bytes(), stream_);
    data_ = nullptr;
  }
  void swap(DeviceBuffer& other) noexcept {
    std::swap(allocator_, other.allocator_);
    std::swap(data_, other.data_);
    std::swap(count_, other.count_);
    std::swap(stream_, other.stream_);
  }
  DeviceAllocator* allocator_ = nullptr;
  T* data_ = nullptr;
  std::size_t count_ = 0;
  cudaStream_t stream_ = nullptr;
};

}  // namespace graft::cuda
