// DataParallel<Model, Comm>: the same model on every rank, gradients averaged.
//
// Each rank runs the whole model on its share of the batch. At construction
// rank 0's parameters are broadcast, so every rank starts equal; after each
// synchronised step every rank holds the same gradients, so the optimizer
// keeps them equal. forward_backward(fn) runs the user's forward and backward
// and, while backward runs, watches the gradient buffer (nn's
// GradientObserver): once the last use of every parameter in a bucket has
// added its gradient, the bucket is queued on the communication thread, in
// bucket order on every rank, and reduced while backward goes on. A module
// used twice (the shared encoder) is final after its second backward.
// no_sync(fn) accumulates gradients locally; the next forward_backward
// reduces the sum of all micro-steps.
//
// With GradientAverage::mean (losses that are batch means, the PyTorch
// convention) the reduced gradient is divided by ranks x micro-steps, so N
// ranks with B/N samples compute what one rank with B samples computes.
// With GradientAverage::sum (losses that are batch sums, as DeepFaceLab's)
// nothing is divided, to the same end.
#pragma once

#include <algorithm>
#include <chrono>
#include <exception>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "graft/comm/communicator.hpp"
#include "graft/ddp/bucket_plan.hpp"
#include "graft/ddp/communication_thread.hpp"
#include "graft/nn/gradient_observer.hpp"

namespace graft::ddp {

enum class GradientAverage { mean, sum };

struct DataParallelOptions {
  BucketSizes buckets{};
  GradientAverage average = GradientAverage::mean;
};

// When each bucket of the last synchronised step was queued, started and
// finished, against when the user's forward and backward returned.
struct StepTimeline {
  using Clock = std::chrono::steady_clock;
  struct Bucket {
    Clock::time_point queued, started, finished;
    bool queued_during_backward = false;
  };
  Clock::time_point began, backward_returned, reduced;
  std::vector<Bucket> buckets;
};

template <class Model, comm::Communicator Comm>
class DataParallel final : private nn::GradientObserver {
 public:
  static constexpr auto& parameters = Model::parameters;

  DataParallel(Model& model, Comm& comm, DataParallelOptions options = {})
      : model_(model),
        comm_(comm),
        options_(options),
        plan_(plan_buckets(parameters, Model::buffer_size, options.buckets)),
        expected_(parameters.size()),
        done_(parameters.size()),
        stamp_(parameters.size()),
        bucket_of_(parameters.size()) {
    check(options.buckets.first_bytes > 0 && options.buckets.bytes > 0, "ddp::DataParallel: bucket sizes must be positive, got ",
          options.buckets.first_bytes, " and ", options.buckets.bytes, " bytes");
    for (std::size_t b = 0; b < plan_.size(); ++b)
      for (std::size_t i = plan_[b].first_param; i < plan_[b].end_param; ++i) bucket_of_[i] = b;
    check_same_model();
    comm_.broadcast(model_.parameter_buffer(), 0);
    if (comm_.size() > 1) worker_.emplace();
  }

  Model& model() { return model_; }
  Comm& communicator() { return comm_; }
  std::span<const GradientBucket> buckets() const { return plan_; }
  const StepTimeline& last_timeline() const { return timeline_; }
  int micro_steps_pending() const { return micro_steps_; }

  // Runs fn (forward and backward of this rank's batch, adding to the
  // gradient buffer) and returns its result once the gradients of this and
  // every preceding no_sync micro-step are reduced across ranks.
  // In fn, run every forward before the backward of the same module.
  template <class Fn>
  decltype(auto) forward_backward(Fn&& fn) {
    begin_step();
    try {
      if constexpr (std::is_void_v<std::invoke_result_t<Fn&>>) {
        observe(fn);
        finish_step();
      } else {
        auto result = observe(fn);
        finish_step();
        return result;
      }
    } catch (const std::exception& e) {
      fail_step(e);
      throw;
    }
  }

  // Runs fn and keeps its gradients on this rank (gradient accumulation).
  template <class Fn>
  decltype(auto) no_sync(Fn&& fn) {
    check(!in_step_, "ddp::DataParallel: no_sync inside forward_backward");
    ++micro_steps_;
    return fn();
  }

 private:
  void check_same_model() {
    const auto sizes = comm::all_gather_value(comm_, Model::buffer_size);
    for (int r = 0; r < comm_.size(); ++r)
      check(sizes[static_cast<std::size_t>(r)] == Model::buffer_size, "ddp::DataParallel: rank ", r, " has a model of ",
            sizes[static_cast<std::size_t>(r)], " floats, rank ", comm_.rank(), " one of ", Model::buffer_size,
            "; every rank must build the same model");
  }

  template <class Fn>
  decltype(auto) observe(Fn& fn) {
    nn::ObserveGradients scope(this);
    return fn();
  }

  void begin_step() {
    check(!in_step_, "ddp::DataParallel: forward_backward inside forward_backward");
    in_step_ = true;
    ++micro_steps_;
    std::ranges::fill(expected_, 0);
    std::ranges::fill(done_, 0);
    std::ranges::fill(stamp_, 0);
    remaining_.assign(plan_.size(), 0);
    for (std::size_t b = 0; b < plan_.size(); ++b) remaining_[b] = static_cast<int>(plan_[b].end_param - plan_[b].first_param);
    ready_.assign(plan_.size(), 0);
    next_to_queue_ = 0;
    timeline_ = StepTimeline{.began = StepTimeline::Clock::now(), .buckets = std::vector<StepTimeline::Bucket>(plan_.size())};
  }

  void finish_step() {
    timeline_.backward_returned = StepTimeline::Clock::now();
    in_backward_ = false;
    std::ranges::fill(ready_, std::uint8_t{1});  // unused parameters: their zero gradients are reduced too
    queue_ready_buckets();
    if (worker_) worker_->wait();
    if (comm_.size() == 1) scale(0, Model::buffer_size);
    timeline_.reduced = StepTimeline::Clock::now();
    micro_steps_ = 0;
    in_step_ = false;
  }

  // This rank cannot go on; the others must not wait for it.
  void fail_step(const std::exception& e) {
    const bool comm_failed = dynamic_cast<const comm::CommError*>(&e) != nullptr;
    if (!comm_failed) comm_.abort(e.what());
    if (worker_) {
      try {
        worker_->wait();
      } catch (...) {  // the collective in flight fails with Aborted: e is the cause
      }
    }
    micro_steps_ = 0;
    in_step_ = false;
    in_backward_ = false;
  }

  float divisor() const {
    return options_.average == GradientAverage::mean ? static_cast<float>(comm_.size()) * static_cast<float>(micro_steps_) : 1.0f;
  }

  void scale(std::int64_t begin, std::int64_t end) {
    const float d = divisor();
    if (d == 1.0f) return;
    float* g = model_.gradient_buffer().data();
    for (std::int64_t i = begin; i < end; ++i) g[i] /= d;
  }

  void queue_ready_buckets() {
    while (next_to_queue_ < plan_.size() && ready_[next_to_queue_]) {
      const std::size_t b = next_to_queue_++;
      auto& t = timeline_.buckets[b];
      t.queued = StepTimeline::Clock::now();
      t.queued_during_backward = in_backward_;
      if (!worker_) continue;
      worker_->submit([this, b] {
        auto& timing = timeline_.buckets[b];
        timing.started = StepTimeline::Clock::now();
        const GradientBucket& bucket = plan_[b];
        comm_.all_reduce_sum(
            model_.gradient_buffer().subspan(static_cast<std::size_t>(bucket.begin), static_cast<std::size_t>(bucket.size())));
        scale(bucket.begin, bucket.end);
        timing.finished = StepTimeline::Clock::now();
      });
    }
  }

  // The parameters whose whole tensor lies in [g, g + span).
  template <class Visit>
  void for_params_in(const float* g, std::int64_t span, Visit&& visit) {
    const std::int64_t begin = g - model_.gradient_buffer().data(), end = begin + span;
    auto it = std::ranges::lower_bound(parameters, begin, {}, [](const nn::ParamSpec& p) { return p.offset; });
    for (; it != parameters.end() && it->offset + it->shape.numel() <= end; ++it)
      visit(static_cast<std::size_t>(it - parameters.begin()));
  }

  void forward_ran(const float* g, std::int64_t span) override {
    for_params_in(g, span, [&](std::size_t i) { ++expected_[i]; });
  }
  void backward_began(const float*, std::int64_t) override {
    ++backward_calls_;
    in_backward_ = true;
  }
  void gradients_added(const float* g, std::int64_t span) override {
    for_params_in(g, span, [&](std::size_t i) { mark_added(i); });
    queue_ready_buckets();
  }
  void backward_ended(const float* g, std::int64_t span) override { gradients_added(g, span); }

  // Counts one backward's contribution to parameter i (once, however many
  // nested reports name it) and marks its bucket ready after the last one.
  void mark_added(std::size_t i) {
    if (stamp_[i] == backward_calls_) return;
    stamp_[i] = backward_calls_;
    const std::size_t b = bucket_of_[i];
    check(b >= next_to_queue_, "ddp::DataParallel: the gradient of ", parameters[i].name.view(),
          " changed after its bucket was sent; in forward_backward run every forward of a module before its backward, "
          "or put earlier micro-batches in no_sync");
    if (++done_[i] == expected_[i] && --remaining_[b] == 0) ready_[b] = 1;
  }

  Model& model_;
  Comm& comm_;
  DataParallelOptions options_;
  std::vector<GradientBucket> plan_;
  std::vector<int> expected_, done_;
  std::vector<std::uint64_t> stamp_;
  std::vector<std::size_t> bucket_of_;
  std::vector<int> remaining_;
  std::vector<std::uint8_t> ready_;  // not vector<bool>: one byte per bucket
  std::size_t next_to_queue_ = 0;
  std::uint64_t backward_calls_ = 0;
  int micro_steps_ = 0;
  bool in_step_ = false, in_backward_ = false;
  StepTimeline timeline_;
  std::optional<CommunicationThread> worker_;  // last: joined before the state its tasks use goes
};

}  // namespace graft::ddp
