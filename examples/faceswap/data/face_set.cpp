#include "face_set.hpp"

#include <algorithm>
#include <cstring>
#include <graft/core/error.hpp>
#include <opencv2/imgproc.hpp>
#include <optional>

#include "face/image_file.hpp"

namespace faceswap {
namespace {

namespace fs = std::filesystem;

struct Loaded {
  FaceMetadata metadata;
  cv::Mat image, mask, eyes_mouth;
};

// The hulls of the eyes (36..41, 42..47) and the mouth (60..67), dilated by
// side/32 and blurred over side/16 at the stored size, inside the face mask
// (DeepFaceLab's eyes-and-mouth mask).
cv::Mat eyes_mouth_mask(const Landmarks& landmarks, const cv::Mat& face_mask) {
  const int side = face_mask.rows;
  cv::Mat em = cv::Mat::zeros(side, side, CV_8UC1);
  for (const auto& [first, last] : {std::pair{36, 41}, {42, 47}, {60, 67}}) {
    std::vector<cv::Point> points, hull;
    for (int i = first; i <= last; ++i)
      points.emplace_back(int(std::lround(landmarks[std::size_t(i)].x)), int(std::lround(landmarks[std::size_t(i)].y)));
    cv::convexHull(points, hull);
    cv::fillConvexPoly(em, hull, cv::Scalar(255));
  }
  const int grow = std::max(1, side / 32), blur = std::max(3, side / 16) | 1;
  cv::dilate(em, em, cv::getStructuringElement(cv::MORPH_ELLIPSE, {grow, grow}));
  cv::GaussianBlur(em, em, {blur, blur}, 0);
  em.setTo(0, face_mask == 0);
  return em;
}

cv::Mat resized(const cv::Mat& m, int side, int downscale, int upscale) {
  if (m.rows == side && m.cols == side) return m;
  cv::Mat out;
  cv::resize(m, out, cv::Size(side, side), 0, 0, m.rows > side ? downscale : upscale);
  return out;
}

Loaded load_face(const fs::path& json, int resolution, bool eyes_mouth) {
  Loaded f;
  f.metadata = read_face_metadata(json);
  const fs::path folder = json.parent_path();
  f.image = read_image(folder / f.metadata.image, true);
  f.mask = read_image(folder / f.metadata.mask, false);
  graft::check(f.image.rows == f.metadata.size && f.image.cols == f.metadata.size, (folder / f.metadata.image).string(), ": is ",
               f.image.cols, "x", f.image.rows, ", its metadata says ", f.metadata.size, "x", f.metadata.size);
  graft::check(f.mask.size() == f.image.size(), (folder / f.metadata.mask).string(), ": is ", f.mask.cols, "x", f.mask.rows,
               ", its face is ", f.image.cols, "x", f.image.rows);
  if (eyes_mouth) f.eyes_mouth = eyes_mouth_mask(f.metadata.landmarks, f.mask);
  const int side = resolution > 0 ? resolution : f.metadata.size;
  f.image = resized(f.image, side, cv::INTER_AREA, cv::INTER_CUBIC);
  f.mask = resized(f.mask, side, cv::INTER_AREA, cv::INTER_LINEAR);
  if (eyes_mouth) f.eyes_mouth = resized(f.eyes_mouth, side, cv::INTER_AREA, cv::INTER_LINEAR);
  return f;
}

}  // namespace

FaceSet FaceSet::load(const fs::path& folder, const FaceSetOptions& options) {
  std::error_code ec;
  graft::check(fs::is_directory(folder, ec), folder.string(), ": no such face-set folder");
  const std::vector<fs::path> faces = face_metadata_files(folder);
  graft::check(!faces.empty(), folder.string(),
               ": holds no faces (no <name>.json face metadata); make a face set with faceswap extract");
  graft::check(options.resolution >= 0, "face set: resolution must not be negative");

  std::vector<std::optional<Loaded>> loaded(faces.size());
  std::vector<std::string> errors(faces.size());
  // Decoding is the slow part and each face is independent.
#pragma omp parallel for schedule(dynamic, 8)
  for (std::size_t i = 0; i < faces.size(); ++i) {
    try {
      loaded[i] = load_face(faces[i], options.resolution, options.eyes_mouth);
    } catch (const std::exception& e) {
      errors[i] = e.what();
    }
  }
  FaceSet set;
  for (std::size_t i = 0; i < faces.size(); ++i) {
    if (!errors[i].empty()) {
      graft::check(options.bad_face == BadFace::skip, errors[i], " (use --skip-bad-faces to leave such faces out)");
      set.skipped_.push_back(errors[i]);
      continue;
    }
    const int side = loaded[i]->image.rows;
    if (set.count_ == 0) set.resolution_ = side;
    graft::check(side == set.resolution_, faces[i].string(), ": face of ", side, " px in a set of ", set.resolution_,
                 " px faces; load with a resolution to scale them all");
    set.metadata_.push_back(std::move(loaded[i]->metadata));
    ++set.count_;
  }
  graft::check(set.count_ > 0, folder.string(), ": none of its ", faces.size(), " faces could be read");
  const auto side = static_cast<std::size_t>(set.resolution_);
  set.pixels_.resize(set.count_ * side * side * 3);
  set.masks_.resize(set.count_ * side * side);
  if (options.eyes_mouth) set.eyes_mouth_.resize(set.count_ * side * side);
  std::size_t at = 0;
  for (std::size_t i = 0; i < faces.size(); ++i) {
    if (!errors[i].empty()) continue;
    loaded[i]->image.copyTo(set.image(at));
    loaded[i]->mask.copyTo(set.mask(at));
    if (options.eyes_mouth) loaded[i]->eyes_mouth.copyTo(set.eyes_mouth(at));
    ++at;
  }
  return set;
}

FaceSet FaceSet::from_images(const std::vector<cv::Mat>& images, const std::vector<cv::Mat>& masks) {
  graft::check(!images.empty() && images.size() == masks.size(),
               "FaceSet::from_images: need as many masks as images, and at least one");
  FaceSet set;
  set.count_ = images.size();
  set.resolution_ = images[0].rows;
  const auto side = static_cast<std::size_t>(set.resolution_);
  set.pixels_.resize(set.count_ * side * side * 3);
  set.masks_.resize(set.count_ * side * side);
  for (std::size_t i = 0; i < images.size(); ++i) {
    graft::check(images[i].type() == CV_8UC3 && images[i].rows == set.resolution_ && images[i].cols == set.resolution_,
                 "FaceSet::from_images: image ", i, " is not ", side, "x", side, " 8-bit BGR");
    graft::check(masks[i].type() == CV_8UC1 && masks[i].size() == images[i].size(), "FaceSet::from_images: mask ", i, " is not ",
                 side, "x", side, " 8-bit");
    images[i].copyTo(set.image(i));
    masks[i].copyTo(set.mask(i));
  }
  return set;
}

cv::Mat FaceSet::image(std::size_t i) const {
  const auto side = static_cast<std::size_t>(resolution_);
  return cv::Mat(resolution_, resolution_, CV_8UC3, const_cast<std::uint8_t*>(pixels_.data() + i * side * side * 3));
}

cv::Mat FaceSet::eyes_mouth(std::size_t i) const {
  const auto side = static_cast<std::size_t>(resolution_);
  return cv::Mat(resolution_, resolution_, CV_8UC1, const_cast<std::uint8_t*>(eyes_mouth_.data() + i * side * side));
}

cv::Mat FaceSet::mask(std::size_t i) const {
  const auto side = static_cast<std::size_t>(resolution_);
  return cv::Mat(resolution_, resolution_, CV_8UC1, const_cast<std::uint8_t*>(masks_.data() + i * side * side));
}

}  // namespace faceswap
