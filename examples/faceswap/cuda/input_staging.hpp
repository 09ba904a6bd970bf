// A training step's batch on its way to the GPU: the layout of the four
// arrays a SAEHD step reads, and InputStaging, which moves each batch from
// pinned host memory into the fixed device buffer a captured step reads
// while the previous step computes.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include <graft/backend/cuda/check.hpp>
#include <graft/backend/cuda/memory.hpp>
#include <graft/backend/cuda/stream.hpp>

namespace faceswap::cuda {

namespace gpu = graft::cuda;

// The inputs of a step, NCHW f32 as the loader makes them, src's B samples
// then dst's: warped (2B,3,R,R), target (2B,3,R,R), mask (2B,1,R,R),
// loss_mask (2B,1,R,R), and with eyes-and-mouth priority eyes_mouth (2B,1,R,R).
struct BatchLayout {
  std::int64_t per_side, resolution;
  bool with_eyes_mouth = false;
  std::int64_t images() const { return 2 * per_side * 3 * resolution * resolution; }
  std::int64_t masks() const { return 2 * per_side * resolution * resolution; }
  std::int64_t floats() const { return 2 * images() + (with_eyes_mouth ? 3 : 2) * masks(); }
  // Offsets of the arrays in one contiguous batch.
  std::int64_t warped() const { return 0; }
  std::int64_t target() const { return images(); }
  std::int64_t mask() const { return 2 * images(); }
  std::int64_t loss_mask() const { return 2 * images() + masks(); }
  std::int64_t eyes_mouth() const { return 2 * images() + 2 * masks(); }
};

// Batches from pinned host memory into the fixed device buffer a captured
// step reads, without stalling the step: the host fills a pinned slot, the
// copy to a staging buffer runs on its own stream while the previous step
// computes, and the step starts with one device-to-device copy.
class InputStaging {
 public:
  InputStaging(const BatchLayout& layout, int slots, cudaStream_t compute)
      : layout_(layout), compute_(compute), staging_(std::size_t(layout.floats()), copy_stream_), inputs_(std::size_t(layout.floats()), compute) {
    uploaded_.resize(std::size_t(slots));
    for (int k = 0; k < slots; ++k) {
      void* p = nullptr;
      gpu::check(cudaMallocHost(&p, std::size_t(layout.floats()) * sizeof(float)), "cudaMallocHost (input staging)");
      host_.emplace_back(static_cast<float*>(p));
    }
  }
  ~InputStaging() {
    // Both streams may still read the buffers (the copy, and take()'s copy on the compute stream).
    cudaStreamSynchronize(copy_stream_);
    cudaStreamSynchronize(compute_);
  }
  InputStaging(const InputStaging&) = delete;
  InputStaging& operator=(const InputStaging&) = delete;

  int slots() const { return int(host_.size()); }
  // Slot k for the host to fill: waits until its previous upload has been read.
  float* host_slot(int k) {
    if (uploaded_[std::size_t(k)]) uploaded_[std::size_t(k)]->synchronize();
    return host_[std::size_t(k)].get();
  }
  // Starts copying slot k to the device (after the step before has taken the previous batch).
  void upload(int k) {
    taken_.make_wait(copy_stream_);
    gpu::check(cudaMemcpyAsync(staging_.data(), host_[std::size_t(k)].get(), staging_.bytes(), cudaMemcpyHostToDevice, copy_stream_),
               "cudaMemcpyAsync (input staging)");
    if (!uploaded_[std::size_t(k)]) uploaded_[std::size_t(k)].emplace();
    uploaded_[std::size_t(k)]->record(copy_stream_);
    staged_.record(copy_stream_);
  }
  // On the compute stream, before the step: the uploaded batch into the step's inputs.
  void take() {
    staged_.make_wait(compute_);
    gpu::check(cudaMemcpyAsync(inputs_.data(), staging_.data(), inputs_.bytes(), cudaMemcpyDeviceToDevice, compute_),
               "cudaMemcpyAsync (inputs)");
    taken_.record(compute_);
  }
  const float* inputs() const { return inputs_.data(); }
  const BatchLayout& layout() const { return layout_; }

 private:
  BatchLayout layout_;
  cudaStream_t compute_;
  gpu::Stream copy_stream_;
  gpu::Event staged_, taken_;
  gpu::DeviceBuffer<float> staging_, inputs_;
  struct FreeHost {
    void operator()(float* p) const { cudaFreeHost(p); }
  };
  std::vector<std::unique_ptr<float, FreeHost>> host_;
  std::vector<std::optional<gpu::Event>> uploaded_;
};

}  // namespace faceswap::cuda
