#include "aligned_faces.hpp"

#include <algorithm>
#include <graft/core/error.hpp>
#include <utility>

#include "metadata.hpp"

namespace faceswap {

AlignedFaces::AlignedFaces(const std::filesystem::path& folder) : folder_(folder) {
  std::error_code ec;
  graft::check(std::filesystem::is_directory(folder, ec), folder.string(),
               ": no such folder (--aligned takes an extraction's output)");
  std::map<std::string, std::vector<std::pair<int, DetectedFace>>> found;
  for (const auto& file : face_metadata_files(folder)) {
    const FaceMetadata m = read_face_metadata(file);
    found[frame_name(m.source_file, m.source_frame)].emplace_back(m.face_index, DetectedFace{m.source_rect, m.source_landmarks});
  }
  graft::check(!found.empty(), folder.string(),
               ": no face metadata (*.json) here; --aligned takes the folder faceswap extract wrote");
  for (auto& [frame, faces] : found) {
    std::ranges::sort(faces, {}, &std::pair<int, DetectedFace>::first);
    auto& mine = by_frame_[frame];
    for (auto& [index, face] : faces) mine.push_back(face);
  }
}

const std::vector<DetectedFace>& AlignedFaces::of(const std::string& frame_name) const {
  static const std::vector<DetectedFace> none;
  const auto it = by_frame_.find(frame_name);
  return it == by_frame_.end() ? none : it->second;
}

void AlignedFaces::check_footage(const std::vector<FrameSource>& sources) const {
  for (const auto& [frame, faces] : by_frame_)
    if (std::ranges::any_of(sources, [&](const FrameSource& source) { return source.may_name(frame); })) return;
  refuse(sources);
}

void AlignedFaces::check_swapped(std::int64_t faces, const std::vector<FrameSource>& sources) const {
  if (faces == 0) refuse(sources);
}

void AlignedFaces::refuse(const std::vector<FrameSource>& sources) const {
  throw graft::Error(graft::concat(folder_.string(), ": none of its faces is of a frame of the input (it has faces of ",
                                   by_frame_.begin()->first, ", the input's first frame is ",
                                   sources.empty() ? std::string() : sources.front().first_frame_name(),
                                   "); give the folder faceswap extract wrote for this footage"));
}

}  // namespace faceswap
