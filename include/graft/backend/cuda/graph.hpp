// Step capture: the work a step enqueues on a stream, recorded once as a
// CUDA graph and replayed every step after (one launch instead of hundreds).
//
//   cuda::StepGraph graph;
//   for (each step) {
//     if (step < warm_up) run_step(stream);                      // allocations settle first
//     else { if (!graph.ready()) graph.capture(stream, [&] { run_step(stream); }); graph.replay(stream); }
//   }
//
// capture() may be called again when the step changes: the new graph updates
// the executable in place where cudaGraphExecUpdate allows it and is
// re-instantiated where not. Inside a capture nothing may allocate device
// memory (warm the caching allocator first) or synchronise with the host;
// CUDA reports either as a capture error, which is thrown naming the call,
// and the capture is ended so that the stream is usable again. Temporaries
// the step frees while it is captured stay with the graph (memory.hpp).
#pragma once

#include <cuda_runtime_api.h>

#include <exception>
#include <utility>

#include "graft/backend/cuda/check.hpp"
#include "graft/backend/cuda/memory.hpp"

namespace graft::cuda {

class StepGraph {
 public:
  StepGraph() = default;
  ~StepGraph() {
    if (exec_) cudaGraphExecDestroy(exec_);
    release_parked(parked_);  // cached per stream: a replay still running there finishes first
  }
  StepGraph(const StepGraph&) = delete;
  StepGraph& operator=(const StepGraph&) = delete;

  bool ready() const { return exec_ != nullptr; }
  int instantiations() const { return instantiations_; }  // 1 unless an update had to re-instantiate

  // Records what `enqueue` puts on `stream` (it runs nothing on the device).
  template <class Enqueue>
  void capture(cudaStream_t stream, Enqueue&& enqueue) {
    check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
    cudaGraph_t graph = nullptr;
    try {
      const ParkFrees park(parked_);  // the step's temporaries stay the graph's
      enqueue();
    } catch (...) {
      cudaStreamEndCapture(stream, &graph);  // ends the capture whatever happened, so the stream is usable
      if (graph) cudaGraphDestroy(graph);
      cudaGetLastError();  // the ended capture's error is the exception's: the next launch check must not report it
      throw;
    }
    check(cudaStreamEndCapture(stream, &graph), "cudaStreamEndCapture (the step did something a graph cannot hold)");
    struct Owned {
      cudaGraph_t g;
      ~Owned() { cudaGraphDestroy(g); }
    } owned{graph};
    if (exec_) {
      cudaGraphExecUpdateResultInfo info{};
      if (cudaGraphExecUpdate(exec_, graph, &info) == cudaSuccess) return;
      cudaGetLastError();  // the failed update's error is expected; clear it
      cudaGraphExecDestroy(std::exchange(exec_, nullptr));
    }
    check(cudaGraphInstantiate(&exec_, graph, 0), "cudaGraphInstantiate");
    ++instantiations_;
  }

  void replay(cudaStream_t stream) const {
    graft::check(exec_ != nullptr, "cuda::StepGraph::replay: nothing captured yet");
    check(cudaGraphLaunch(exec_, stream), "cudaGraphLaunch");
  }

 private:
  cudaGraphExec_t exec_ = nullptr;
  int instantiations_ = 0;
  std::vector<ParkedBlock> parked_;
};

}  // namespace graft::cuda
