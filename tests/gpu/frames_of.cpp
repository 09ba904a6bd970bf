// The first N frames of a video as PNG files, for tests/gpu/run.sh: the GPU
// machine's faceswap (built by build.sh against an OpenCV without FFmpeg)
// swaps a frame folder where it cannot decode the demo clips.
//   frames_of <video> <folder> <N>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>
#include <string>

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: frames_of <video> <folder> <frames>\n");
    return 2;
  }
  cv::VideoCapture video(argv[1], cv::CAP_FFMPEG);
  const int wanted = std::atoi(argv[3]);
  std::filesystem::create_directories(argv[2]);
  int written = 0;
  for (cv::Mat frame; written < wanted && video.read(frame); ++written) {
    char name[32];
    std::snprintf(name, sizeof name, "/frame_%04d.png", written);
    if (!cv::imwrite(argv[2] + std::string(name), frame)) {
      std::fprintf(stderr, "frames_of: cannot write %s%s\n", argv[2], name);
      return 1;
    }
  }
  if (written < wanted) {
    std::fprintf(stderr, "frames_of: %s gave %d of %d frames\n", argv[1], written, wanted);
    return 1;
  }
  return 0;
}
