// The swap loop for one model variant (see swap.hpp).
#pragma once

#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include <nlohmann/json.hpp>

#include "face/canonical_face.hpp"
#include "face/frame_source.hpp"
#include "face/image_file.hpp"
#include "staging_folder.hpp"
#include "swap.hpp"
#include "train/trainer.hpp"
#include "trained_model.hpp"

namespace faceswap {

template <class Step>
SwapReport swap_with(const SwapOptions& o, const std::string& name) {
  constexpr int r = Step::resolution;
  const auto model = load_trained_model<Step>(o.model, name);

  std::vector<FrameSource> sources;
  for (const auto& input : o.inputs) sources.emplace_back(input);
  const FaceDetector detector(o.detector);
  check_new_output(o.output, "swap");
  StagingFolder staging(o.output);
  std::filesystem::create_directories(staging.path() / "frames");
  std::filesystem::create_directories(staging.path() / "masks");
  cv::VideoWriter video;
  const Step step;
  SwapReport report;
  for (auto& source : sources) {
    while (auto frame = source.next()) {
      ++report.frames;
      cv::Mat image = frame->image.clone();
      cv::Mat frame_mask = cv::Mat::zeros(image.size(), CV_8UC1);
      auto faces = detector.detect(image);
      if (faces.empty()) report.frames_without_face.push_back(frame->name);
      const std::size_t keep = o.faces == FacesPerFrame::all ? faces.size() : std::min<std::size_t>(1, faces.size());
      for (std::size_t k = 0; k < keep; ++k) {
        const Affine to_crop = crop_transform(faces[k].landmarks, o.face_type, r, canonical_face);
        cv::Mat crop8, crop;
        cv::warpAffine(frame->image, crop8, cv::Matx23d(to_crop.a, to_crop.b, to_crop.c, to_crop.d, to_crop.e, to_crop.f),
                       cv::Size(r, r), cv::INTER_CUBIC, cv::BORDER_REPLICATE);
        crop8.convertTo(crop, CV_32FC3, 1.0 / 255);
        graft::Tensor input(graft::Shape{1, 3, r, r});
        for (int c = 0; c < 3; ++c)
          for (int y = 0; y < r; ++y)
            for (int x = 0; x < r; ++x) input.data()[(c * r + y) * r + x] = crop.at<cv::Vec3f>(y, x)[c];
        const graft::Tensor drawn = step.swap(*model, input.view());  // (1, 4, R, R)
        cv::Mat face(r, r, CV_32FC3), mask(r, r, CV_32F);
        for (int y = 0; y < r; ++y)
          for (int x = 0; x < r; ++x) {
            for (int c = 0; c < 3; ++c) face.at<cv::Vec3f>(y, x)[c] = drawn.data()[(c * r + y) * r + x];
            mask.at<float>(y, x) = drawn.data()[(3 * r + y) * r + x];
          }
        frame_mask = cv::max(frame_mask, composite(image, to_crop, face, mask, crop, o.blend));
        ++report.faces;
      }
      write_image(staging.path() / "frames" / (frame->name + ".png"), image);
      write_image(staging.path() / "masks" / (frame->name + ".png"), frame_mask);
      if (!o.video.empty()) {
        if (!video.isOpened()) {
          const auto ext = o.video.extension().string();
          const int fourcc =
              ext == ".avi" ? cv::VideoWriter::fourcc('M', 'J', 'P', 'G') : cv::VideoWriter::fourcc('m', 'p', '4', 'v');
          graft::check(video.open((staging.path() / o.video).string(), cv::CAP_FFMPEG, fourcc, o.fps, image.size()),
                       o.video.string(), ": cannot write a video with this name (use .mp4 or .avi)");
        }
        video.write(image);
      }
    }
  }
  video.release();
  std::ofstream summary(staging.path() / "swap.json");
  summary << nlohmann::json{{"frames", report.frames},
                            {"faces", report.faces},
                            {"frames_without_face", report.frames_without_face},
                            {"model", o.model.string()}}
                 .dump(1)
          << '\n';
  summary.close();
  staging.commit();
  return report;
}

}  // namespace faceswap
