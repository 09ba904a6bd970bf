// What a layer needs to run on the GPU: the stream, the cuDNN and cuBLASLt
// handles, and activations on the device.
//
// Device activations are bf16. Their Shape is the same logical, batched shape
// the CPU backend uses ((N, C, H, W) for images, (N, F) for vectors); images
// are stored channels-last, (N, H, W, C), the layout cuDNN's tensor-core
// convolutions run fastest in. Vectors are stored as they are.
#pragma once

#include <cuda_runtime_api.h>

#include <map>
#include <string>
#include <vector>

#include "graft/backend/cuda/conv.hpp"
#include "graft/backend/cuda/dense.hpp"
#include "graft/backend/cuda/memory.hpp"
#include "graft/backend/cuda/stream.hpp"
#include "graft/core/tensor.hpp"

namespace graft::nn::cuda {

namespace gpu = graft::cuda;

// Where a step's time goes, by kind of operation: an event after each
// operation (only while profiling; never inside a capture), the time between
// consecutive events charged to the later one's label. Moments that are not
// operations (a part's gradients becoming final) are noted apart, so that
// they take no time from the operations around them.
class Timeline {
 public:
  void mark(const char* label, cudaStream_t stream) {
    marks_.emplace_back(label, gpu::Event(true));
    marks_.back().second.record(stream);
  }
  void note(std::string label, cudaStream_t stream) {
    notes_.emplace_back(std::move(label), gpu::Event(true));
    notes_.back().second.record(stream);
  }
  // Milliseconds per label (synchronises on the last event).
  std::map<std::string, double> totals() const {
    std::map<std::string, double> out;
    if (marks_.empty()) return out;
    marks_.back().second.synchronize();
    for (std::size_t i = 1; i < marks_.size(); ++i)
      out[marks_[i].first] += marks_[i].second.milliseconds_since(marks_[i - 1].second);
    return out;
  }
  // Milliseconds from the first mark to each note, in the order noted (synchronises on the last).
  std::vector<double> notes_since_start() const {
    std::vector<double> out;
    if (marks_.empty() || notes_.empty()) return out;
    notes_.back().second.synchronize();
    for (const auto& [label, event] : notes_) out.push_back(event.milliseconds_since(marks_.front().second));
    return out;
  }
  void clear() {
    marks_.clear();
    notes_.clear();
  }

 private:
  std::vector<std::pair<std::string, gpu::Event>> marks_, notes_;
};

// One per thread and GPU, like the handles it holds.
struct Context {
  cudaStream_t stream;
  gpu::Cudnn& cudnn;
  gpu::CublasLt& blas;
  // Convolutions add their weight gradients to the buffer (a module may run
  // twice in a step, like the CPU's). A step that zeroes the gradients and
  // runs every module once sets this to false, and the convolutions write
  // their weight gradients directly: one pass over them less.
  bool accumulate_gradients = true;
  Timeline* timeline = nullptr;  // set while profiling

  // Ends an operation for the profile (nothing unless profiling).
  void mark(const char* label) const {
    if (timeline) timeline->mark(label, stream);
  }
};

// A view of device memory (bf16 activations, NHWC for images).
using DeviceView = BasicView<bf16>;
using ConstDeviceView = BasicView<const bf16>;

// An activation owned on the device, from the caching allocator (stream-ordered).
struct DeviceTensor {
  gpu::DeviceBuffer<bf16> buffer;
  Shape shape;

  DeviceTensor() = default;
  DeviceTensor(const Context& context, const Shape& s)
      : buffer(static_cast<std::size_t>(s.numel()), context.stream), shape(s) {}

  DeviceView view() { return {buffer.data(), shape}; }
  ConstDeviceView view() const { return {buffer.data(), shape}; }
  std::int64_t numel() const { return shape.numel(); }
};

}  // namespace graft::nn::cuda
