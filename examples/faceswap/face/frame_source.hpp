// FrameSource: the frames of a video file, of one image, or of a folder of images.
//
// Extraction reads footage the way artists hand it over: a clip (anything
// FFmpeg decodes through OpenCV), a single still, or a folder of frames
// (read in name order). Each frame carries a stable name, the source's stem
// plus its frame number, from which the face crops are named. Frames of 16
// bits per channel and OpenEXR frames (linear light, scene_linear.hpp) keep
// them (Frame::plate), so that swap writes them back at their depth.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <opencv2/core.hpp>
#include <optional>
#include <string>
#include <vector>

namespace faceswap {

struct Frame {
  std::filesystem::path file;  // the video, or the image this frame was read from
  std::int64_t index = 0;      // frame number within `file` (0 for a still)
  std::int64_t position = 0;   // its place in the source's order, from 0 (skipped frames count)
  std::string name;            // "<stem>_<index, 6 digits>"
  cv::Mat image;               // 8-bit BGR: what detection and the model see
  // With FrameDepth::as_file, for a file of 16 bits per channel (PNG, TIFF):
  // 16-bit BGR, `image` its rounding; for an OpenEXR: linear float BGR,
  // `image` its sRGB encoding. Else empty.
  cv::Mat plate;
  bool half = false;  // an OpenEXR plate stored as half floats (written back so)
};

// The name FrameSource gives frame `index` of `file`: the stem of a still
// image, "<stem>_<index, 6 digits>" for a video's frames.
std::string frame_name(const std::filesystem::path& file, std::int64_t index);

// Whether 16-bit and EXR frames keep their own depth (Frame::plate) besides the 8-bit image.
enum class FrameDepth { eight_bits, as_file };

class FrameSource {
 public:
  // Throws naming `input` when it does not exist, or is neither an image, a
  // folder holding images, nor a video that can be decoded, and for a folder
  // where two images have the same name but for the extension (their
  // outputs would be one file).
  explicit FrameSource(const std::filesystem::path& input, FrameDepth depth = FrameDepth::eight_bits);
  ~FrameSource();
  FrameSource(FrameSource&&) noexcept;

  std::optional<Frame> next();
  // Passes over the next frame without decoding it where the format allows; false at the end.
  bool skip();
  // The source ends after its first `frames` frames (read or skipped).
  void end_after(std::int64_t frames) { end_ = frames; }
  // The position of the frame next() or skip() would take.
  std::int64_t position() const { return position_; }
  // Whether a frame of this source would be named `name` (a video's frame
  // numbers are not checked against its length), and its first frame's name:
  // both known before anything is decoded.
  bool may_name(const std::string& name) const;
  std::string first_frame_name() const;
  const std::filesystem::path& input() const { return input_; }
  bool is_video() const { return video_ != nullptr; }

 private:
  struct Video;
  std::filesystem::path input_;
  FrameDepth depth_;
  std::vector<std::filesystem::path> images_;
  std::vector<std::string> image_names_;  // their frames' names, sorted (may_name, the duplicate check)
  std::size_t next_image_ = 0;
  std::int64_t position_ = 0, end_ = -1;  // frames read or skipped; where it ends (-1: its end)
  std::unique_ptr<Video> video_;
};

}  // namespace faceswap
