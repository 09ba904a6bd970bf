// FaceDetector: faces and their 68 landmarks in a frame, with dlib.
//
// dlib's HOG frontal-face detector finds the faces and its shape predictor
// (Debian's libdlib-data: shape_predictor_68_face_landmarks.dat, trained on
// the iBUG 300-W data; see docs/faceswap-data.md for its licence) places the
// 68 iBUG landmarks. Detection is the slow part of extraction (about 30 ms per
// 360x288 frame on one core); each detector is used by one thread, so
// extraction gives each of its threads a copy.
#pragma once

#include <filesystem>
#include <memory>
#include <opencv2/core.hpp>
#include <vector>

#include "alignment.hpp"

namespace faceswap {

struct DetectedFace {
  cv::Rect rect;  // the detector's box, in frame pixels
  Landmarks landmarks;
  double area() const { return double(rect.width) * double(rect.height); }
};

struct DetectorOptions {
  std::filesystem::path shape_predictor = "/usr/share/dlib/shape_predictor_68_face_landmarks.dat";
  int upsample = 0;  // image doublings before detection: finds faces smaller than 80 px, 4x slower each
};

class FaceDetector {
 public:
  explicit FaceDetector(const DetectorOptions& options = {});
  ~FaceDetector();
  FaceDetector(FaceDetector&&) noexcept;
  // A copy for another thread (detection keeps scratch state); cheaper than loading the model again.
  FaceDetector(const FaceDetector& other);
  // Faces in a BGR 8-bit frame, largest first.
  std::vector<DetectedFace> detect(const cv::Mat& bgr) const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace faceswap
