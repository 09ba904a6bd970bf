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
// (seed, step, slot).
#pragma once

#include <unistd.h>

#include <algorithm>
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
#include <variant>
#include <vector>

#include "data/batch_loader.hpp"
#include "options.hpp"
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
};

struct TrainSummary {
  std::int64_t first_step = 0, last_step = 0;
  int ranks = 1;                           // of the job (thread ranks or MPI processes)
  std::int64_t parameters = 0;             // the model's parameter count
  std::vector<std::int64_t> bucket_bytes;  // DataParallel's gradient buckets, in all-reduce order
  std::vector<StepTiming> steps;           // this run's steps, with TrainOptions::record_steps (rank 0 only)
  double seconds = 0;        // of this run's training
  double time_to_loss = -1;  // seconds of training (across resumes) to reach --target-loss; -1 if not reached
  double final_loss = 0;     // mean of src and dst over the loss window
  bool lead = false;         // this process ran rank 0 (the one that reports, under mpirun)
};

// The name a checkpoint of this variant carries ("-" of df-ud written as "_").
template <class Step>
std::string model_name(const TrainOptions& o) {
  constexpr auto m = Step::Model::parameters.size();
  return "faceswap-" + variant_token(o.model) + "-" + std::to_string(o.resolution) + "-" + std::to_string(m) + "tensors";
}

template <class Step, graft::comm::Communicator Comm>
TrainSummary train_rank(const TrainOptions& o, Comm& comm) {
  using Model = typename Step::Model;
  constexpr int resolution = Step::resolution;
  const bool lead = comm.rank() == 0;
  const auto checkpoint = o.output / "model.safetensors";
  auto say = [&](auto&&... parts) {
    if (lead) std::fprintf(stderr, "%s\n", graft::concat(parts...).c_str());
  };

  const FaceSetOptions set_options{.resolution = resolution,
                                   .bad_face = o.skip_bad_faces ? BadFace::skip : BadFace::fail,
                                   .eyes_mouth = o.eyes_mouth_priority};
  const FaceSet src_set = FaceSet::load(o.src, set_options);
  const FaceSet dst_set = FaceSet::load(o.dst, set_options);
  for (const auto* set : {&src_set, &dst_set})
    for (const auto& skipped : set->skipped()) say("skipped ", skipped);
  say("src ", src_set.size(), " faces, dst ", dst_set.size(), " faces, at ", resolution, " px");

  auto model = std::make_unique<Model>(o.seed);
  AnyOptimizer optimizer = make_optimizer(o);
  std::int64_t first_step = 0;
  double previous_seconds = 0;
  if (o.resume) {
    graft::check(std::filesystem::exists(checkpoint), checkpoint.string(),
                 ": no checkpoint to resume (run without --resume to start)");
    const auto info = std::visit(
        [&](auto& opt) { return graft::train::load_training_checkpoint(checkpoint, *model, opt, model_name<Step>(o)); },
        optimizer);
    nlohmann::json saved;
    try {
      saved = nlohmann::json::parse(info.config);
    } catch (const nlohmann::json::exception&) {
      graft::fail(checkpoint.string(), ": its run settings are not valid JSON");
    }
    const auto identity = run_identity(o);
    for (const auto& [key, value] : identity.items())
      graft::check(saved.contains("run") && saved["run"].contains(key) && saved["run"][key] == value, checkpoint.string(),
                   ": the run was saved with ", key, " ",
                   saved.contains("run") ? saved["run"].value(key, nlohmann::json()).dump() : "?", ", this one asks for ",
                   value.dump(), "; resume with the same value");
    first_step = info.step;
    previous_seconds = saved.value("elapsed_s", 0.0);
    say("resumed ", checkpoint.string(), " at step ", first_step);
  }

  graft::ddp::DataParallel parallel(*model, comm, {.average = graft::ddp::GradientAverage::sum});
  const std::int64_t local_batch = o.batch / comm.size();
  const AugmentOptions augment{.random_warp = o.random_warp,
                               .random_flip = o.random_flip,
                               .colour_transfer = o.colour_transfer,
                               .eyes_mouth = o.eyes_mouth_priority};
  LoaderOptions loader{.batch = local_batch,
                       .ranks = comm.size(),
                       .rank = comm.rank(),
                       .seed = o.seed,
                       .first_step = first_step,
                       .workers = o.loader_workers,
                       .prefetch = 2 * o.loader_workers,
                       .augment = augment};
  BatchLoader src_loader(src_set, &dst_set, loader);
  loader.seed = o.seed ^ 0x5EEDD57ull;  // dst's own stream
  loader.augment.colour_transfer = false;
  BatchLoader dst_loader(dst_set, nullptr, loader);

  std::unique_ptr<graft::train::MetricsLog> metrics;
  std::unique_ptr<graft::train::TensorBoardWriter> tensorboard;
  if (lead) {
    std::filesystem::create_directories(o.output / "previews");
    metrics = std::make_unique<graft::train::MetricsLog>(o.output / "metrics.jsonl");
    if (o.tensorboard) tensorboard = std::make_unique<graft::train::TensorBoardWriter>(o.output / "tensorboard");
  }

  const auto start = std::chrono::steady_clock::now();
  auto seconds = [&] {
    return previous_seconds + std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  auto last_save = std::chrono::steady_clock::now();
  std::deque<double> window;
  double window_sum = 0;
  std::vector<LossPoint> history;
  TrainSummary summary{.first_step = first_step, .last_step = first_step, .ranks = comm.size(),
                       .parameters = Model::parameter_count};
  for (const auto& bucket : parallel.buckets()) summary.bucket_bytes.push_back(bucket.bytes());
  const bool interactive = ::isatty(2);

  auto save = [&](std::int64_t steps_done) {
    if (!lead) return;
    nlohmann::json config{{"run", run_identity(o)}, {"options", o.to_json()}, {"elapsed_s", seconds()}};
    std::visit(
        [&](auto& opt) {
          graft::train::save_training_checkpoint(checkpoint, *model, opt, model_name<Step>(o), steps_done, config);
        },
        optimizer);
  };

  const Step step_fn;
  for (std::int64_t step = first_step;; ++step) {
    const SideTensors& src = src_loader.next();
    const SideTensors& dst = dst_loader.next();
    const auto batch_of = [&](const SideTensors& t) {
      return SideBatch{t.warped.view(), t.target.view(), t.mask.view(), t.loss_mask.view(),
                       o.eyes_mouth_priority ? t.eyes_mouth.view() : graft::ConstView{}};
    };
    const SideBatch src_batch = batch_of(src), dst_batch = batch_of(dst);
    model->zero_gradients();
    const StepLosses local = parallel.forward_backward([&] { return step_fn.forward_backward(*model, src_batch, dst_batch); });
    std::visit([&](auto& opt) { opt.step(model->parameter_buffer(), model->gradient_buffer(), o.lr); }, optimizer);

    std::vector<float> losses{float(local.src), float(local.dst)};
    comm.all_reduce_mean(std::span(losses));
    const double mean = (losses[0] + losses[1]) / 2;
    window.push_back(mean);
    window_sum += mean;
    if (int(window.size()) > o.loss_window) window_sum -= window.front(), window.pop_front();
    const double smoothed = window_sum / double(window.size());
    history.push_back({step, losses[0], losses[1]});
    const std::int64_t done = step + 1;
    summary.last_step = done;
    summary.final_loss = smoothed;

    Decision d;
    if (lead) {
      const bool full_window = int(window.size()) == o.loss_window;
      d.reached_target = o.target_loss > 0 && full_window && smoothed <= o.target_loss;
      d.stop = d.reached_target || (o.steps > 0 && done >= o.steps) || stop_signal.load() != 0;
      d.save = d.stop || (o.save_every > 0 && done % o.save_every == 0) ||
               (o.autosave_minutes > 0 &&
                std::chrono::steady_clock::now() - last_save > std::chrono::duration<double>(60 * o.autosave_minutes));
    }
    comm.broadcast(std::as_writable_bytes(std::span(&d, 1)), 0);

    if (lead && o.record_steps) {
      const auto& timeline = parallel.last_timeline();
      const auto since_began = [&](auto time_point) { return std::chrono::duration<double>(time_point - timeline.began).count(); };
      StepTiming& timing = summary.steps.emplace_back(StepTiming{.end_s = seconds(),
                                                                 .loss = smoothed,
                                                                 .forward_backward_s = since_began(timeline.backward_returned),
                                                                 .reduced_s = since_began(timeline.reduced)});
      for (const auto& bucket : timeline.buckets) timing.bucket_ready_s.push_back(float(since_began(bucket.queued)));
    }
    if (lead) {
      const double t = seconds();
      const double images_per_second = double(2 * o.batch) * double(done - first_step) / std::max(1e-9, t - previous_seconds);
      if (done % o.log_every == 0 || d.stop) {
        metrics->write({{"step", done},
                        {"time_s", t},
                        {"src_loss", losses[0]},
                        {"dst_loss", losses[1]},
                        {"loss", smoothed},
                        {"images_per_s", images_per_second}});
        if (tensorboard) {
          tensorboard->scalar("loss/src", losses[0], done);
          tensorboard->scalar("loss/dst", losses[1], done);
          tensorboard->scalar("loss/mean_window", float(smoothed), done);
          tensorboard->scalar("speed/images_per_second", float(images_per_second), done);
          tensorboard->flush();
        }
      }
      if (interactive || done % o.log_every == 0 || d.stop) {
        const double rate = double(done - first_step) / std::max(1e-9, t - previous_seconds);
        const double eta = o.steps > 0 ? double(o.steps - done) / std::max(rate, 1e-9) : 0;
        std::fprintf(stderr,
                     "%sstep %lld%s%lld  %.2f it/s  %.0f img/s  ETA %02d:%02d:%02d  src %.4f  dst %.4f  (mean of %zu: %.4f)%s",
                     interactive ? "\r" : "", static_cast<long long>(done), o.steps > 0 ? "/" : "",
                     static_cast<long long>(o.steps), rate, images_per_second, int(eta / 3600), int(eta / 60) % 60, int(eta) % 60,
                     losses[0], losses[1], window.size(), smoothed, interactive ? "   " : "\n");
      }
      if (o.preview_every > 0 && (done % o.preview_every == 0 || d.stop)) {
        const std::int64_t n = std::min<std::int64_t>(4, local_batch);
        const graft::Shape images{n, 3, resolution, resolution};
        const graft::ConstView src_view{src.target.data(), images}, dst_view{dst.target.data(), images};
        const Predictions p = step_fn.predict(*model, src_view, dst_view);
        char name[64];
        std::snprintf(name, sizeof name, "step_%08lld.png", static_cast<long long>(done));
        const std::filesystem::path paths[] = {o.output / "previews" / name, o.output / "preview.png"};
        write_preview(paths, src_view, p.src.view(), dst_view, p.dst.view(), p.swap.view());
        write_loss_plot(o.output / "loss.png", history);
      }
    }
    if (d.reached_target) {
      summary.time_to_loss = seconds();
      if (lead) {
        std::fprintf(stderr, "%s", interactive ? "\n" : "");
        say("reached the target loss ", o.target_loss, " (mean of the last ", o.loss_window, " steps: ", smoothed, ") at step ",
            done, " after ", summary.time_to_loss, " s of training (time to loss)");
        metrics->write({{"event", "target_loss_reached"},
                        {"step", done},
                        {"time_to_loss_s", summary.time_to_loss},
                        {"target_loss", o.target_loss},
                        {"images_seen", 2 * o.batch * done}});
      }
    }
    if (d.save) {
      save(done);
      last_save = std::chrono::steady_clock::now();
    }
    if (d.stop) break;
  }
  if (lead && interactive) std::fprintf(stderr, "\n");
  comm.barrier();  // the checkpoint is complete before any rank returns
  summary.seconds = seconds() - previous_seconds;
  summary.lead = lead;
  return summary;
}

}  // namespace faceswap
