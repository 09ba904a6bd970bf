// Owning host memory, 64-byte aligned, recycled through a caching allocator.
//
// A training step allocates the same activation sizes every step; returning
// those blocks to the OS and faulting them in again costs more than the math
// of small layers. The cache keeps freed blocks by byte size and hands them
// back on the next request of that size. Memory is aligned to 64 bytes so
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
        return p;
      }
    }
    void* p = std::aligned_alloc(host_alignment, rounded);
    if (!p) throw std::bad_alloc();
    return p;
  }

  void deallocate(void* p, std::size_t bytes) {
    if (!p) return;
    std::lock_guard lock(mutex_);
    free_[round_up(bytes)].push_back(p);
  }

  // Gives every cached block back to the system.
  void release_cached() {
    std::lock_guard lock(mutex_);
    for (auto& [size, blocks] : free_)
      for (void* p : blocks) std::free(p);
    free_.clear();
  }

  ~HostAllocator() { release_cached(); }

 private:
  static std::size_t round_up(std::size_t bytes) {
    return (std::max<std::size_t>(bytes, 1) + host_alignment - 1) / host_alignment * host_alignment;
  }
  std::mutex mutex_;
  std::map<std::size_t, std::vector<void*>> free_;
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
