#include "metadata.hpp"

#include <algorithm>
#include <fstream>
#include <graft/core/error.hpp>

#include "json_value.hpp"

namespace faceswap {
namespace {

constexpr std::string_view metadata = "the face metadata";  // what errors call it

using nlohmann::json;

json points(const Landmarks& l) {
  json a = json::array();
  for (const Point& p : l) a.push_back({p.x, p.y});
  return a;
}

Landmarks landmarks_from(const json& j, const char* key, const std::string& where) {
  const auto rows = json_value<std::vector<std::vector<double>>>(j, key, where, metadata);
  graft::check(rows.size() == landmark_count, where, ": \"", key, "\" holds ", rows.size(), " points, expected ", landmark_count);
  Landmarks l;
  for (std::size_t i = 0; i < landmark_count; ++i) {
    graft::check(rows[i].size() == 2, where, ": \"", key, "\" point ", i, " is not [x, y]");
    l[i] = {rows[i][0], rows[i][1]};
  }
  return l;
}

}  // namespace

json to_json(const FaceMetadata& m) {
  const Affine& t = m.image_to_face;
  return {
      {"format", face_metadata_format},
      {"image", m.image},
      {"mask", m.mask},
      {"face_type", name_of(m.face_type)},
      {"size", m.size},
      {"source", {{"file", m.source_file}, {"frame", m.source_frame}, {"width", m.source_width}, {"height", m.source_height}}},
      {"face_index", m.face_index},
      {"source_rect", {m.source_rect.x, m.source_rect.y, m.source_rect.width, m.source_rect.height}},
      {"source_landmarks", points(m.source_landmarks)},
      {"landmarks", points(m.landmarks)},
      {"image_to_face", {{t.a, t.b, t.c}, {t.d, t.e, t.f}}}};
}

FaceMetadata face_metadata_from_json(const json& j, const std::string& where) {
  const auto format = json_value<std::string>(j, "format", where, metadata);
  graft::check(format == face_metadata_format, where, ": format \"", format, "\", this program reads \"", face_metadata_format,
               "\"");
  FaceMetadata m;
  m.image = json_value<std::string>(j, "image", where, metadata);
  m.mask = json_value<std::string>(j, "mask", where, metadata);
  const auto type = json_value<std::string>(j, "face_type", where, metadata);
  const auto parsed = parse_face_type(type);
  graft::check(parsed.has_value(), where, ": unknown face_type \"", type, "\"");
  m.face_type = *parsed;
  m.size = json_value<int>(j, "size", where, metadata);
  graft::check(m.size > 0, where, ": size must be positive");
  const json source = json_value<json>(j, "source", where, metadata);
  m.source_file = json_value<std::string>(source, "file", where, metadata);
  m.source_frame = json_value<std::int64_t>(source, "frame", where, metadata);
  m.source_width = json_value<int>(source, "width", where, metadata);
  m.source_height = json_value<int>(source, "height", where, metadata);
  m.face_index = json_value<int>(j, "face_index", where, metadata);
  const auto rect = json_value<std::vector<int>>(j, "source_rect", where, metadata);
  graft::check(rect.size() == 4, where, ": source_rect must be [x, y, width, height]");
  m.source_rect = cv::Rect(rect[0], rect[1], rect[2], rect[3]);
  m.source_landmarks = landmarks_from(j, "source_landmarks", where);
  m.landmarks = landmarks_from(j, "landmarks", where);
  const auto t = json_value<std::vector<std::vector<double>>>(j, "image_to_face", where, metadata);
  graft::check(t.size() == 2 && t[0].size() == 3 && t[1].size() == 3, where, ": image_to_face must be a 2x3 matrix");
  m.image_to_face = {t[0][0], t[0][1], t[0][2], t[1][0], t[1][1], t[1][2]};
  return m;
}

void write_face_metadata(const std::filesystem::path& path, const FaceMetadata& m) {
  std::ofstream out(path, std::ios::trunc);
  graft::check(bool(out), path.string(), ": cannot open for writing");
  out << to_json(m).dump() << '\n';
  out.flush();
  graft::check(bool(out), path.string(), ": write failed (disk full?)");
}

FaceMetadata read_face_metadata(const std::filesystem::path& path) {
  std::ifstream in(path);
  graft::check(bool(in), path.string(), ": cannot open for reading");
  json j;
  try {
    j = json::parse(in);
  } catch (const json::parse_error& e) {
    graft::fail(path.string(), ": not valid JSON: ", e.what());
  }
  return face_metadata_from_json(j, path.string());
}

std::vector<std::filesystem::path> face_metadata_files(const std::filesystem::path& folder) {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(folder))
    if (entry.is_regular_file() && entry.path().extension() == ".json" && entry.path().filename() != face_set_summary)
      files.push_back(entry.path());
  std::ranges::sort(files);
  return files;
}

}  // namespace faceswap
