// AlignedFaces: the faces an extraction of the footage found, read back from
// its metadata (metadata.hpp), by frame.
//
// Artists curate a dst extraction before swapping (delete false detections
// and faces of other people, as DeepFaceLab's workflow does); `faceswap swap
// --aligned <folder>` then swaps exactly those faces, at the landmarks
// extraction found, instead of detecting again. It also needs no landmark
// model, which a render node may not have.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "detector.hpp"

namespace faceswap {

class AlignedFaces {
 public:
  // Every face metadata file (*.json) in `folder`; throws naming the folder
  // when it has none, or the file when one cannot be read.
  explicit AlignedFaces(const std::filesystem::path& folder);

  // The faces of the frame FrameSource names `frame_name`, in their
  // extraction order (largest first); none when extraction kept none.
  const std::vector<DetectedFace>& of(const std::string& frame_name) const;
  // A frame it has faces for (to name in errors).
  const std::string& some_frame() const { return by_frame_.begin()->first; }

 private:
  std::map<std::string, std::vector<DetectedFace>> by_frame_;
};

}  // namespace faceswap
