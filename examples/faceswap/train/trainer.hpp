// The training loop of `faceswap train`, for one model variant (Step is
// DfStep<O> or LiaeStep<O>) on one rank of a data-parallel job.
//
// Each rank loads both face sets, takes its share of every batch from a
// BatchLoader (so the job trains on the same samples whatever its rank
// count), and DataParallel sums the gradients (DeepFaceLab's loss is a batch
// sum). Rank 0 decides when to stop (step count, target loss, a signal) and
// when to save, and broadcasts the decision so every rank stops at the same
// step. Checkpoints hold the model, the optimizer and the run's options;
// --resume continues from one exactly, because every sample is a function of
// (seed, step, slot). (On the GPU the parameters, optimizer state and step
// go back exactly too, but the later steps may round differently: cuDNN's
// engines are chosen by timing, unless --no-tune-convolutions.)
#pragma once

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <deque>
#include <graft/comm/launch.hpp>
#include <graft/ddp/data_parallel.hpp>
#include <graft/optim/adabelief.hpp>
#include <graft/optim/adam.hpp>
#include <graft/optim/rmsprop.hpp>
#include <graft/train/checkpoint.hpp>
#include <graft/train/metrics.hpp>
#include <memory>
#include <thread>
#include <variant>
#include <vector>

#include "data/batch_loader.hpp"
#include "options.hpp"
#include "precision.hpp"
#include "preview.hpp"
#include "train_step.hpp"

namespace faceswap {

// Set by SIGINT or SIGTERM; the loop saves and stops at the end of the step.
inline std::atomic<int> stop_signal{0};

using AnyOptimizer = std::variant<graft::optim::AdaBelief, graft::optim::Rmsprop, graft::optim::Adam>;

inline AnyOptimizer make_optimizer(const TrainOptions& o) {
  if (o.optimizer == "rmsprop") return graft::optim::Rmsprop({.lr = o.lr, .lr_dropout = o.lr_dropout, .lr_dropout_seed = o.seed});
  if (o.optimizer == "adam") return graft::optim::Adam({.lr = o.lr});
  return graft::optim::AdaBelief({.lr = o.lr, .lr_dropout = o.lr_dropout, .lr_dropout_seed = o.seed});
}

// What the loop decided after a step; rank 0 decides, every rank follows.
struct Decision {
  std::uint8_t stop = 0, save = 0, reached_target = 0;
};

// What one step took on the reporting rank (graft-bench's throughput and
// scaling projections are computed from these).
struct StepTiming {
  double end_s = 0;              // seconds of training (across resumes) when the step ended
  double loss = 0;               // mean of src and dst over the loss window, as reported
  double forward_backward_s = 0;  // forward and backward of this rank's batch
  double reduced_s = 0;           // from the start of forward until every gradient bucket was all-reduced
  std::vector<float> bucket_ready_s;  // when each bucket's gradients were final, from the start of forward
  double data_wait_s = 0;             // how long the loop waited for the loaders' next batch during this step
};

struct TrainSummary {
  std::int64_t first_step = 0, last_step = 0;
  int ranks = 1;                           // of the job (thread ranks or MPI processes)
  std::int64_t parameters = 0;             // the model's parameter count
  std::vector<std::int64_t> bucket_bytes;  // DataParallel's gradient buckets, in all-reduce order
  std::vector<StepTiming> steps;           // this run's steps, with TrainOptions::record_steps (rank 0 only)
  // Where the steps carry no bucket timeline of their own (the GPU loop
  // times one step, operation by operation): that step's, as StepTiming's.
  std::vector<float> bucket_ready_s;
  double forward_backward_s = 0;
  double seconds = 0;        // of this run's training
  double time_to_loss = -1;  // seconds of training (across resumes) to reach --target-loss; -1 if not reached
  double final_loss = 0;     // mean of src and dst over the loss window
  double data_wait_s = 0;    // of `seconds`, rank 0 waited this long for its loaders' batches
  bool lead = false;         // this process ran rank 0 (the one that reports, under mpirun)
};

// The name a checkpoint of this variant carries ("-" of df-ud written as "_").
template <class Step>
std::string model_name(const TrainOptions& o) {
  constexpr auto m = Step::Model::parameters.size();
  return "faceswap-" + variant_token(o.model) + "-" + std::to_string(o.resolution) + "-" + std::to_string(m) + "tensors";
}

// What every training loop of a variant shares, whatever computes the step
// (the CPU with DataParallel over host communicators, or a GPU): the face
// sets and this rank's loaders, the model and optimizer on the host
// (resumed from the checkpoint with --resume), the loss window, rank 0's
// decisions, metrics, TensorBoard, progress, previews, time to loss and
// checkpoints. A loop asks it for batches and hands it each step's losses.
template <class Step>
class TrainRun {
 public:
  using Model = typename Step::Model;
  static constexpr int resolution = Step::resolution;

  // ranks_on_machine: the ranks that share this machine's cores (the communicator's local_size()).
  TrainRun(const TrainOptions& o, int rank, int ranks, int ranks_on_machine)
      : o_(o),
        lead_(rank == 0),
        checkpoint_(o.output / "model.safetensors"),
        src_set_(FaceSet::load(o.src, set_options(o))),
        dst_set_(FaceSet::load(o.dst, set_options(o))),
        model_(std::make_unique<Model>(o.seed)),
        optimizer_(make_optimizer(o)) {
    for (const auto* set : {&src_set_, &dst_set_})
      for (const auto& skipped : set->skipped()) say("skipped ", skipped);
    say("src ", src_set_.size(), " faces, dst ", dst_set_.size(), " faces, at ", resolution, " px");
    say(yaw_coverage(yaws_of(src_set_, o.src.string()), yaws_of(dst_set_, o.dst.string())));
    if (o.resume) resume();
    local_batch_ = o.batch / ranks;
    const AugmentOptions augment{.random_warp = o.random_warp,
                                 .random_flip = o.random_flip,
                                 .colour_transfer = *parse_colour_transfer(o.colour_transfer),
                                 .random_hsv = o.random_hsv,
                                 .blur_out_mask = o.blur_out_mask,
                                 .masked_training = o.masked_training,
                                 .eyes_mouth = o.eyes_mouth_priority};
    const int workers = loader_workers_for(o, ranks_on_machine, std::thread::hardware_concurrency());
    say("augmenting with ", workers, " thread(s) per side", o.loader_workers > 0 ? "" : " (--loader-workers to change)");
    say("convolutions multiply in ", effective_precision(o.precision, o.backend), " and sum in f32 (--precision ", o.precision,
        ")");
    LoaderOptions loader{.batch = local_batch_,
                         .ranks = ranks,
                         .rank = rank,
                         .seed = o.seed,
                         .first_step = first_step_,
                         .workers = workers,
                         .prefetch = 2 * workers,
                         .uniform_yaw = o.uniform_yaw,
                         .augment = augment};
    src_loader_ = std::make_unique<BatchLoader>(src_set_, &dst_set_, loader);
    loader.seed = o.seed ^ 0x5EEDD57ull;  // dst's own stream
    loader.augment.colour_transfer = ColourTransfer::none;  // src's augmentations only, as DeepFaceLab
    loader.augment.random_hsv = 0;
    dst_loader_ = std::make_unique<BatchLoader>(dst_set_, nullptr, loader);
    if (lead_) {
      std::filesystem::create_directories(o.output / "previews");
      metrics_ = std::make_unique<graft::train::MetricsLog>(o.output / "metrics.jsonl");
      if (o.tensorboard) tensorboard_ = std::make_unique<graft::train::TensorBoardWriter>(o.output / "tensorboard");
    }
    summary_ = TrainSummary{.first_step = first_step_, .last_step = first_step_, .ranks = ranks, .parameters = Model::parameter_count};
    start_ = last_save_ = std::chrono::steady_clock::now();
  }

  bool lead() const { return lead_; }
  Model& model() { return *model_; }
  AnyOptimizer& optimizer() { return optimizer_; }
  std::int64_t first_step() const { return first_step_; }
  std::int64_t local_batch() const { return local_batch_; }
  TrainSummary& summary() { return summary_; }
  // Seconds of training across resumes.
  double seconds() const {
    return previous_seconds_ + std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }
  double smoothed_loss() const { return window_sum_ / double(std::max<std::size_t>(window_.size(), 1)); }

  // This rank's share of the next batch, src then dst (the views stay valid until the next call).
  // The wait is measured: a loop that waits for most of its step is paced
  // by the augmentation threads, not by the model.
  std::pair<SideBatch, SideBatch> next_batch() {
    const auto asked = std::chrono::steady_clock::now();
    src_ = &src_loader_->next();
    dst_ = &dst_loader_->next();
    last_data_wait_s_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - asked).count();
    summary_.data_wait_s += last_data_wait_s_;
    return {batch_of(*src_), batch_of(*dst_)};
  }
  double last_data_wait_s() const { return last_data_wait_s_; }
  const SideTensors& src_tensors() const { return *src_; }
  const SideTensors& dst_tensors() const { return *dst_; }

  // Step `step`'s losses (means over every rank): the loss window and the
  // history; returns what rank 0 decides (the other ranks' is to be replaced
  // by rank 0's broadcast).
  Decision record(std::int64_t step, float src_loss, float dst_loss) {
    const double mean = (src_loss + dst_loss) / 2;  // in float, as it always was: the window's sums stay the same
    window_.push_back(mean);
    window_sum_ += mean;
    if (int(window_.size()) > o_.loss_window) window_sum_ -= window_.front(), window_.pop_front();
    history_.push_back({step, src_loss, dst_loss});
    losses_ = {src_loss, dst_loss};
    const std::int64_t done = step + 1;
    summary_.last_step = done;
    summary_.final_loss = smoothed_loss();
    Decision d;
    if (lead_) {
      const bool full_window = int(window_.size()) == o_.loss_window;
      d.reached_target = o_.target_loss > 0 && full_window && smoothed_loss() <= o_.target_loss;
      d.stop = d.reached_target || (o_.steps > 0 && done >= o_.steps) || stop_signal.load() != 0;
      d.save = d.stop || (o_.save_every > 0 && done % o_.save_every == 0) ||
               (o_.autosave_minutes > 0 &&
                std::chrono::steady_clock::now() - last_save_ > std::chrono::duration<double>(60 * o_.autosave_minutes));
    }
    return d;
  }

  // After every rank has rank 0's decision for step `step`: metrics,
  // progress, previews, the time to loss, the checkpoint. `sync_host()` is
  // called before the host model or optimizer is read (a GPU loop copies
  // them from the device there); previews come from `predict(src, dst)`.
  template <class SyncHost>
  void follow(const Decision& d, std::int64_t step, SyncHost&& sync_host) {
    follow(d, step, sync_host, [&](graft::ConstView src, graft::ConstView dst) {
      sync_host();
      return step_fn_.predict(*model_, src, dst);
    });
  }

  template <class SyncHost, class Predict>
  void follow(const Decision& d, std::int64_t step, SyncHost&& sync_host, Predict&& predict) {
    const std::int64_t done = step + 1;
    const double smoothed = smoothed_loss();
    if (lead_) {
      const double t = seconds();
      const double images_per_second = double(2 * o_.batch) * double(done - first_step_) / std::max(1e-9, t - previous_seconds_);
      if (done % o_.log_every == 0 || d.stop) {
        metrics_->write({{"step", done},
                         {"time_s", t},
                         {"src_loss", losses_[0]},
                         {"dst_loss", losses_[1]},
                         {"loss", smoothed},
                         {"images_per_s", images_per_second}});
        if (tensorboard_) {
          tensorboard_->scalar("loss/src", losses_[0], done);
          tensorboard_->scalar("loss/dst", losses_[1], done);
          tensorboard_->scalar("loss/mean_window", float(smoothed), done);
          tensorboard_->scalar("speed/images_per_second", float(images_per_second), done);
          tensorboard_->flush();
        }
      }
      if (interactive_ || done % o_.log_every == 0 || d.stop) {
        const double rate = double(done - first_step_) / std::max(1e-9, t - previous_seconds_);
        const double eta = o_.steps > 0 ? double(o_.steps - done) / std::max(rate, 1e-9) : 0;
        std::fprintf(stderr,
                     "%sstep %lld%s%lld  %.2f it/s  %.0f img/s  ETA %02d:%02d:%02d  src %.4f  dst %.4f  (mean of %zu: %.4f)%s",
                     interactive_ ? "\r" : "", static_cast<long long>(done), o_.steps > 0 ? "/" : "",
                     static_cast<long long>(o_.steps), rate, images_per_second, int(eta / 3600), int(eta / 60) % 60,
                     int(eta) % 60, losses_[0], losses_[1], window_.size(), smoothed, interactive_ ? "   " : "\n");
      }
      if (o_.preview_every > 0 && (done % o_.preview_every == 0 || d.stop)) {
        const std::int64_t n = std::min<std::int64_t>(4, local_batch_);
        const graft::Shape images{n, 3, resolution, resolution};
        const graft::ConstView src_view{src_->target.data(), images}, dst_view{dst_->target.data(), images};
        const Predictions p = predict(src_view, dst_view);
        char name[64];
        std::snprintf(name, sizeof name, "step_%08lld.png", static_cast<long long>(done));
        const std::filesystem::path paths[] = {o_.output / "previews" / name, o_.output / "preview.png"};
        write_preview(paths, src_view, p.src.view(), dst_view, p.dst.view(), p.swap.view());
        write_loss_plot(o_.output / "loss.png", history_);
      }
    }
    if (d.reached_target) {
      summary_.time_to_loss = seconds();
      if (lead_) {
        std::fprintf(stderr, "%s", interactive_ ? "\n" : "");
        say("reached the target loss ", o_.target_loss, " (mean of the last ", o_.loss_window, " steps: ", smoothed, ") at step ",
            done, " after ", summary_.time_to_loss, " s of training (time to loss)");
        metrics_->write({{"event", "target_loss_reached"},
                         {"step", done},
                         {"time_to_loss_s", summary_.time_to_loss},
                         {"target_loss", o_.target_loss},
                         {"images_seen", 2 * o_.batch * done}});
      }
    }
    if (d.save) {
      if (lead_) {
        sync_host();
        save(done);
      }
      last_save_ = std::chrono::steady_clock::now();
    }
  }

  // The summary of this run (call once every rank has finished its last step).
  TrainSummary finish() {
    if (lead_ && interactive_) std::fprintf(stderr, "\n");
    summary_.seconds = seconds() - previous_seconds_;
    summary_.lead = lead_;
    return summary_;
  }

  template <class... Parts>
  void say(Parts&&... parts) const {
    if (lead_) std::fprintf(stderr, "%s\n", graft::concat(std::forward<Parts>(parts)...).c_str());
  }

 private:
  static FaceSetOptions set_options(const TrainOptions& o) {
    return {.resolution = resolution, .bad_face = o.skip_bad_faces ? BadFace::skip : BadFace::fail, .eyes_mouth = o.eyes_mouth_priority};
  }

  SideBatch batch_of(const SideTensors& t) const {
    return SideBatch{t.warped.view(), t.target.view(), t.mask.view(), t.loss_mask.view(),
                     o_.eyes_mouth_priority ? t.eyes_mouth.view() : graft::ConstView{}};
  }

  void resume() {
    graft::check(std::filesystem::exists(checkpoint_), checkpoint_.string(),
                 ": no checkpoint to resume (run without --resume to start)");
    const auto info = std::visit(
        [&](auto& opt) { return graft::train::load_training_checkpoint(checkpoint_, *model_, opt, model_name<Step>(o_)); },
        optimizer_);
    nlohmann::json saved;
    try {
      saved = nlohmann::json::parse(info.config);
    } catch (const nlohmann::json::exception&) {
      graft::fail(checkpoint_.string(), ": its run settings are not valid JSON");
    }
    const auto identity = run_identity(o_);
    for (const auto& [key, value] : identity.items())
      graft::check(saved.contains("run") && saved["run"].contains(key) && saved["run"][key] == value, checkpoint_.string(),
                   ": the run was saved with ", key, " ",
                   saved.contains("run") ? saved["run"].value(key, nlohmann::json()).dump() : "?", ", this one asks for ",
                   value.dump(), "; resume with the same value");
    first_step_ = info.step;
    previous_seconds_ = saved.value("elapsed_s", 0.0);
    say("resumed ", checkpoint_.string(), " at step ", first_step_);
  }

  void save(std::int64_t steps_done) {
    nlohmann::json config{{"run", run_identity(o_)}, {"options", o_.to_json()}, {"elapsed_s", seconds()}};
    std::visit(
        [&](auto& opt) {
          graft::train::save_training_checkpoint(checkpoint_, *model_, opt, model_name<Step>(o_), steps_done, config);
        },
        optimizer_);
  }

  const TrainOptions& o_;
  bool lead_;
  std::filesystem::path checkpoint_;
  FaceSet src_set_, dst_set_;
  std::unique_ptr<Model> model_;
  AnyOptimizer optimizer_;
  const Step step_fn_{};
  std::int64_t first_step_ = 0, local_batch_ = 0;
  double previous_seconds_ = 0, last_data_wait_s_ = 0;
  std::unique_ptr<BatchLoader> src_loader_, dst_loader_;
  const SideTensors *src_ = nullptr, *dst_ = nullptr;
  std::unique_ptr<graft::train::MetricsLog> metrics_;
  std::unique_ptr<graft::train::TensorBoardWriter> tensorboard_;
  std::chrono::steady_clock::time_point start_, last_save_;
  std::deque<double> window_;
  double window_sum_ = 0;
  std::vector<LossPoint> history_;
  std::array<float, 2> losses_{};
  TrainSummary summary_;
  bool interactive_ = ::isatty(2);
};

// One rank of a data-parallel job on the CPU backend.
template <class Step, graft::comm::Communicator Comm>
TrainSummary train_rank(const TrainOptions& o, Comm& comm) {
  TrainRun<Step> run(o, comm.rank(), comm.size(), comm.local_size());
  graft::ddp::DataParallel parallel(run.model(), comm, {.average = graft::ddp::GradientAverage::sum});
  for (const auto& bucket : parallel.buckets()) run.summary().bucket_bytes.push_back(bucket.bytes());
  const Step step_fn;
  for (std::int64_t step = run.first_step();; ++step) {
    const auto [src, dst] = run.next_batch();
    run.model().zero_gradients();
    const StepLosses local = parallel.forward_backward([&] { return step_fn.forward_backward(run.model(), src, dst); });
    std::visit([&](auto& opt) { opt.step(run.model().parameter_buffer(), run.model().gradient_buffer(), o.lr); },
               run.optimizer());
    std::vector<float> losses{float(local.src), float(local.dst)};
    comm.all_reduce_mean(std::span(losses));
    Decision d = run.record(step, losses[0], losses[1]);
    comm.broadcast(std::as_writable_bytes(std::span(&d, 1)), 0);
    if (run.lead() && o.record_steps) {
      const auto& timeline = parallel.last_timeline();
      const auto since_began = [&](auto time_point) { return std::chrono::duration<double>(time_point - timeline.began).count(); };
      StepTiming& timing = run.summary().steps.emplace_back(StepTiming{.end_s = run.seconds(),
                                                                       .loss = run.smoothed_loss(),
                                                                       .forward_backward_s = since_began(timeline.backward_returned),
                                                                       .reduced_s = since_began(timeline.reduced),
                                                                       .data_wait_s = run.last_data_wait_s()});
      for (const auto& bucket : timeline.buckets) timing.bucket_ready_s.push_back(float(since_began(bucket.queued)));
    }
    run.follow(d, step, [] {});  // the host model is the model
    if (d.stop) break;
  }
  comm.barrier();  // the checkpoint is complete before any rank returns
  return run.finish();
}

}  // namespace faceswap
