#include "extract.hpp"

#include <cstdio>
#include <fstream>
#include <graft/core/error.hpp>
#include <opencv2/imgproc.hpp>

#include "face/canonical_face.hpp"
#include "face/frame_source.hpp"
#include "face/image_file.hpp"
#include "face/mask.hpp"
#include "face/metadata.hpp"
#include "face/parallel_detector.hpp"
#include "staging_folder.hpp"

namespace faceswap {
namespace {

namespace fs = std::filesystem;

void check_options(const ExtractOptions& o) {
  graft::check(!o.inputs.empty(), "extract: no input given");
  graft::check(!o.output.empty(), "extract: no output folder given");
  graft::check(o.size >= 32 && o.size <= 4096, "extract: --size must be 32..4096, got ", o.size);
  graft::check(o.image_format == "jpg" || o.image_format == "png", "extract: --format must be jpg or png, got ", o.image_format);
  graft::check(o.jpeg_quality >= 1 && o.jpeg_quality <= 100, "extract: --jpeg-quality must be 1..100, got ", o.jpeg_quality);
  graft::check(o.every >= 1, "extract: --every must be at least 1, got ", o.every);
  check_new_output(o.output, "extract");
}

void write_face(const fs::path& folder, const Frame& frame, const DetectedFace& face, int face_index, const ExtractOptions& o) {
  const Affine to_crop = crop_transform(face.landmarks, o.face_type, o.size, canonical_face);
  const cv::Matx23d m(to_crop.a, to_crop.b, to_crop.c, to_crop.d, to_crop.e, to_crop.f);
  cv::Mat crop;
  cv::warpAffine(frame.image, crop, m, cv::Size(o.size, o.size), cv::INTER_LANCZOS4, cv::BORDER_REPLICATE);
  FaceMetadata meta;
  const std::string stem = frame.name + "_" + std::to_string(face_index);
  meta.image = stem + "." + o.image_format;
  meta.mask = stem + ".mask.png";
  meta.face_type = o.face_type;
  meta.size = o.size;
  meta.source_file = frame.file.string();
  meta.source_frame = frame.index;
  meta.source_width = frame.image.cols;
  meta.source_height = frame.image.rows;
  meta.face_index = face_index;
  meta.source_rect = face.rect;
  meta.source_landmarks = face.landmarks;
  meta.landmarks = transformed(face.landmarks, to_crop);
  meta.image_to_face = to_crop;
  write_image(folder / meta.image, crop, {.jpeg_quality = o.jpeg_quality});
  write_image(folder / meta.mask, landmark_hull_mask(meta.landmarks, o.size));
  write_face_metadata(folder / (stem + ".json"), meta);
}

}  // namespace

nlohmann::json ExtractReport::to_json(const ExtractOptions& o) const {
  std::vector<std::string> inputs;
  for (const auto& i : o.inputs) inputs.push_back(i.string());
  return {{"format", "graft-faceset/1"},
          {"frames", frames},
          {"faces", faces},
          {"frames_without_face", frames_without_face},
          {"inputs", inputs},
          {"face_type", name_of(o.face_type)},
          {"size", o.size},
          {"faces_per_frame", o.faces == FacesPerFrame::all ? "all" : "largest"},
          {"every", o.every},
          {"min_face", o.min_face}};
}

ExtractReport extract(const ExtractOptions& o, const ExtractProgress& progress) {
  check_options(o);
  std::vector<FrameSource> sources;
  for (const auto& input : o.inputs) sources.emplace_back(input);  // every input is checked before any work
  ParallelDetector detector(o.detector, o.threads);
  StagingFolder staging(o.output);
  ExtractReport report;
  const auto every = [&](std::int64_t position) { return position % o.every == 0; };  // of each input, from its first frame
  for (auto& source : sources) {
    for (auto chunk = detector.next(source, every); !chunk.empty(); chunk = detector.next(source, every)) {
      for (auto& [frame, faces] : chunk) {
        ++report.frames;
        std::erase_if(faces, [&](const DetectedFace& f) { return std::min(f.rect.width, f.rect.height) < o.min_face; });
        if (faces.empty())
          report.frames_without_face.push_back(source.is_video() ? source.input().string() + ": frame " + std::to_string(frame.index)
                                                                 : frame.file.string());
        const std::size_t keep = o.faces == FacesPerFrame::all ? faces.size() : std::min<std::size_t>(1, faces.size());
        for (std::size_t k = 0; k < keep; ++k) write_face(staging.path(), frame, faces[k], int(k), o);
        report.faces += std::int64_t(keep);
        if (progress) progress(report.frames, report.faces);
      }
    }
  }
  std::string inputs;
  for (const auto& i : o.inputs) inputs += (inputs.empty() ? "" : ", ") + i.string();
  graft::check(report.faces > 0, inputs, ": no face found in ", report.frames,
               " frame(s); nothing was written (faces must be at least ", o.min_face, " px; try --upsample 1 for small faces)");
  std::ofstream summary(staging.path() / face_set_summary);
  summary << report.to_json(o).dump(1) << '\n';
  summary.flush();
  graft::check(bool(summary), (staging.path() / face_set_summary).string(), ": write failed (disk full?)");
  summary.close();
  staging.commit();
  return report;
}

}  // namespace faceswap
