#include "swapper.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <fstream>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>
#include <optional>

#include <nlohmann/json.hpp>

#include "face/aligned_faces.hpp"
#include "face/alignment_smoothing.hpp"
#include "face/canonical_face.hpp"
#include "face/frame_source.hpp"
#include "face/image_file.hpp"
#include "face/mask.hpp"
#include "face/parallel_detector.hpp"
#include "face/planes.hpp"
#include "face/scene_linear.hpp"
#include "parallel_each.hpp"
#include "precision.hpp"
#include "staging_folder.hpp"

namespace faceswap {
namespace {

// A face to swap: which of the frames being swapped it is in, its crop as the model saw faces in training, and what the model
// drew.
struct SwapFace {
  std::size_t frame;
  Affine to_crop;
  const Landmarks* landmarks = nullptr;  // in frame pixels, as detected; none for a face filled in across a gap
  cv::Mat crop;  // R x R float BGR in [0, 1]
  cv::Mat face, mask;
};

// Frames whose faces' transforms are final, swapped together: their crops,
// the model's drawings in batches, compositing, the files and the video.
class FrameSwapper {
 public:
  FrameSwapper(const SwapOptions& o, int resolution, const DrawFaces& draw, const std::filesystem::path& staging, int threads)
      : o_(o), r_(resolution), draw_(draw), staging_(staging), threads_(threads) {}

  void swap(std::vector<DetectedFrame>& frames, const std::vector<FrameAlignment>& transforms, SwapReport& report,
            cv::VideoWriter& video) {
    std::vector<SwapFace> faces;  // frame by frame
    for (std::size_t i = 0; i < frames.size(); ++i) {
      if (transforms[i].faces.empty()) report.frames_without_face.push_back(frames[i].frame.name);
      if (transforms[i].filled > 0) report.frames_filled.push_back(frames[i].frame.name);
      report.faces_filled += std::int64_t(transforms[i].filled);
      const std::size_t detected = transforms[i].faces.size() - transforms[i].filled;  // pushed in detection order
      for (std::size_t k = 0; k < transforms[i].faces.size(); ++k)
        faces.push_back({i, transforms[i].faces[k], k < detected ? &frames[i].faces[k].landmarks : nullptr});
    }
    report.frames += std::int64_t(frames.size());
    report.faces += std::int64_t(faces.size());
    crop(frames, faces);
    report.model_seconds += draw(faces);
    composite_and_write(frames, faces);
    if (!o_.video.empty()) append_to_video(frames, video);
  }

 private:
  void crop(const std::vector<DetectedFrame>& frames, std::vector<SwapFace>& faces) const {
    parallel_each(faces.size(), threads_, [&](std::size_t f) {
      const Affine& t = faces[f].to_crop;
      cv::Mat crop8;
      cv::warpAffine(frames[faces[f].frame].frame.image, crop8, cv::Matx23d(t.a, t.b, t.c, t.d, t.e, t.f), cv::Size(r_, r_),
                     cv::INTER_CUBIC, cv::BORDER_REPLICATE);
      crop8.convertTo(faces[f].crop, CV_32FC3, 1.0 / 255);
    });
  }

  // The model on whole batches; returns the seconds it took.
  double draw(std::vector<SwapFace>& faces) const {
    double seconds = 0;
    const int r = r_;
    for (std::size_t first = 0; first < faces.size(); first += swap_batch) {
      const std::size_t n = std::min(std::size_t(swap_batch), faces.size() - first);
      graft::Tensor input = graft::Tensor::zeros(graft::Shape{swap_batch, 3, r, r});
      for (std::size_t f = 0; f < n; ++f) to_planes(faces[first + f].crop, input.data() + f * 3 * r * r);
      const auto drawing = std::chrono::steady_clock::now();
      const graft::Tensor drawn = draw_(input.view());  // (swap_batch, 4, R, R): rgb, mask
      seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - drawing).count();
      for (std::size_t f = 0; f < n; ++f) {
        SwapFace& face = faces[first + f];
        face.face.create(r, r, CV_32FC3);
        face.mask.create(r, r, CV_32F);
        from_planes(drawn.data() + f * 4 * r * r, face.face);
        from_planes(drawn.data() + (f * 4 + 3) * r * r, face.mask);
        if (o_.mask != MaskSource::learned && face.landmarks) cut_to_hull(face);
      }
    }
    return seconds;
  }

  // --mask hull or both: the hull of the face's landmarks, moved into the crop as the face was.
  void cut_to_hull(SwapFace& face) const {
    Landmarks in_crop{};
    for (std::size_t i = 0; i < landmark_count; ++i) in_crop[i] = face.to_crop((*face.landmarks)[i]);
    cv::Mat hull;
    landmark_hull_mask(in_crop, r_).convertTo(hull, CV_32F, 1.0 / 255);
    face.mask = o_.mask == MaskSource::hull ? hull : face.mask.mul(hull);
  }

  // Each frame with its faces put back, and its mask, written by one thread,
  // at the frame's depth: 16-bit plates stay 16-bit PNG, EXR plates EXR
  // (half or float, as they came) with 16-bit PNG masks; the video gets 8 bits.
  void composite_and_write(std::vector<DetectedFrame>& frames, std::vector<SwapFace>& faces) const {
    parallel_each(frames.size(), threads_, [&](std::size_t i) {
      Frame& frame = frames[i].frame;
      cv::Mat& image = frame.plate.empty() ? frame.image : frame.plate;  // its crops are taken: composited in place
      cv::Mat frame_mask = cv::Mat::zeros(image.size(), CV_MAKETYPE(image.depth(), 1));
      nlohmann::json patches = nlohmann::json::array();
      for (SwapFace& face : faces) {
        if (face.frame != i) continue;
        const CropPatch patch = prepare_patch(face.face, face.mask, face.crop, o_.blend);
        frame_mask = cv::max(frame_mask, paste_patch(image, face.to_crop, patch));
        if (o_.patches) patches.push_back(write_patch(frame, patches.size(), face.to_crop, patch));
      }
      if (o_.patches) {
        const auto path = staging_ / "patches" / (frame.name + ".json");
        std::ofstream out(path);
        out << nlohmann::json{{"frame", frame.name},
                              {"width", image.cols},
                              {"height", image.rows},
                              {"coordinates", "pixels, origin at the top-left pixel's centre, y down (OpenCV)"},
                              {"faces", patches}}
                   .dump(1)
            << '\n';
        graft::check(bool(out.flush()), path.string(), ": write failed (disk full?)");
      }
      const bool linear = image.depth() == CV_32F;
      write_image(staging_ / "frames" / (frame.name + (linear ? ".exr" : ".png")), image, {.half_float = frame.half});
      if (linear) frame_mask.convertTo(frame_mask, CV_16U, 65535.0);
      write_image(staging_ / "masks" / (frame.name + ".png"), frame_mask);
      if (frame.plate.empty() || o_.video.empty()) return;
      if (linear)
        frame.image = display_image(frame.plate);
      else
        frame.plate.convertTo(frame.image, CV_8U, 1.0 / 257);
    });
  }

  // patches/<frame>_<k>.png and its entry in the frame's JSON.
  nlohmann::json write_patch(const Frame& frame, std::size_t k, const Affine& to_crop, const CropPatch& patch) const {
    const std::string file = frame.name + "_" + std::to_string(k) + ".png";
    cv::Mat bgra, sixteen;
    cv::merge(std::vector<cv::Mat>{patch.face, patch.mask}, bgra);
    bgra.convertTo(sixteen, CV_16U, 65535.0);
    write_image(staging_ / "patches" / file, sixteen);
    const Affine back = to_crop.inverse();
    return {{"file", file},
            {"crop_size", r_},
            {"frame_to_crop", {to_crop.a, to_crop.b, to_crop.c, to_crop.d, to_crop.e, to_crop.f}},
            {"crop_to_frame", {back.a, back.b, back.c, back.d, back.e, back.f}}};
  }

  void append_to_video(const std::vector<DetectedFrame>& frames, cv::VideoWriter& video) const {
    for (const auto& [frame, found] : frames) {
      if (!video.isOpened()) {
        const auto ext = o_.video.extension().string();
        const int fourcc =
            ext == ".avi" ? cv::VideoWriter::fourcc('M', 'J', 'P', 'G') : cv::VideoWriter::fourcc('m', 'p', '4', 'v');
        graft::check(video.open((staging_ / o_.video).string(), cv::CAP_FFMPEG, fourcc, o_.fps, frame.image.size()),
                     o_.video.string(), ": cannot write a video with this name (use .mp4 or .avi)");
      }
      video.write(frame.image);
    }
  }

  const SwapOptions& o_;
  int r_;
  const DrawFaces& draw_;
  std::filesystem::path staging_;
  int threads_;
};

}  // namespace

SwapReport swap_faces(const SwapOptions& o, const int r, const DrawFaces& draw) {
  graft::check(o.first_frame >= 0, "swap: --first-frame must be 0 or more, got ", o.first_frame);
  graft::check(o.last_frame < 0 || o.last_frame >= o.first_frame, "swap: --last-frame ", o.last_frame,
               " is before --first-frame ", o.first_frame);
  const bool whole = o.first_frame == 0 && o.last_frame < 0;
  std::vector<FrameSource> sources;
  for (const auto& input : o.inputs) sources.emplace_back(input, FrameDepth::as_file);
  // With --aligned, the extraction's faces (all it kept: an artist's curated set) and no detector.
  const std::optional<AlignedFaces> aligned = o.aligned.empty() ? std::nullopt : std::optional<AlignedFaces>(o.aligned);
  if (aligned) aligned->check_footage(sources);
  ParallelDetector detector = aligned ? ParallelDetector(*aligned, o.threads) : ParallelDetector(o.detector, o.threads);
  check_new_output(o.output, "swap");
  StagingFolder staging(o.output);
  std::filesystem::create_directories(staging.path() / "frames");
  std::filesystem::create_directories(staging.path() / "masks");
  if (o.patches) std::filesystem::create_directories(staging.path() / "patches");
  cv::VideoWriter video;
  SwapReport report;
  FrameSwapper swapper(o, r, draw, staging.path(), detector.threads());
  // Frames wait in `pending` until their faces' smoothed transforms are final (alignment_smoothing.hpp).
  AlignmentSmoother smoother(o.smooth, r, o.fill_gaps);
  std::deque<DetectedFrame> pending;
  // A frame range is read with `margin` frames on each side, tracked and
  // smoothed with them but not swapped: its frames come out as in a whole
  // render (the smoothing reaches N frames, a gap G more, a track's heading
  // two and the face it is heading from one).
  const std::int64_t margin = o.smooth + o.fill_gaps + 3;
  const auto in_range = [&](const Frame& f) {
    return f.position >= o.first_frame && (o.last_frame < 0 || f.position <= o.last_frame);
  };
  const auto swap_ready = [&] {
    std::vector<DetectedFrame> frames;
    std::vector<FrameAlignment> transforms;
    for (std::size_t n = smoother.ready(); n > 0; --n) {
      FrameAlignment alignment = smoother.take();
      if (in_range(pending.front().frame)) {
        frames.push_back(std::move(pending.front()));
        transforms.push_back(std::move(alignment));
      }
      pending.pop_front();
    }
    if (!frames.empty()) swapper.swap(frames, transforms, report, video);
  };
  for (auto& source : sources) {
    if (o.last_frame >= 0) source.end_after(o.last_frame + std::min(margin + 1, INT64_MAX - o.last_frame));
    const auto near_range = [&](std::int64_t position) { return position >= o.first_frame - margin; };
    for (auto chunk = detector.next(source, near_range); !chunk.empty(); chunk = detector.next(source, near_range)) {
      for (DetectedFrame& detected : chunk) {
        const auto& found = detected.faces;
        const std::size_t keep = o.faces == FacesPerFrame::all || aligned ? found.size() : std::min<std::size_t>(1, found.size());
        std::vector<Affine> transforms;
        for (std::size_t k = 0; k < keep; ++k)
          transforms.push_back(crop_transform(found[k].landmarks, o.face_type, r, canonical_face));
        smoother.push(std::move(transforms));
        pending.push_back(std::move(detected));
      }
      swap_ready();
    }
    smoother.end_sequence();  // no track runs from one input into the next
    swap_ready();
  }
  report.jitter_detected_px = smoother.detected_jitter().rms();
  report.jitter_swapped_px = smoother.smoothed_jitter().rms();
  video.release();
  if (aligned && whole) aligned->check_swapped(report.faces, sources);
  graft::check(whole || report.frames > 0, "swap: no frame of the input", o.inputs.size() > 1 ? "s" : "",
               " lies in --first-frame ", o.first_frame, " .. --last-frame ",
               o.last_frame < 0 ? std::string("(its end)") : std::to_string(o.last_frame), ": ",
               o.inputs.size() > 1 ? "each has" : "it has", " fewer frames");
  std::ofstream summary(staging.path() / "swap.json");
  summary << nlohmann::json{{"frames", report.frames},
                            {"faces", report.faces},
                            {"frames_without_face", report.frames_without_face},
                            {"fill_gaps", o.fill_gaps},
                            {"frames_filled", report.frames_filled},
                            {"model", o.model.string()},
                            {"backend", o.backend},
                            {"model_seconds", report.model_seconds},
                            {"smooth", o.smooth},
                            {"colour_transfer", name_of(o.blend.colour_transfer)},
                            {"mask", mask_source_names[std::size_t(o.mask)]},
                            {"patches", o.patches},
                            {"erode", o.blend.erode},
                            {"blur", o.blend.blur},
                            {"first_frame", o.first_frame},
                            {"last_frame", o.last_frame < 0 ? nlohmann::json() : nlohmann::json(o.last_frame)},
                            {"alignment_jitter_px",
                             {{"detected", report.jitter_detected_px}, {"swapped", report.jitter_swapped_px}}},
                            {"precision", effective_precision(o.precision, o.backend)}}
                 .dump(1)
          << '\n';
  summary.close();
  staging.commit();
  return report;
}

}  // namespace faceswap
