#include "parallel_detector.hpp"

#include <omp.h>

#include <algorithm>
#include <graft/core/error.hpp>
#include <string>
#include <thread>

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
  while (chunk.size() < size) {
    auto frame = source.next();
    if (!frame) break;
    if (!keep || keep()) chunk.push_back({std::move(*frame), {}});
  }
  std::vector<std::string> errors(chunk.size());
#pragma omp parallel for num_threads(threads()) schedule(dynamic, 1)
  for (std::size_t i = 0; i < chunk.size(); ++i) {
    try {
      chunk[i].faces = detectors_[std::size_t(omp_get_thread_num())].detect(chunk[i].frame.image);
    } catch (const std::exception& e) {
      errors[i] = e.what();
    }
  }
  for (std::size_t i = 0; i < chunk.size(); ++i)
    graft::check(errors[i].empty(), chunk[i].frame.file.string(),
                 source.is_video() ? ": frame " + std::to_string(chunk[i].frame.index) : std::string(), ": ", errors[i]);
  return chunk;
}

}  // namespace faceswap
