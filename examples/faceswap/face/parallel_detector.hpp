// ParallelDetector: the frames of a source read a chunk at a time and their
// faces detected on several threads.
//
// dlib's detector runs on one core and is the slow part of reading faces
// out of footage (about 30 ms per 360x288 frame, seconds per 4K frame), so
// extract and swap both take a chunk of frames, detect in all of them at
// once with one detector copy per thread, and then handle the chunk's
// results in frame order. Given an extraction's faces (AlignedFaces) it
// detects nothing and looks each frame's faces up there instead.
#pragma once

#include <functional>
#include <vector>

#include "aligned_faces.hpp"
#include "detector.hpp"
#include "frame_source.hpp"

namespace faceswap {

struct DetectedFrame {
  Frame frame;
  std::vector<DetectedFace> faces;  // largest first
};

class ParallelDetector {
 public:
  // threads 0: one per core.
  ParallelDetector(const DetectorOptions& options, int threads);
  // No detector (nor its landmark model): the faces of `given`, which must outlive this.
  ParallelDetector(const AlignedFaces& given, int threads);
  int threads() const { return threads_; }
  // The next chunk of frames of `source` with their faces: 4 per thread, or
  // fewer once they hold chunk_bytes; fewer at its end, none after it.
  // `keep`, when given, is asked with each frame's position before it is
  // read; the frames it refuses are skipped (FrameSource::skip: images not
  // decoded). A frame whose detection fails throws naming it.
  std::vector<DetectedFrame> next(FrameSource& source, const std::function<bool(std::int64_t position)>& keep = {});

 private:
  std::vector<FaceDetector> detectors_;
  const AlignedFaces* given_ = nullptr;
  int threads_ = 1;
};

// A chunk stops taking frames once they hold this many bytes: 64 4K frames
// of 16 bits with their 8-bit images would be ~5 GB.
inline constexpr std::size_t chunk_bytes = std::size_t(1) << 30;

}  // namespace faceswap
