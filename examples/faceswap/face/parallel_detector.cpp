#include "parallel_detector.hpp"

#include <omp.h>

#include <algorithm>
#include <graft/core/error.hpp>
#include <string>
#include <thread>

#include "parallel_each.hpp"

namespace faceswap {

namespace {
int thread_count(int threads) {
  graft::check(threads >= 0, "face detection: ", threads, " threads");
  return threads > 0 ? threads : std::max(1, int(std::thread::hardware_concurrency()));
}
}  // namespace

ParallelDetector::ParallelDetector(const DetectorOptions& options, int threads) : threads_(thread_count(threads)) {
  detectors_.reserve(std::size_t(threads_));
  detectors_.emplace_back(options);
  for (int t = 1; t < threads_; ++t) detectors_.push_back(detectors_.front());
}

ParallelDetector::ParallelDetector(const AlignedFaces& given, int threads) : given_(&given), threads_(thread_count(threads)) {}

std::vector<DetectedFrame> ParallelDetector::next(FrameSource& source, const std::function<bool(std::int64_t)>& keep) {
  std::vector<DetectedFrame> chunk;
  const std::size_t size = 4 * std::size_t(threads_);
  std::size_t bytes = 0;
  while (chunk.size() < size && bytes < chunk_bytes) {
    if (keep && !keep(source.position())) {  // asked before reading: a refused image is not decoded
      if (!source.skip()) break;
      continue;
    }
    auto frame = source.next();
    if (!frame) break;
    bytes += frame->image.total() * frame->image.elemSize() + frame->plate.total() * frame->plate.elemSize();
    chunk.push_back({std::move(*frame), {}});
  }
  if (given_) {
    for (DetectedFrame& f : chunk) f.faces = given_->of(f.frame.name);
    return chunk;
  }
  parallel_each(chunk.size(), threads(), [&](std::size_t i) {
    Frame& frame = chunk[i].frame;
    try {
      chunk[i].faces = detectors_[std::size_t(omp_get_thread_num())].detect(frame.image);
    } catch (const std::exception& e) {
      graft::fail(frame.file.string(), source.is_video() ? ": frame " + std::to_string(frame.index) : std::string(), ": ", e.what());
    }
  });
  return chunk;
}

}  // namespace faceswap
