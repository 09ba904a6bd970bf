// A SAEHD training step on one GPU, from graft's CUDA backend: the model's
// own types run by nn::cuda (bf16 channels-last activations, f32 master
// weights), DeepFaceLab's loss on the device, gradients all-reduced (summed)
// per part over NCCL on a communication stream, the optimizer as one kernel
// over the flat buffer. After a warm-up step the whole step is captured as
// one CUDA graph and replayed.
//
// SaehdDeviceStep<Architecture, Optimizer> holds what every architecture
// shares (the device model, the loss, the reductions, the optimizer, the
// graph, checkpoints and previews); the Architecture says how the parts run:
//   Model                              the CPU model type (nn::Model)
//   forward_backward(step, c, model, x)   one step on x (2B, R, R, 3), src's B
//                                      then dst's: every part forward, step.side_loss
//                                      on each side's decoder output, every part
//                                      backward once, step.reduce_part(i) as part i's
//                                      gradients become final (the last part first)
//   predict(c, model, x)               x (2n, R, R, 3): the src and dst
//                                      reconstructions and the swap, (n, R, R, 4) each
//   swap(c, model, x)                  x (n, R, R, 3) dst faces: the swap alone,
//                                      (n, R, R, 4) (faceswap swap on a GPU)
// DfOnDevice (df_device_step.hpp) and LiaeOnDevice (liae_device_step.hpp)
// are the two; their schedules differ from the CPU steps' (train_step.hpp)
// in running shared modules once on both sides stacked, not in arithmetic.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <graft/backend/cuda/graph.hpp>
#include <graft/backend/cuda/layout.hpp>
#include <graft/backend/cuda/loss.hpp>
#include <graft/backend/cuda/optim.hpp>
#include <graft/backend/cuda/stream.hpp>
#include <graft/loss/dssim.hpp>
#include <graft/nn/cuda/device_model.hpp>
#if defined(GRAFT_WITH_NCCL)
#include <graft/comm/nccl.hpp>
#endif

#include "cuda/faces_on_device.hpp"
#include "cuda/input_staging.hpp"
#include "saehd.hpp"
#include "train_step.hpp"

namespace faceswap::cuda {

namespace gpu = graft::cuda;
namespace nn_cuda = graft::nn::cuda;

// Per-sample loss terms of one step, on the device: [side][term][sample],
// side 0 src, 1 dst; terms DSSIM, DSSIM at the second window (resolution 256
// and above, else zero), MSE, mask MSE, eyes-and-mouth L1 (zero without the
// priority), each unweighted.
struct DeviceLosses {
  static constexpr int terms = 5;
  gpu::DeviceBuffer<double> values;
  std::int64_t per_side;
  std::array<double, terms> weights;  // DeepFaceLab's: 10 each, the DSSIM's split 5 + 5 from 256, eyes and mouth 300

  DeviceLosses(std::int64_t per_side_, int resolution, bool eyes_mouth, cudaStream_t stream)
      : values(std::size_t(2 * terms * per_side_), stream),
        per_side(per_side_),
        weights{resolution >= 256 ? 5.0 : 10.0, resolution >= 256 ? 5.0 : 0.0, 10.0, 10.0, eyes_mouth ? 300.0 : 0.0} {
    values.fill_bytes(0);
  }
  double* term(int side, int t) { return values.data() + (side * terms + t) * per_side; }

  // Batch means of the weighted sum per side (src, dst), as DeepFaceLab prints them (synchronises).
  std::array<double, 2> means(cudaStream_t stream) const {
    std::vector<double> host(values.size());
    gpu::check(cudaMemcpyAsync(host.data(), values.data(), values.bytes(), cudaMemcpyDeviceToHost, stream),
               "cudaMemcpyAsync (losses)");
    gpu::check(cudaStreamSynchronize(stream), "cudaStreamSynchronize (losses)");
    std::array<double, 2> out{};
    for (int side = 0; side < 2; ++side)
      for (int t = 0; t < terms; ++t)
        for (std::int64_t b = 0; b < per_side; ++b)
          out[std::size_t(side)] += weights[std::size_t(t)] * host[std::size_t((side * terms + t) * per_side + b)];
    for (double& m : out) m /= double(per_side);
    return out;
  }
};

// Samples [first, first + count) of a batched device tensor, as a view.
template <class Tensor>
auto samples(Tensor& t, std::int64_t first, std::int64_t count) {
  graft::Shape shape = t.shape;
  shape.dims[0] = count;
  return decltype(t.view()){t.buffer.data() + first * (t.numel() / t.shape[0]), shape};
}

template <class Architecture, class Optimizer>
class SaehdDeviceStep {
 public:
  using Model = typename Architecture::Model;
  using Device = nn_cuda::DeviceModel<Model>;
  static constexpr std::int64_t R = Architecture::options.resolution, pixels = R * R;
  static constexpr std::size_t parts = Device::part_offsets.size();

  // With eyes_mouth_priority, batches carry the eyes/mouth masks (layout())
  // and the loss adds DeepFaceLab's 300 |(P - T) EM| term.
  SaehdDeviceStep(const Model& host, typename Optimizer::Config optimizer, std::int64_t per_side, float lr, cudaStream_t stream,
                  gpu::CudnnOptions cudnn = {}, bool eyes_mouth_priority = false)
      : stream_(stream),
        layout_{per_side, R, eyes_mouth_priority},
        cudnn_(cudnn),
        model_(host, stream),
        optimizer_(optimizer, Device::size, stream),
        losses_(per_side, int(R), eyes_mouth_priority, stream),
        lr_(lr) {}

#if defined(GRAFT_WITH_NCCL)
  // All-reduce (sum) each part's gradients over `nccl` as soon as its
  // backward is done: DeepFaceLab's loss is a sum over the batch, so the
  // ranks' shares add up, as DataParallel does on the CPU (GradientAverage::sum).
  void all_reduce_over(graft::comm::Nccl& nccl) { nccl_ = &nccl; }
#endif

  // Enqueues one step on the stream, reading the batch at `inputs` (layout()); capturable.
  // With a timeline, every operation is marked in it (profiling; not while capturing).
  void enqueue(const float* inputs, nn_cuda::Timeline* timeline = nullptr) {
    nn_cuda::Context c{stream_, cudnn_, blas_, /*accumulate_gradients=*/false, timeline};
    inputs_ = inputs;
    timeline_ = timeline;
    reduced_order_.clear();
    const std::int64_t B = layout_.per_side;
    c.mark("start");
    model_.zero_gradients();
    c.mark("zero gradients");
    // The stacked batch, channels-last bf16.
    nn_cuda::DeviceTensor x(c, graft::Shape{2 * B, 3, R, R});
    gpu::transpose(inputs + layout_.warped(), x.buffer.data(), 2 * B, 3, pixels, stream_);
    c.mark("inputs to channels-last bf16");
    Architecture::forward_backward(*this, c, model_, std::as_const(x).view());
    join_reductions();
    c.mark("all-reduce (what backward did not hide)");
    optimizer_.step(model_.parameters(), model_.gradients(), model_.parameter_copy(), lr_);
    c.mark("optimizer");
    timeline_ = nullptr;
  }

  // When one step's gradients became final, part by part in the order their
  // all-reduces start, as DataParallel's bucket timeline says it on the CPU
  // (graft-bench projects the step to N GPUs from it).
  struct GradientTimeline {
    std::vector<std::int64_t> bytes;  // each part's f32 gradients
    std::vector<double> ready_s;      // from the step's start (zeroing the gradients, the inputs' layout, then forward)
    double step_s = 0;                // the whole step
  };
  // Runs one step (a real one: the optimizer updates the model) plainly,
  // with every operation timed; not while capturing. Events between the
  // operations make it a little slower than a replay of the graph.
  GradientTimeline timed_step(const float* inputs) {
    nn_cuda::Timeline timeline;
    enqueue(inputs, &timeline);
    GradientTimeline out;
    for (const auto& [label, ms] : timeline.totals()) out.step_s += ms / 1e3;
    // reduce_part() noted each part as it reduced it: the notes follow reduced_order_.
    const std::vector<double> noted_ms = timeline.notes_since_start();
    graft::check(noted_ms.size() == reduced_order_.size(), "SaehdDeviceStep::timed_step: ", reduced_order_.size(), " parts reduced, ",
                 noted_ms.size(), " noted");
    for (std::size_t k = 0; k < reduced_order_.size(); ++k) {
      out.bytes.push_back(part_size(reduced_order_[k]) * std::int64_t(sizeof(float)));
      out.ready_s.push_back(noted_ms[k] / 1e3);
    }
    return out;
  }

  // Runs one step plainly (the warm-up: workspaces and temporaries come to exist), then captures the next.
  void capture(const float* inputs) {
    enqueue(inputs);
    graph_.capture(stream_, [&] { enqueue(inputs); });
  }
  void replay() { graph_.replay(stream_); }
  bool captured() const { return graph_.ready(); }

  // The parameters, the optimizer's slots and its step count to the host
  // objects, in the CPU's layout (for checkpoints and previews); synchronises.
  void download(Model& host, Optimizer& optimizer) {
    model_.download(host);
    optimizer.bind(std::size_t(Device::size));
    auto state = optimizer.state();
    for (int k = 0; k < int(state.size()); ++k) {
      const std::vector<float> values = Device::canonical(optimizer_.slot(k), stream_);
      std::copy(values.begin(), values.end(), state[std::size_t(k)].values.begin());
    }
    optimizer.set_steps(optimizer_.steps());
  }
  // The other way: a resumed run's optimizer state onto the device (the parameters came with the constructor).
  void upload(Optimizer& optimizer) {
    optimizer.bind(std::size_t(Device::size));
    auto state = optimizer.state();
    for (int k = 0; k < int(state.size()); ++k) {
      std::vector<float> values(state[std::size_t(k)].values.begin(), state[std::size_t(k)].values.end());
      Device::to_device_layout(values.data());
      gpu::check(cudaMemcpyAsync(optimizer_.slot(k), values.data(), values.size() * sizeof(float), cudaMemcpyHostToDevice, stream_),
                 "cudaMemcpyAsync (optimizer state)");
      gpu::check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
    }
    optimizer_.set_steps(optimizer.steps());
  }

  // Forward only, for previews: src and dst faces (n, 3, R, R), NCHW f32 on
  // the host, through the device model; (n, 4, R, R) rgb + mask each, on the
  // host. Its own cuDNN and cuBLASLt handles: their workspaces are not the
  // ones the captured step uses, which must stay where the graph has them.
  Predictions predict(graft::ConstView src, graft::ConstView dst) {
    graft::check(src.shape == dst.shape && src.shape.rank == 4 && src.shape[1] == 3 && src.shape[2] == R && src.shape[3] == R,
                 "SaehdDeviceStep::predict: src ", src.shape, " and dst ", dst.shape, " must both be (n, 3, ", R, ", ", R, ")");
    if (!preview_cudnn_) {
      preview_cudnn_ = std::make_unique<gpu::Cudnn>();
      preview_blas_ = std::make_unique<gpu::CublasLt>();
    }
    nn_cuda::Context c{stream_, *preview_cudnn_, *preview_blas_};
    const nn_cuda::DeviceTensor x = faces_to_device(c, {src, dst});
    auto out = Architecture::predict(c, model_, x.view());
    return {decoded_to_host(c, out[0]), decoded_to_host(c, out[1]), decoded_to_host(c, out[2])};
  }

  // The image loss through the fused kernels (cuda::masked_dssim_mse_*): one
  // kernel per direction instead of six. Off until they have run on a GPU
  // (tests/gpu/run.sh checks them and times both); set before the first step.
  void use_fused_loss(bool on) { fused_loss_ = on; }

  Device& model() { return model_; }
  const DeviceLosses& losses() const { return losses_; }
  std::int64_t steps() const { return optimizer_.steps(); }
  const BatchLayout& layout() const { return layout_; }

  // For the architectures. One side's loss on its decoder output `out`
  // (B, R, R, 4) channels-last bf16, into its terms of losses(), and the
  // gradient of the side's summed loss into dy (same shape).
  void side_loss(nn_cuda::Context& c, nn_cuda::ConstDeviceView out, int side, nn_cuda::DeviceView dy) {
    const std::int64_t B = layout_.per_side;
    gpu::DeviceBuffer<float> rgb(std::size_t(B * 3 * pixels), stream_), mask(std::size_t(B * pixels), stream_),
        d_rgb(std::size_t(B * 3 * pixels), stream_), d_mask(std::size_t(B * pixels), stream_);
    gpu::to_planes(out.data, B, pixels, 4, 3, rgb.data(), mask.data(), stream_);
    d_rgb.fill_bytes(0);
    d_mask.fill_bytes(0);
    c.mark("loss: predictions to NCHW f32");
    const float* target = inputs_ + layout_.target() + side * B * 3 * pixels;
    const float* target_mask = inputs_ + layout_.mask() + side * B * pixels;
    const float* loss_mask = inputs_ + layout_.loss_mask() + side * B * pixels;
    const gpu::ImageShape rgb_shape{B, 3, R, R}, mask_shape{B, 1, R, R};
    const auto weight = [&](int term) { return float(losses_.weights[std::size_t(term)]); };
    if (fused_loss_) {
      // One kernel for the values, one for the gradient, per window; the MSE rides with the first.
      const int first = graft::loss::dssim_filter_size(R);
      gpu::masked_dssim_mse_values(rgb_shape, rgb.data(), target, loss_mask, first, losses_.term(side, 0), losses_.term(side, 2),
                                   stream_);
      gpu::masked_dssim_mse_gradient(rgb_shape, rgb.data(), target, loss_mask, first, weight(0), 10.0f, d_rgb.data(), stream_);
      if constexpr (R >= 256) {
        const int second = graft::loss::dssim_second_filter_size(R);
        gpu::masked_dssim_mse_values(rgb_shape, rgb.data(), target, loss_mask, second, losses_.term(side, 1), nullptr, stream_);
        gpu::masked_dssim_mse_gradient(rgb_shape, rgb.data(), target, loss_mask, second, weight(1), 0.0f, d_rgb.data(), stream_);
      }
      c.mark("loss: DSSIM + MSE (fused)");
    } else {
      const auto dssim = [&](int term, int filter) {
        gpu::masked_dssim(rgb_shape, rgb.data(), target, loss_mask, filter, weight(term), losses_.term(side, term), d_rgb.data(),
                          stream_);
      };
      dssim(0, graft::loss::dssim_filter_size(R));
      // DeepFaceLab splits the DSSIM weight over two windows from resolution 256.
      if constexpr (R >= 256) dssim(1, graft::loss::dssim_second_filter_size(R));
      c.mark("loss: DSSIM");
      gpu::masked_mse(rgb_shape, rgb.data(), target, loss_mask, 10.0f, losses_.term(side, 2), d_rgb.data(), stream_);
    }
    gpu::masked_mse(mask_shape, mask.data(), target_mask, nullptr, 10.0f, losses_.term(side, 3), d_mask.data(), stream_);
    c.mark("loss: MSE");
    if (layout_.with_eyes_mouth) {
      // Eyes-and-mouth priority: 300 |T EM - P EM| (reference §3.3), with the eyes/mouth mask, not the face mask.
      gpu::masked_l1(rgb_shape, rgb.data(), target, inputs_ + layout_.eyes_mouth() + side * B * pixels, 300.0f,
                     losses_.term(side, 4), d_rgb.data(), stream_);
      c.mark("loss: eyes and mouth");
    }
    gpu::from_planes(d_rgb.data(), d_mask.data(), B, pixels, 4, 3, dy.data, stream_);
    c.mark("loss: gradient to channels-last bf16");
  }

  // For the architectures. Part `i`'s gradients are final: all-reduce them on the communication
  // stream, which waits for exactly that point of the compute stream.
  void reduce_part(std::size_t i) {
    if (timeline_) {
      timeline_->note("gradients of part " + std::to_string(i) + " final", stream_);
      reduced_order_.push_back(i);
    }
#if defined(GRAFT_WITH_NCCL)
    if (!nccl_) return;
    part_done_[i].record(stream_);
    part_done_[i].make_wait(comm_stream_);
    nccl_->all_reduce_sum(model_.gradients() + Device::part_offsets[i], std::size_t(part_size(i)), comm_stream_);
#else
    (void)i;
#endif
  }
 private:
  // Part i's values in the flat buffers.
  static constexpr std::int64_t part_size(std::size_t i) {
    return (i + 1 < parts ? Device::part_offsets[i + 1] : Device::size) - Device::part_offsets[i];
  }

  void join_reductions() {
#if defined(GRAFT_WITH_NCCL)
    if (!nccl_) return;
    reduced_.record(comm_stream_);
    reduced_.make_wait(stream_);
#endif
  }

  cudaStream_t stream_;
  BatchLayout layout_;
  bool fused_loss_ = false;
  const float* inputs_ = nullptr;  // the batch of the step being enqueued
  nn_cuda::Timeline* timeline_ = nullptr;   // the step being enqueued is profiled
  std::vector<std::size_t> reduced_order_;  // the parts, as the profiled step reduced them
  gpu::Cudnn cudnn_;
  gpu::CublasLt blas_;
  Device model_;
  gpu::DeviceOptimizer<Optimizer> optimizer_;
  DeviceLosses losses_;
  float lr_;
  gpu::StepGraph graph_;
  std::unique_ptr<gpu::Cudnn> preview_cudnn_;
  std::unique_ptr<gpu::CublasLt> preview_blas_;
#if defined(GRAFT_WITH_NCCL)
  graft::comm::Nccl* nccl_ = nullptr;
  gpu::Stream comm_stream_;
  std::array<gpu::Event, parts> part_done_;
  gpu::Event reduced_;
#endif
};

}  // namespace faceswap::cuda
