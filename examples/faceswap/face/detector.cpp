// dlib behind FaceDetector; kept in one translation unit because dlib's
// headers are slow to compile.
#include "detector.hpp"

#include <dlib/image_processing.h>
#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/opencv.h>

#include <algorithm>

namespace faceswap {

struct FaceDetector::State {
  dlib::frontal_face_detector detector = dlib::get_frontal_face_detector();  // small; one per thread
  std::shared_ptr<const dlib::shape_predictor> predictor;                    // 100 MB, const to use: shared by the copies
  int upsample = 0;
};

FaceDetector::FaceDetector(const DetectorOptions& options) : state_(std::make_unique<State>()) {
  graft::check(std::filesystem::is_regular_file(options.shape_predictor), options.shape_predictor.string(),
               ": the 68-landmark model is missing (Debian: apt-get install libdlib-data)");
  auto predictor = std::make_shared<dlib::shape_predictor>();
  try {
    dlib::deserialize(options.shape_predictor.string()) >> *predictor;
  } catch (const std::exception& e) {
    graft::fail(options.shape_predictor.string(), ": not a dlib shape predictor: ", e.what());
  }
  graft::check(predictor->num_parts() == landmark_count, options.shape_predictor.string(), ": predicts ", predictor->num_parts(),
               " landmarks, extraction needs the 68-point model");
  state_->predictor = std::move(predictor);
  graft::check(options.upsample >= 0 && options.upsample <= 3, "face detector: upsample must be 0..3, got ", options.upsample);
  state_->upsample = options.upsample;
}

FaceDetector::~FaceDetector() = default;
FaceDetector::FaceDetector(FaceDetector&&) noexcept = default;
FaceDetector::FaceDetector(const FaceDetector& other) : state_(std::make_unique<State>(*other.state_)) {}

std::vector<DetectedFace> FaceDetector::detect(const cv::Mat& bgr) const {
  graft::check(bgr.type() == CV_8UC3 && bgr.isContinuous(), "face detector: expects a continuous 8-bit BGR image");
  const dlib::cv_image<dlib::bgr_pixel> image(bgr);
  std::vector<dlib::rectangle> boxes;
  if (state_->upsample == 0) {
    boxes = state_->detector(image);
  } else {
    dlib::array2d<dlib::bgr_pixel> larger;
    dlib::assign_image(larger, image);
    for (int i = 0; i < state_->upsample; ++i) dlib::pyramid_up(larger);
    boxes = state_->detector(larger);
    const double shrink = 1.0 / double(1 << state_->upsample);
    for (auto& b : boxes)
      b = dlib::rectangle(long(b.left() * shrink), long(b.top() * shrink), long(b.right() * shrink), long(b.bottom() * shrink));
  }
  std::vector<DetectedFace> faces;
  for (const auto& box : boxes) {
    const dlib::full_object_detection shape = (*state_->predictor)(image, box);
    DetectedFace face;
    face.rect = cv::Rect(int(box.left()), int(box.top()), int(box.width()), int(box.height()));
    for (std::size_t i = 0; i < landmark_count; ++i)
      face.landmarks[i] = {double(shape.part(static_cast<unsigned long>(i)).x()),
                           double(shape.part(static_cast<unsigned long>(i)).y())};
    faces.push_back(face);
  }
  std::ranges::sort(faces, [](const DetectedFace& a, const DetectedFace& b) { return a.area() > b.area(); });
  return faces;
}

}  // namespace faceswap
