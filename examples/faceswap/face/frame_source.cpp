#include "frame_source.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <graft/core/error.hpp>
#include <opencv2/videoio.hpp>

#include "image_file.hpp"
#include "scene_linear.hpp"

namespace faceswap {

struct FrameSource::Video {
  cv::VideoCapture capture;
  std::int64_t next = 0;
};

std::string frame_name(const std::filesystem::path& file, std::int64_t index) {
  if (is_image_path(file)) return file.stem().string();
  char digits[32];
  std::snprintf(digits, sizeof digits, "_%06lld", static_cast<long long>(index));
  return file.stem().string() + digits;
}

FrameSource::FrameSource(const std::filesystem::path& input, FrameDepth depth) : input_(input), depth_(depth) {
  std::error_code ec;
  graft::check(std::filesystem::exists(input, ec), input.string(), ": no such file or folder");
  if (std::filesystem::is_directory(input, ec)) {
    for (const auto& entry : std::filesystem::directory_iterator(input))
      if (entry.is_regular_file() && is_image_path(entry.path())) images_.push_back(entry.path());
    std::ranges::sort(images_);
    graft::check(!images_.empty(), input.string(), ": the folder holds no images (.png, .jpg, .jpeg, .bmp, .tif, .tiff, .exr)");
    for (const auto& image : images_) image_names_.push_back(frame_name(image, 0));
    std::ranges::sort(image_names_);
    const auto twice = std::ranges::adjacent_find(image_names_);
    graft::check(twice == image_names_.end(), input.string(), ": two images are named ",
                 twice == image_names_.end() ? "" : *twice,
                 " (other extensions); frames are named by the file name without it, so keep one");
    return;
  }
  if (is_image_path(input)) {
    images_.push_back(input);
    image_names_.push_back(frame_name(input, 0));
    return;
  }
  video_ = std::make_unique<Video>();
  bool opened = false;
  try {
    opened = video_->capture.open(input.string(), cv::CAP_FFMPEG);
  } catch (const cv::Exception&) {
    opened = false;
  }
  graft::check(opened && video_->capture.isOpened(), input.string(),
               ": neither an image (.png, .jpg, .jpeg, .bmp, .tif, .tiff, .exr) nor a video that FFmpeg can decode");
}

bool FrameSource::may_name(const std::string& name) const {
  if (!video_) return std::ranges::binary_search(image_names_, name);
  const std::string stem = input_.stem().string() + '_';
  return name.size() >= stem.size() + 6 && name.starts_with(stem) &&
         std::all_of(name.begin() + std::ptrdiff_t(stem.size()), name.end(), [](unsigned char c) { return std::isdigit(c); });
}

std::string FrameSource::first_frame_name() const { return frame_name(video_ ? input_ : images_.front(), 0); }

FrameSource::~FrameSource() = default;
FrameSource::FrameSource(FrameSource&&) noexcept = default;

std::optional<Frame> FrameSource::next() {
  if (end_ >= 0 && position_ >= end_) return std::nullopt;
  const std::int64_t position = position_;
  if (video_) {
    cv::Mat image;
    if (!video_->capture.read(image) || image.empty()) {
      graft::check(video_->next > 0, input_.string(), ": the video has no frame that can be decoded");
      return std::nullopt;
    }
    if (image.type() != CV_8UC3) image.convertTo(image, CV_8UC3);
    const std::int64_t index = video_->next++;
    ++position_;
    return Frame{input_, index, position, frame_name(input_, index), image};
  }
  if (next_image_ == images_.size()) return std::nullopt;
  const std::filesystem::path& file = images_[next_image_++];
  ++position_;
  // One reading for extract and swap, so that both detect on the same 8-bit picture.
  bool half = false;
  cv::Mat plate = read_plate(file, &half);
  if (plate.depth() == CV_8U) return Frame{file, 0, position, frame_name(file, 0), plate};
  cv::Mat image;
  if (plate.depth() == CV_32F)
    image = display_image(plate);
  else
    plate.convertTo(image, CV_8U, 1.0 / 257);  // 65535 -> 255, rounded
  if (depth_ == FrameDepth::eight_bits) return Frame{file, 0, position, frame_name(file, 0), image};
  return Frame{file, 0, position, frame_name(file, 0), image, plate, half};
}

bool FrameSource::skip() {
  if (end_ >= 0 && position_ >= end_) return false;
  if (video_) {
    // grab() demuxes (and for most codecs decodes) without converting the picture.
    if (!video_->capture.grab()) {
      graft::check(video_->next > 0, input_.string(), ": the video has no frame that can be decoded");
      return false;
    }
    ++video_->next;
  } else {
    if (next_image_ == images_.size()) return false;
    ++next_image_;
  }
  ++position_;
  return true;
}

}  // namespace faceswap
