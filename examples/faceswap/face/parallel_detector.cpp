#include "parallel_detector.hpp"

#include <omp.h>

#include <algorithm>
#include <graft/core/error.hpp>
#include <string>
#include <thread>

#include "parallel_each.hpp"

namespace faceswap {

ParallelDetector::ParallelDetector(const DetectorOptions& options, int threads) {
  graft::check(threads >= 0, "face detection: ", threads, " threads");
  const int count = threads > 0 ? threads : std::max(1, int(std::thread::hardware_concurrency()));
  detectors_.reserve(std::size_t(count));
  detectors_.emplace_back(options);
  for (int t = 1; t < count; ++t) detectors_.push_back(detectors_.front());
}

std::vector<DetectedFrame> ParallelDetector::next(FrameSource& source, const std::function<bool()>& keep) {
  std::vector<DetectedFrame> chunk;
  const std::size_t size = 4 * detectors_.size();
  std::size_t bytes = 0;
  while (chunk.size() < size && bytes < chunk_bytes) {
    auto frame = source.next();
    if (!frame) break;
    if (keep && !keep()) continue;
    bytes += frame->image.total() * frame->image.elemSize() + frame->plate.total() * frame->plate.elemSize();
    chunk.push_back({std::move(*frame), {}});
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
