// extract: footage in, an aligned face set out.
//
// Every frame of every input (videos, stills, folders of frames) goes through
// the detector; each kept face is aligned (alignment.hpp), cropped to
// size x size with its landmark-hull mask, and written with its metadata
// (metadata.hpp). Frames are decoded in order and detected in parallel,
// a chunk at a time, and written in order. Frames without a face are counted and listed in the set's
// faceset.json, not fatal. The set is written into a temporary folder beside
// the output and renamed into place at the end, so an interrupted or failed
// extraction never leaves a folder that looks complete.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "face/alignment.hpp"
#include "face/detector.hpp"

namespace faceswap {

enum class FacesPerFrame { largest, all };

struct ExtractOptions {
  std::vector<std::filesystem::path> inputs;
  std::filesystem::path output;
  FaceType face_type = FaceType::whole;
  int size = 256;  // crop side in pixels
  FacesPerFrame faces = FacesPerFrame::largest;
  std::string image_format = "jpg";  // "jpg" or "png"
  int jpeg_quality = 95;
  int every = 1;      // keep every n-th frame
  int min_face = 40;  // ignore detections smaller than this (pixels, box side)
  int threads = 0;    // detection threads; 0: one per core
  DetectorOptions detector;
};

struct ExtractReport {
  std::int64_t frames = 0, faces = 0;
  std::vector<std::string> frames_without_face;  // "<input>: frame <n>" / "<image>"
  nlohmann::json to_json(const ExtractOptions& options) const;
};

// Called after each frame with (frames done, faces so far).
using ExtractProgress = std::function<void(std::int64_t, std::int64_t)>;

// Throws graft::Error naming the input or output on bad input, on an output
// that exists and is not empty, and when no frame holds a face; the output
// is then left as it was.
ExtractReport extract(const ExtractOptions& options, const ExtractProgress& progress = {});

}  // namespace faceswap
