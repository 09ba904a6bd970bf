// faceswap: graft's face-replacement tool.
//   faceswap extract --input clip.mp4 --output faces/actor [--face-type whole --size 256]
// (train, swap and export follow; see docs/faceswap-data.md.)
#include <CLI/CLI.hpp>

#include <cstdio>
#include <graft/core/error.hpp>

#include "extract.hpp"

namespace {

void add_extract(CLI::App& app, faceswap::ExtractOptions& o, std::string& face_type, std::string& faces) {
  auto* cmd =
      app.add_subcommand("extract", "Find, align and crop the faces of videos, images or folders of frames into a face set");
  cmd->add_option("-i,--input", o.inputs, "video files, images or folders of frames (in order)")->required();
  cmd->add_option("-o,--output", o.output, "the new face-set folder (must not exist, or be empty)")->required();
  cmd->add_option("--face-type", face_type, "crop extent: half, mid_full, full (eyebrows to chin) or whole (with forehead)")
      ->check(CLI::IsMember({"half", "mid_full", "full", "whole"}));
  cmd->add_option("--size", o.size, "crop side in pixels")->check(CLI::Range(32, 4096));
  cmd->add_option("--faces", faces, "faces kept per frame: largest or all")->check(CLI::IsMember({"largest", "all"}));
  cmd->add_option("--format", o.image_format, "crop image format: jpg or png")->check(CLI::IsMember({"jpg", "png"}));
  cmd->add_option("--jpeg-quality", o.jpeg_quality, "JPEG quality of the crops")->check(CLI::Range(1, 100));
  cmd->add_option("--every", o.every, "keep every n-th frame")->check(CLI::Range(1, 100000));
  cmd->add_option("--min-face", o.min_face, "ignore faces whose detector box is smaller (pixels)")->check(CLI::Range(0, 100000));
  cmd->add_option("--upsample", o.detector.upsample, "enlarge frames 2^n times before detection, for small faces")
      ->check(CLI::Range(0, 3));
  cmd->add_option("--threads", o.threads, "detection threads (0: one per core)")->check(CLI::Range(0, 1024));
  cmd->add_option("--landmark-model", o.detector.shape_predictor, "dlib 68-point shape predictor");
}

int run_extract(faceswap::ExtractOptions& o, const std::string& face_type, const std::string& faces) {
  o.face_type = *faceswap::parse_face_type(face_type);
  o.faces = faces == "all" ? faceswap::FacesPerFrame::all : faceswap::FacesPerFrame::largest;
  const auto report = faceswap::extract(o, [](std::int64_t frames, std::int64_t found) {
    if (frames % 25 == 0)
      std::fprintf(stderr, "\r%lld frames, %lld faces", static_cast<long long>(frames), static_cast<long long>(found));
  });
  std::fprintf(stderr, "\r");
  std::printf("%lld faces from %lld frames into %s", static_cast<long long>(report.faces), static_cast<long long>(report.frames),
              o.output.c_str());
  if (!report.frames_without_face.empty())
    std::printf(" (%zu frames without a face: see faceset.json)", report.frames_without_face.size());
  std::printf("\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"faceswap: face replacement with graft"};
  app.require_subcommand(1);
  faceswap::ExtractOptions extract;
  std::string face_type = "whole", faces = "largest";
  add_extract(app, extract, face_type, faces);
  CLI11_PARSE(app, argc, argv);
  try {
    if (app.got_subcommand("extract")) return run_extract(extract, face_type, faces);
  } catch (const graft::Error& e) {
    std::fprintf(stderr, "faceswap: %s\n", e.what());
    return 1;
  } catch (const cv::Exception& e) {
    std::fprintf(stderr, "faceswap: OpenCV: %s\n", e.what());
    return 1;
  }
  return 0;
}
