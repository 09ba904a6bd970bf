#include "batch_loader.hpp"

#include <graft/core/error.hpp>
#include <graft/core/philox.hpp>
#include <graft/ddp/distributed_sampler.hpp>

namespace faceswap {

BatchLoader::BatchLoader(const FaceSet& set, const FaceSet* colour_reference, const LoaderOptions& options)
    : set_(set),
      colour_reference_(colour_reference),
      options_(options),
      slots_(static_cast<std::size_t>(std::max(1, options.prefetch))),
      next_to_claim_(options.first_step),
      released_through_(options.first_step - 1),
      current_(options.first_step - 1) {
  graft::check(options.batch > 0 && options.ranks > 0 && options.rank >= 0 && options.rank < options.ranks,
               "batch loader: need batch > 0 and 0 <= rank < ranks, got batch ", options.batch, ", rank ", options.rank, " of ",
               options.ranks);
  graft::check(options.workers > 0, "batch loader: need at least one worker, got ", options.workers);
  graft::check(set.size() > 0, "batch loader: the face set is empty");
  if (options.uniform_yaw) by_yaw_.emplace(yaws_of(set, "uniform yaw"));
  for (auto& slot : slots_) slot.tensors = SideTensors(options.batch, set.resolution(), options.augment.eyes_mouth);
  for (int i = 0; i < options.workers; ++i) workers_.emplace_back([this] { work(); });
}

BatchLoader::~BatchLoader() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  for (auto& w : workers_) w.join();
}

std::pair<std::size_t, SampleKey> BatchLoader::sample_of(std::int64_t step, std::int64_t b) const {
  const std::int64_t global_batch = options_.batch * options_.ranks;
  const std::int64_t slot = b * options_.ranks + options_.rank;
  const std::int64_t position = step * global_batch + slot;
  const SampleKey key{options_.seed, std::uint64_t(step), std::uint64_t(slot)};
  if (by_yaw_) {
    const graft::Philox draws(options_.seed ^ 0x5A3D1E55ull);  // apart from the augmentation's draws
    return {by_yaw_->pick(draws.uniform(2 * std::uint64_t(position)), draws.uniform(2 * std::uint64_t(position) + 1)), key};
  }
  const auto n = static_cast<std::int64_t>(set_.size());
  const std::int64_t epoch = position / n;
  std::lock_guard lock(permutation_mutex_);
  if (epoch != permutation_epoch_) {
    permutation_ = graft::ddp::DistributedSampler(n, 1, 0, {.seed = options_.seed}).permutation(std::uint64_t(epoch));
    permutation_epoch_ = epoch;
  }
  return {std::size_t(permutation_[std::size_t(position % n)]), key};
}

void BatchLoader::prepare(Slot& slot, std::int64_t step) {
  for (std::int64_t b = 0; b < options_.batch; ++b) {
    const auto [index, key] = sample_of(step, b);
    augment_into(set_, index, key, options_.augment, colour_reference_, slot.tensors, b);
  }
}

void BatchLoader::work() {
  // No cv::setNumThreads here: with OpenCV's TBB backend it is process-global and
  // re-creates the shared task arena, which crashed when workers called it while
  // other threads were inside OpenCV. Nested parallel_for_ calls share TBB's pool.
  std::unique_lock lock(mutex_);
  for (;;) {
    // A step may be claimed when its slot is free: the caller has given back the step that held it.
    changed_.wait(lock, [&] { return stop_ || next_to_claim_ - std::int64_t(slots_.size()) <= released_through_; });
    if (stop_) return;
    const std::int64_t step = next_to_claim_++;
    Slot& slot = slots_[std::size_t(step % std::int64_t(slots_.size()))];
    slot.step = step;
    slot.ready = false;
    lock.unlock();
    std::exception_ptr failure;
    try {
      prepare(slot, step);
    } catch (...) {
      failure = std::current_exception();
    }
    lock.lock();
    if (failure && !error_) error_ = failure;
    slot.ready = true;
    changed_.notify_all();
  }
}

const SideTensors& BatchLoader::next() {
  std::unique_lock lock(mutex_);
  const std::int64_t step = current_ + 1;
  released_through_ = current_;  // the caller is done with the batch it held
  changed_.notify_all();
  Slot& slot = slots_[std::size_t(step % std::int64_t(slots_.size()))];
  changed_.wait(lock, [&] { return error_ || (slot.step == step && slot.ready); });
  if (error_) std::rethrow_exception(error_);
  current_ = step;
  return slot.tensors;
}

}  // namespace faceswap
