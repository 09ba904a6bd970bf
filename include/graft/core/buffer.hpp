// Owning host memory, 64-byte aligned, recycled through a caching allocator.
//
// A training step allocates the same activation sizes every step; returning
// those blocks to the OS and faulting them in again costs more than the math
// of small layers. The cache keeps freed blocks by byte size and hands them
// back on the next request of that size, up to a limit (4 GiB, or
// GRAFT_HOST_CACHE_MIB) above which freed blocks go back to the system, so a
// run whose sizes change (a last partial batch, a preview) does not grow
// without bound. Memory is aligned to 64 bytes so
// that vector loads and oneDNN never see a split cache line.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <span>
#include <utility>
#include <vector>

namespace graft {

inline constexpr std::size_t host_alignment = 64;

class HostAllocator {
 public:
  static HostAllocator& instance() {
    static HostAllocator allocator;
    return allocator;
  }

  void* allocate(std::size_t bytes) {
    const std::size_t rounded = round_up(bytes);
    {
      std::lock_guard lock(mutex_);
      auto it = free_.find(rounded);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        cached_bytes_ -= rounded;
        return p;
      }
    }
    void* p = std::aligned_alloc(host_alignment, rounded);
    if (!p) throw std::bad_alloc();
    return p;
  }

  void deallocate(void* p, std::size_t bytes) {
    if (!p) return;
    const std::size_t rounded = round_up(bytes);
    {
      std::lock_guard lock(mutex_);
      if (cached_bytes_ + rounded <= cache_limit_) {
        free_[rounded].push_back(p);
        cached_bytes_ += rounded;
        return;
      }
    }
    std::free(p);
  }

  std::size_t cached_bytes() const {
    std::lock_guard lock(mutex_);
    return cached_bytes_;
  }

  // Gives every cached block back to the system.
  void release_cached() {
    std::lock_guard lock(mutex_);
    for (auto& [size, blocks] : free_)
      for (void* p : blocks) std::free(p);
    free_.clear();
    cached_bytes_ = 0;
  }

  ~HostAllocator() { release_cached(); }

 private:
  static std::size_t round_up(std::size_t bytes) {
    return (std::max<std::size_t>(bytes, 1) + host_alignment - 1) / host_alignment * host_alignment;
  }
  static std::size_t limit_from_env() {
    const char* mib = std::getenv("GRAFT_HOST_CACHE_MIB");
    return (mib ? std::strtoull(mib, nullptr, 10) : 4096ull) << 20;
  }

  mutable std::mutex mutex_;
  std::map<std::size_t, std::vector<void*>> free_;
  std::size_t cached_bytes_ = 0;
  const std::size_t cache_limit_ = limit_from_env();
};

// A contiguous, aligned array of T that owns its memory. Not zeroed unless asked.
template <class T>
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(std::size_t count) : size_(count) {
    if (count) data_ = static_cast<T*>(HostAllocator::instance().allocate(count * sizeof(T)));
  }
  AlignedBuffer(std::size_t count, T fill) : AlignedBuffer(count) { std::fill_n(data_, count, fill); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  AlignedBuffer(AlignedBuffer&& o) noexcept : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  ~AlignedBuffer() { reset(); }

  T* data() { return data_; }
  const T* data() const { return data_; }
  std::size_t size() const { return size_; }
  std::span<T> span() { return {data_, size_}; }
  std::span<const T> span() const { return {data_, size_}; }
  T& operator[](std::size_t i) { return data_[i]; }
  const T& operator[](std::size_t i) const { return data_[i]; }
  void zero() {
    if (size_) std::memset(data_, 0, size_ * sizeof(T));
  }

 private:
  void reset() {
    HostAllocator::instance().deallocate(data_, size_ * sizeof(T));
    data_ = nullptr;
    size_ = 0;
  }
  T* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace graft
