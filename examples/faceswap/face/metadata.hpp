// FaceMetadata: what extraction knows about one aligned face, kept in a JSON
// file beside the crop (never pickle, never inside the image) so that any
// tool can read it.
//
//   brbk7n_000012_0.jpg        the aligned face (BGR)
//   brbk7n_000012_0.mask.png   its mask (8-bit, 255 = face)
//   brbk7n_000012_0.json       this metadata
//
// Reading is strict: a missing key or a value of the wrong type is an error
// naming the file and the key.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "alignment.hpp"

namespace faceswap {

inline constexpr std::string_view face_metadata_format = "graft-face/1";

struct FaceMetadata {
  std::string image, mask;  // file names, relative to the JSON's folder
  FaceType face_type = FaceType::whole;
  int size = 0;                   // the crop is size x size
  std::string source_file;        // the video or image the face came from
  std::int64_t source_frame = 0;  // frame number in source_file
  int source_width = 0, source_height = 0;
  int face_index = 0;            // among the faces kept in that frame, largest first
  cv::Rect source_rect;          // the detector's box in the frame
  Landmarks source_landmarks{};  // in frame pixels
  Landmarks landmarks{};         // in crop pixels
  Affine image_to_face;          // frame pixels -> crop pixels

  friend bool operator==(const FaceMetadata&, const FaceMetadata&) = default;
};

nlohmann::json to_json(const FaceMetadata& m);
// `where` names the file in error messages.
FaceMetadata face_metadata_from_json(const nlohmann::json& j, const std::string& where);

void write_face_metadata(const std::filesystem::path& path, const FaceMetadata& m);
FaceMetadata read_face_metadata(const std::filesystem::path& path);

// The extraction summary beside the faces (extract.cpp), not a face's metadata.
inline constexpr std::string_view face_set_summary = "faceset.json";

// The face metadata files in an extraction folder (every *.json but the
// summary), in name order.
std::vector<std::filesystem::path> face_metadata_files(const std::filesystem::path& folder);

}  // namespace faceswap
