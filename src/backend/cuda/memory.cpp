#include "graft/backend/cuda/memory.hpp"

#include <array>
#include <memory>
#include <utility>

namespace graft::cuda {
namespace {
thread_local std::vector<ParkedBlock>* parking = nullptr;
}  // namespace

ParkFrees::ParkFrees(std::vector<ParkedBlock>& into) : previous_(std::exchange(parking, &into)) {}
ParkFrees::~ParkFrees() { parking = previous_; }

void release_parked(std::vector<ParkedBlock>& blocks) {
  for (const ParkedBlock& b : blocks) b.allocator->deallocate(b.block, b.bytes, b.stream);
  blocks.clear();
}

std::size_t DeviceAllocator::size_class(std::size_t bytes) {
  constexpr std::size_t small_step = 512, large_step = 2 << 20, small_limit = 1 << 20;
  const std::size_t step = bytes < small_limit ? small_step : large_step;
  return std::max(step, (bytes + step - 1) / step * step);
}

DeviceAllocator& DeviceAllocator::of_device(int device) {
  constexpr int max_devices = 64;
  static std::array<std::unique_ptr<DeviceAllocator>, max_devices> allocators;
  static std::mutex creation;
  graft::check(device >= 0 && device < max_devices, "DeviceAllocator::of_device(", device, "): no such device");
  std::lock_guard lock(creation);
  auto& slot = allocators[static_cast<std::size_t>(device)];
  if (!slot) slot.reset(new DeviceAllocator(device));
  return *slot;
}

DeviceAllocator& DeviceAllocator::current() {
  int device = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  return of_device(device);
}

void* DeviceAllocator::allocate(std::size_t bytes, cudaStream_t stream) {
  const std::size_t size = size_class(bytes);
  // Inside a capture, a block the same graph freed earlier on this stream is
  // reused first: the graph orders its reuse after its last use, and a
  // capture may not call cudaMalloc at all.
  if (parking) {
    for (auto it = parking->begin(); it != parking->end(); ++it)
      if (it->allocator == this && it->stream == stream && size_class(it->bytes) == size) {
        void* block = it->block;
        parking->erase(it);
        return block;  // still counted as in use: it never left the graph
      }
  }
  std::lock_guard lock(mutex_);
  if (auto it = cached_.find({stream, size}); it != cached_.end() && !it->second.empty()) {
    void* block = it->second.back();
    it->second.pop_back();
    stats_.in_use_bytes += std::int64_t(size);
    return block;
  }
  void* block = nullptr;
  check(cudaMalloc(&block, size), "cudaMalloc (" + std::to_string(size) + " bytes on device " + std::to_string(device_) + ", " +
                                      std::to_string(stats_.reserved_bytes) + " already reserved by graft)");
  ++stats_.device_allocations;
  stats_.reserved_bytes += std::int64_t(size);
  stats_.in_use_bytes += std::int64_t(size);
  return block;
}

void DeviceAllocator::deallocate(void* block, std::size_t bytes, cudaStream_t stream) {
  if (parking) {  // still in use by the graph being captured: neither cached nor counted as free
    std::vector<ParkedBlock>* into = std::exchange(parking, nullptr);
    into->push_back({this, block, bytes, stream});
    parking = into;
    return;
  }
  const std::size_t size = size_class(bytes);
  std::lock_guard lock(mutex_);
  cached_[{stream, size}].push_back(block);
  stats_.in_use_bytes -= std::int64_t(size);
}

void DeviceAllocator::release_cached() {
  std::lock_guard lock(mutex_);
  int previous = 0;
  check(cudaGetDevice(&previous), "cudaGetDevice");
  check(cudaSetDevice(device_), "cudaSetDevice");
  check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
  for (auto& [key, blocks] : cached_) {
    for (void* block : blocks) check(cudaFree(block), "cudaFree");
    stats_.reserved_bytes -= std::int64_t(key.second * blocks.size());
  }
  cached_.clear();
  check(cudaSetDevice(previous), "cudaSetDevice");
}

MemoryStats DeviceAllocator::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

}  // namespace graft::cuda
