// AlignedFaces: the faces an extraction of the footage found, read back from
// its metadata (metadata.hpp), by frame.
//
// Artists curate a dst extraction before swapping (delete false detections
// and faces of other people, as DeepFaceLab's workflow does); `faceswap swap
// --aligned <folder>` then swaps exactly those faces, at the landmarks
// extraction found, instead of detecting again. It also needs no landmark
// model, which a render node may not have.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "detector.hpp"
#include "frame_source.hpp"

namespace faceswap {

class AlignedFaces {
 public:
  // Every face metadata file (*.json) in `folder`; throws naming the folder
  // when it has none, or the file when one cannot be read.
  explicit AlignedFaces(const std::filesystem::path& folder);

  // The faces of the frame FrameSource names `frame_name`, in their
  // extraction order (largest first); none when extraction kept none.
  const std::vector<DetectedFace>& of(const std::string& frame_name) const;
  // An extraction of other footage is refused, naming the folder, a frame it
  // has faces of and the input's first frame: check_footage before anything
  // is decoded (no frame of `sources` would have one of its frames' names),
  // check_swapped after the swap (no face swapped: a video shorter than the
  // frame numbers it names).
  void check_footage(const std::vector<FrameSource>& sources) const;
  void check_swapped(std::int64_t faces, const std::vector<FrameSource>& sources) const;

 private:
  [[noreturn]] void refuse(const std::vector<FrameSource>& sources) const;

  std::filesystem::path folder_;
  std::map<std::string, std::vector<DetectedFace>> by_frame_;
};

}  // namespace faceswap
