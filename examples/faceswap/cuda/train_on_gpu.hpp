// `faceswap train --backend cuda`: the training loop with the whole step on
// a GPU per rank (SaehdDeviceStep: df or liae), sharing everything else
// with the CPU loop (TrainRun: data, decisions, metrics, previews,
// checkpoints). Ranks are threads (--ranks N, GPUs --device .. --device + N - 1)
// or mpirun's processes (GPU --device + the rank on its machine, modulo the
// GPUs a node has);
// gradients are summed over NCCL inside each rank's captured step, the host
// communicator carries the losses and rank 0's decisions.
//
// Each step runs on the GPU (captured as one CUDA graph after the first)
// while the host packs the next batch into a pinned slot and its copy to the
// device starts on a copy stream; then the step's losses come back (the
// decisions of the loop need them). Previews run on the GPU; checkpoints copy
// the parameters and the optimizer's state to the host objects first, in
// the CPU's layout, so a checkpoint resumes on either backend.
#pragma once

#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <variant>

#include "cuda/on_device.hpp"
#include "cuda/usable_gpus.hpp"
#include "train/trainer.hpp"

namespace faceswap::cuda {

// One step's batches, NCHW f32 as the loaders make them, into the device step's layout.
inline void pack(float* into, const BatchLayout& layout, const SideTensors& src, const SideTensors& dst) {
  const auto put = [&](std::int64_t offset, const graft::Tensor& a, const graft::Tensor& b) {
    std::memcpy(into + offset, a.data(), std::size_t(a.numel()) * sizeof(float));
    std::memcpy(into + offset + a.numel(), b.data(), std::size_t(b.numel()) * sizeof(float));
  };
  put(layout.warped(), src.warped, dst.warped);
  put(layout.target(), src.target, dst.target);
  put(layout.mask(), src.mask, dst.mask);
  put(layout.loss_mask(), src.loss_mask, dst.loss_mask);
  if (layout.with_eyes_mouth) put(layout.eyes_mouth(), src.eyes_mouth, dst.eyes_mouth);
}

// graft-bench's step profile (TrainOptions::record_steps): the first step
// runs plainly (building and tuning cuDNN's graphs), the second too, timed
// operation by operation, and says when each part's gradients became final:
// DataParallel's bucket timeline on the CPU. The capture waits for the third,
// so that the timed step finds the first one's temporaries in the allocator's
// cache (a capture keeps the blocks it takes with the graph).
template <class GradientTimeline>
void record_gradient_timeline(TrainSummary& summary, const GradientTimeline& timed) {
  summary.bucket_bytes = timed.bytes;
  summary.bucket_ready_s.assign(timed.ready_s.begin(), timed.ready_s.end());
  summary.forward_backward_s = timed.ready_s.empty() ? timed.step_s : timed.ready_s.back();
}

template <class Step, class Optimizer, graft::comm::Communicator Comm>
TrainSummary train_loop_on_gpu(TrainRun<Step>& run, Optimizer& optimizer, const TrainOptions& o, Comm& comm, int device) {
  const gpu::Stream stream;
#if defined(GRAFT_WITH_NCCL)
  // Declared before the step: the step's captured graph holds the
  // communicator's all-reduce kernels, so the communicator outlives it.
  std::unique_ptr<graft::comm::Nccl> nccl;
#endif
  SaehdDeviceStep<typename OnDeviceOf<Step>::type, Optimizer> step(run.model(), optimizer.config(), run.local_batch(), o.lr, stream,
                                                                   {.tune_engines = o.tune_convolutions}, o.eyes_mouth_priority);
  if (o.resume) step.upload(optimizer);
#if defined(GRAFT_WITH_NCCL)
  if (comm.size() > 1) {
    // Every rank starts from rank 0's parameters and state (a resumed run's are the same everywhere already).
    nccl = std::make_unique<graft::comm::Nccl>(comm, device);
    nccl->broadcast(step.model().parameters(), std::size_t(step.model().size), 0, stream);
    step.model().refresh_copy();
    step.all_reduce_over(*nccl);
  }
#else
  graft::check(comm.size() == 1, "train: --backend cuda on ", comm.size(), " ranks needs NCCL, which this build lacks");
  (void)device;
#endif
  InputStaging inputs(step.layout(), 2, stream);
  std::int64_t host_synced = -1;  // the step whose state the host objects hold
  int slot = 0;
  // The next batch from the loaders into a pinned slot, and on its way to the device.
  const auto stage_next = [&] {
    run.next_batch();
    graft::check(run.src_tensors().warped.numel() == step.layout().images() / 2, "train (cuda): the loader's batch has ",
                 run.src_tensors().warped.shape(), ", the device step expects ", step.layout().per_side, " faces per side");
    pack(inputs.host_slot(slot), step.layout(), run.src_tensors(), run.dst_tensors());
    inputs.upload(slot);
    slot = (slot + 1) % inputs.slots();
  };
  stage_next();
  run.say(o.tune_convolutions ? "first step: building cuDNN's graphs and timing their engines (about half a minute, once; "
                                "--no-tune-convolutions skips the timing)"
                              : "first step: building cuDNN's graphs");
  for (std::int64_t s = run.first_step();; ++s) {
    inputs.take();
    if (o.record_steps && s == run.first_step())
      step.enqueue(inputs.inputs());  // builds (and tunes) cuDNN's graphs; its temporaries return to the cache
    else if (o.record_steps && s == run.first_step() + 1)
      record_gradient_timeline(run.summary(), step.timed_step(inputs.inputs()));  // reuses them: no cudaMalloc in the timing
    else if (step.captured())
      step.replay();
    else
      step.capture(inputs.inputs());  // the first step runs plainly, then the next is captured
    // While the GPU runs step s: the batch of step s + 1 (previews show it, with the model after step s).
    stage_next();
#if defined(GRAFT_WITH_NCCL)
    // A peer that died leaves this rank's all-reduce waiting forever: wait
    // through the communicator, which polls NCCL's errors and its timeout.
    if (nccl) nccl->wait(stream);
#endif
    const auto means = step.losses().means(stream);  // waits for step s
    std::vector<float> losses{float(means[0]), float(means[1])};
    comm.all_reduce_mean(std::span(losses));
    Decision d = run.record(s, losses[0], losses[1]);
    comm.broadcast(std::as_writable_bytes(std::span(&d, 1)), 0);
    if (run.lead() && o.record_steps)  // the data wait: for step s + 1's batch, while the GPU ran step s
      run.summary().steps.push_back({.end_s = run.seconds(), .loss = run.smoothed_loss(), .data_wait_s = run.last_data_wait_s()});
    run.follow(
        d, s,
        [&] {
          if (host_synced == s) return;
          step.download(run.model(), optimizer);
          host_synced = s;
        },
        [&](graft::ConstView src, graft::ConstView dst) { return step.predict(src, dst); });
    if (d.stop) break;
  }
  comm.barrier();  // the checkpoint is complete before any rank returns
  return run.finish();
}

// The whole run, a GPU per rank; returns rank 0's summary.
template <class Step>
TrainSummary train_on_gpu(const TrainOptions& o) {
  const int devices = usable_gpus("train");
  graft::check(graft::comm::launched_by_mpirun() || o.device + o.ranks <= devices, "train: --backend cuda with --device ",
               o.device, " and --ranks ", o.ranks, " needs GPUs ", o.device, "..", o.device + o.ranks - 1, ", this machine has ",
               devices);
  TrainSummary summary;
  graft::comm::launch(
      o.ranks,
      [&](auto& comm) {
        const int device = (o.device + comm.local_rank()) % devices;
        gpu::check(cudaSetDevice(device), "cudaSetDevice(" + std::to_string(device) + ")");
        TrainRun<Step> run(o, comm.rank(), comm.size(), comm.local_size());
        run.say("training on ", comm.size(), " GPU(s) from GPU ", o.device, ": the whole step as one CUDA graph, bf16 activations");
        const TrainSummary mine = std::visit(
            [&](auto& optimizer) { return train_loop_on_gpu(run, optimizer, o, comm, device); },
            run.optimizer());
        if (comm.rank() == 0) summary = mine;
      },
      {.timeout = std::chrono::milliseconds(std::int64_t(o.comm_timeout_s * 1000))});
  return summary;
}

}  // namespace faceswap::cuda
