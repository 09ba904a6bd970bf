// BatchLoader: this rank's augmented batches, prepared ahead on worker threads.
//
// Step s of the whole job (all ranks together) takes global positions
// [s B, (s + 1) B) of an endless stream of epochs, each epoch a Philox
// permutation of the face set (the same as DistributedSampler's); rank r of
// N takes the slots r, r + N, ... of each step, as DistributedSampler deals
// them. Each sample is augmented with the key (seed, s, slot), so the job sees
// the same batches whatever its rank count and however many workers prepare
// them. Workers run up to `prefetch` steps ahead; next() returns the steps
// in order and only waits when the workers have fallen behind. With
// uniform_yaw each global position draws its face by yaw instead
// (yaw_sampler.hpp), from Philox keyed by the position: the same batches
// for any rank or worker count still.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "augment.hpp"
#include "yaw_sampler.hpp"

namespace faceswap {

struct LoaderOptions {
  std::int64_t batch = 8;  // samples per step on this rank
  int ranks = 1, rank = 0;
  std::uint64_t seed = 0;
  std::int64_t first_step = 0;  // where a resumed run continues
  int workers = 2;
  int prefetch = 4;  // steps prepared ahead
  bool uniform_yaw = false;  // draw faces evenly over yaw (the set needs its metadata)
  AugmentOptions augment{};
};

class BatchLoader {
 public:
  // `set` (and `colour_reference`, which may be null) must outlive the loader.
  BatchLoader(const FaceSet& set, const FaceSet* colour_reference, const LoaderOptions& options);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // The next step's batch; valid until the following call. Rethrows a worker's failure.
  const SideTensors& next();
  std::int64_t step() const { return current_; }  // the step the last next() returned (first_step - 1 before)

  // The face index and key of sample `b` of this rank's batch at `step` (what a worker augments).
  std::pair<std::size_t, SampleKey> sample_of(std::int64_t step, std::int64_t b) const;

 private:
  struct Slot {
    SideTensors tensors;
    std::int64_t step = -1;
    bool ready = false;
  };
  void work();
  void prepare(Slot& slot, std::int64_t step);

  const FaceSet& set_;
  const FaceSet* colour_reference_;
  LoaderOptions options_;
  std::vector<Slot> slots_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::int64_t next_to_claim_, released_through_, current_;
  bool stop_ = false;
  std::exception_ptr error_;
  mutable std::mutex permutation_mutex_;
  mutable std::int64_t permutation_epoch_ = -1;
  mutable std::vector<std::int64_t> permutation_;
  std::optional<UniformYawSampler> by_yaw_;
  std::vector<std::thread> workers_;
};

}  // namespace faceswap
