// faceswap extract on the shipped GRID clips, and its bad-input behaviour.
#include <doctest/doctest.h>

#include <sys/wait.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include <opencv2/imgproc.hpp>

#include "extract.hpp"
#include "face/aligned_faces.hpp"
#include "face/frame_source.hpp"
#include "face/image_file.hpp"
#include "face/metadata.hpp"
#include "support.hpp"

using namespace faceswap;
using faceswap::testing::Scratch;

namespace {

std::vector<FaceMetadata> faces_of(const std::filesystem::path& folder) {
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(folder))
    if (e.path().extension() == ".json" && e.path().filename() != "faceset.json") files.push_back(e.path());
  std::ranges::sort(files);
  std::vector<FaceMetadata> faces;
  for (const auto& f : files) faces.push_back(read_face_metadata(f));
  return faces;
}

}  // namespace

TEST_CASE("extract finds exactly one face in every frame of the shipped clips, with stable alignment") {
  Scratch scratch("extract");
  for (const char* clip : {"brbk7n", "lbbc2a"}) {
    const auto out = scratch / clip;
    const ExtractReport report =
        extract({.inputs = {faceswap::testing::demo / "clips" / (std::string(clip) + ".mpg")}, .output = out, .size = 128});
    CHECK(report.frames == 75);
    CHECK(report.faces == 75);
    CHECK(report.frames_without_face.empty());
    const auto faces = faces_of(out);
    REQUIRE(faces.size() == 75);
    // Jitter: how far the rigid landmarks (nose bridge and tip 27..35, eye
    // corners 36, 39, 42, 45) move in the crop from one frame to the next.
    double total = 0, worst = 0;
    const std::size_t rigid[] = {27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 39, 42, 45};
    for (std::size_t f = 1; f < faces.size(); ++f) {
      double mean = 0;
      for (std::size_t i : rigid) mean += norm(faces[f].landmarks[i] - faces[f - 1].landmarks[i]) / std::size(rigid);
      total += mean / double(faces.size() - 1);
      worst = std::max(worst, mean);
      CHECK(faces[f].source_frame == faces[f - 1].source_frame + 1);
    }
    MESSAGE(std::string(clip), ": rigid landmarks move ", total, " px per frame on average (worst ", worst, ") in a 128 px crop");
    CHECK(total < 1.5);  // about 1% of the crop
    CHECK(worst < 4.0);
    // The stored transform maps the frame's landmarks onto the crop's.
    for (const auto& face : faces)
      for (std::size_t i = 0; i < landmark_count; ++i)
        CHECK(norm(face.image_to_face(face.source_landmarks[i]) - face.landmarks[i]) < 1e-9);
    // The summary lists the run.
    std::ifstream summary(out / "faceset.json");
    const auto j = nlohmann::json::parse(summary);
    CHECK(j["faces"] == 75);
    CHECK(j["face_type"] == "whole");
  }
}

TEST_CASE("Face metadata round-trips through its JSON file exactly") {
  Scratch scratch("metadata");
  const auto faces = faces_of(faceswap::testing::demo / "faces" / "spkA");
  REQUIRE(!faces.empty());
  for (const auto& face : {faces.front(), faces.back()}) {
    write_face_metadata(scratch / "face.json", face);
    CHECK(read_face_metadata(scratch / "face.json") == face);
  }
  // A missing key or a wrong type is named with the file.
  nlohmann::json j = to_json(faces.front());
  j.erase("landmarks");
  std::ofstream(scratch / "bad.json") << j.dump();
  CHECK_THROWS_WITH_AS(read_face_metadata(scratch / "bad.json"),
                       doctest::Contains("bad.json: the face metadata has no \"landmarks\""), graft::Error);
  j = to_json(faces.front());
  j["size"] = "large";
  std::ofstream(scratch / "bad2.json") << j.dump();
  CHECK_THROWS_WITH_AS(read_face_metadata(scratch / "bad2.json"), doctest::Contains("bad2.json: \"size\" has the wrong type"),
                       graft::Error);
}

TEST_CASE("extract with several faces per frame keeps the largest, or all") {
  // Two copies of a frame side by side, the right one at half size.
  Scratch scratch("two-faces");
  const cv::Mat face = read_image(faceswap::testing::demo / "faces" / "spkA" / "brbk7n_000000_0.jpg");
  cv::Mat big, small, frame(320, 640, CV_8UC3, cv::Scalar(90, 120, 150));
  cv::resize(face, big, {300, 300});
  cv::resize(face, small, {200, 200});
  big.copyTo(frame(cv::Rect(10, 10, 300, 300)));
  small.copyTo(frame(cv::Rect(400, 60, 200, 200)));
  std::filesystem::create_directories(scratch / "frames");
  write_image(scratch / "frames" / "two.png", frame);
  const auto largest = extract({.inputs = {scratch / "frames"}, .output = scratch / "largest", .size = 64});
  CHECK(largest.faces == 1);
  const auto all = extract({.inputs = {scratch / "frames"}, .output = scratch / "all", .size = 64, .faces = FacesPerFrame::all});
  CHECK(all.faces == 2);
  const auto faces = faces_of(scratch / "all");
  REQUIRE(faces.size() == 2);
  CHECK(faces[0].face_index == 0);
  CHECK(faces[0].source_rect.area() > faces[1].source_rect.area());
}

TEST_CASE("extract --every N takes every Nth frame of each input, from its first, whatever the thread count") {
  Scratch scratch("every");
  const auto clips = faceswap::testing::demo / "clips";
  for (const int threads : {1, 2}) {
    const auto out = scratch / ("out" + std::to_string(threads));
    const auto report = extract(
        {.inputs = {clips / "lbbc2a.mpg", clips / "brbk7n.mpg"}, .output = out, .size = 64, .every = 10, .threads = threads});
    CHECK(report.frames == 16);  // 0, 10, ..., 70 of 75, twice
    CHECK(report.faces == 16);
    for (const std::string clip : {"lbbc2a", "brbk7n"}) {
      CHECK(std::filesystem::exists(out / (clip + "_000000_0.json")));
      CHECK(std::filesystem::exists(out / (clip + "_000070_0.json")));
      CHECK_FALSE(std::filesystem::exists(out / (clip + "_000005_0.json")));
    }
  }
}

TEST_CASE("Frames without a face are counted and listed, not fatal") {
  Scratch scratch("no-face");
  std::filesystem::create_directories(scratch / "frames");
  write_image(scratch / "frames" / "a_face.png", read_image(faceswap::testing::demo / "faces" / "spkA" / "brbk7n_000000_0.jpg"));
  write_image(scratch / "frames" / "b_wall.png", cv::Mat(128, 128, CV_8UC3, cv::Scalar(30, 60, 90)));
  const auto report = extract(
      {.inputs = {scratch / "frames"}, .output = scratch / "out", .size = 64, .min_face = 20, .detector = {.upsample = 1}});
  CHECK(report.frames == 2);
  CHECK(report.faces == 1);
  REQUIRE(report.frames_without_face.size() == 1);
  CHECK(report.frames_without_face[0].ends_with("b_wall.png"));
}

TEST_CASE("FrameSource: skipped frames count in positions, and end_after ends a source early, for videos and folders") {
  Scratch scratch("positions");
  std::filesystem::create_directories(scratch / "frames");
  for (int i = 0; i < 6; ++i)
    write_image(scratch / "frames" / ("f" + std::to_string(i) + ".png"), cv::Mat(8, 8, CV_8UC3, cv::Scalar(i, 2 * i, 3 * i)));
  for (const auto& input : {faceswap::testing::demo / "clips" / "brbk7n.mpg", scratch / "frames"}) {
    INFO(input);
    FrameSource whole(input);
    std::vector<cv::Mat> read;
    while (auto frame = whole.next()) read.push_back(frame->image);
    REQUIRE(read.size() >= 6);
    FrameSource part(input);
    part.end_after(5);
    CHECK(part.skip());
    CHECK(part.skip());
    const auto third = part.next();
    REQUIRE(third);
    CHECK(third->position == 2);
    CHECK(cv::norm(third->image, read[2], cv::NORM_INF) == 0);  // the frame after two skipped ones
    CHECK(part.skip());
    CHECK(part.next()->position == 4);
    CHECK_FALSE(part.next());  // ended after 5
    CHECK_FALSE(part.skip());
  }
}

TEST_CASE("swap --aligned: an extraction is matched to the footage by its frames' names, before decoding") {
  const auto clips = faceswap::testing::demo / "clips";
  FrameSource clip(clips / "brbk7n.mpg");
  CHECK(clip.first_frame_name() == "brbk7n_000000");
  CHECK(clip.may_name("brbk7n_000012"));
  CHECK(clip.may_name("brbk7n_1000000"));  // past 999,999 frames the number grows
  for (const char* name : {"brbk7n_12", "brbk7n_0000x1", "brbk7n", "lbbc2a_000012", "xbrbk7n_000012"}) {
    INFO(name);
    CHECK(!clip.may_name(name));
  }

  const AlignedFaces extraction(faceswap::testing::demo / "faces" / "spkA");  // brbk7n.mpg's faces
  std::vector<FrameSource> same;
  same.emplace_back(clips / "brbk7n.mpg");
  CHECK_NOTHROW(extraction.check_footage(same));
  std::vector<FrameSource> other;
  other.emplace_back(clips / "lbbc2a.mpg");
  CHECK_THROWS_WITH_AS(extraction.check_footage(other),
                       doctest::Contains("spkA: none of its faces is of a frame of the input (it has faces of "
                                         "brbk7n_000000, the input's first frame is lbbc2a_000000)"),
                       graft::Error);
  // Frames as images are named by their stems; one input of several that matches is enough.
  Scratch scratch("aligned-names");
  std::filesystem::create_directories(scratch / "stills");
  const cv::Mat still(16, 16, CV_8UC3, cv::Scalar(10, 20, 30));
  write_image(scratch / "stills" / "brbk7n_000074.png", still);
  write_image(scratch / "stills" / "a.png", still);
  other.emplace_back(scratch / "stills");
  CHECK(other.back().first_frame_name() == "a");
  CHECK_NOTHROW(extraction.check_footage(other));
  std::filesystem::rename(scratch / "stills" / "brbk7n_000074.png", scratch / "stills" / "brbk7n_74.png");
  std::vector<FrameSource> renamed;
  renamed.emplace_back(scratch / "stills");
  CHECK_THROWS_AS(extraction.check_footage(renamed), graft::Error);
  // After the swap: nothing swapped (a video shorter than its frame numbers) is refused the same way.
  CHECK_THROWS_WITH_AS(extraction.check_swapped(0, same), doctest::Contains("the input's first frame is brbk7n_000000"),
                       graft::Error);
  CHECK_NOTHROW(extraction.check_swapped(1, same));
}

TEST_CASE("Bad input: one clear message naming the file, a non-zero exit, and no output left behind") {
  Scratch scratch("bad-input");
  const auto out = scratch / "out";
  auto expect_failure = [&](const std::string& arguments, const std::string& message) {
    const auto run = faceswap::testing::run_faceswap("extract " + arguments + " -o " + faceswap::testing::quoted(out));
    INFO(run.output);
    CHECK(run.status == 1);
    CHECK(run.output.find(message) != std::string::npos);
    CHECK(!std::filesystem::exists(out));
    for (const auto& e : std::filesystem::directory_iterator(scratch.path()))
      CHECK_MESSAGE(e.path().filename().string().find(".partial") == std::string::npos, "left behind: ", e.path());
  };
  expect_failure("-i " + faceswap::testing::quoted(scratch / "missing.mp4"), "missing.mp4: no such file or folder");

  std::ofstream(scratch / "notes.txt") << "not a video";
  expect_failure("-i " + faceswap::testing::quoted(scratch / "notes.txt"), "notes.txt: neither an image");

  // A JPEG cut in half.
  std::filesystem::create_directories(scratch / "cut");
  const std::string jpeg = graft::testing::read_bytes(faceswap::testing::demo / "faces" / "spkA" / "brbk7n_000000_0.jpg");
  graft::testing::write_bytes(scratch / "cut" / "frame.jpg", jpeg.substr(0, jpeg.size() / 2));
  expect_failure("-i " + faceswap::testing::quoted(scratch / "cut" / "frame.jpg"), "frame.jpg: truncated JPEG");

  std::filesystem::create_directories(scratch / "walls");
  write_image(scratch / "walls" / "wall.png", cv::Mat(96, 96, CV_8UC3, cv::Scalar(20, 200, 20)));
  expect_failure("-i " + faceswap::testing::quoted(scratch / "walls"), "no face found in 1 frame(s); nothing was written");

  // Two frames of one name: their crops (and swap's frames) would be one file.
  write_image(scratch / "walls" / "wall.jpg", cv::Mat(96, 96, CV_8UC3, cv::Scalar(20, 200, 20)));
  expect_failure("-i " + faceswap::testing::quoted(scratch / "walls"), "walls: two images are named wall (other extensions)");

  // An output folder that cannot be created: its parent is a file.
  std::ofstream(scratch / "a_file") << "x";
  const auto run = faceswap::testing::run_faceswap("extract -i " +
                                                   faceswap::testing::quoted(faceswap::testing::demo / "clips" / "brbk7n.mpg") +
                                                   " -o " + faceswap::testing::quoted(scratch / "a_file" / "faces"));
  INFO(run.output);
  CHECK(run.status == 1);
  CHECK(run.output.find("a_file") != std::string::npos);

  // An output that already holds something is never touched.
  std::filesystem::create_directories(out);
  std::ofstream(out / "keep.txt") << "precious";
  const auto again = faceswap::testing::run_faceswap("extract -i " +
                                                     faceswap::testing::quoted(faceswap::testing::demo / "clips" / "brbk7n.mpg") +
                                                     " -o " + faceswap::testing::quoted(out));
  CHECK(again.status == 1);
  CHECK(again.output.find("exists and is not an empty folder") != std::string::npos);
  CHECK(std::filesystem::exists(out / "keep.txt"));
}
