// faceswap train on the demo face sets: learning, resuming after SIGKILL and
// SIGINT, time to loss, TensorBoard files, and bad input; and swap.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#if defined(FACESWAP_WITH_CUDA)
#include <cuda_runtime_api.h>
#endif

#include <chrono>
#include <fstream>
#include <graft/backend/cpu/conv.hpp>
#include <graft/io/safetensors.hpp>
#include <nlohmann/json.hpp>
#include <thread>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "face/exr_header.hpp"
#include "face/frame_source.hpp"
#include "face/image_file.hpp"
#include "face/scene_linear.hpp"
#include "support.hpp"
#include "train/options.hpp"

using faceswap::testing::quoted;
using faceswap::testing::run_faceswap;
using faceswap::testing::Scratch;

namespace {

const std::string sets = "--src " + quoted(faceswap::testing::demo / "faces" / "spkA") + " --dst " +
                         quoted(faceswap::testing::demo / "faces" / "spkC");
const std::string small = " --model demo --resolution 64 --batch 8 --loader-workers 1 ";

std::vector<nlohmann::json> metrics_of(const std::filesystem::path& model) {
  std::vector<nlohmann::json> lines;
  std::ifstream in(model / "metrics.jsonl");
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

// The parameter tensors of a checkpoint, by name (the metadata holds times and is left out).
std::map<std::string, std::vector<float>> parameters_of(const std::filesystem::path& checkpoint) {
  const graft::io::SafetensorsFile file(checkpoint);
  std::map<std::string, std::vector<float>> out;
  for (const auto& t : file.tensors()) out[t.name] = file.f32_values(t.name);
  return out;
}

// The arguments of a demo-model training run into `output`, plus `extra`.
std::vector<std::string> train_arguments(const std::filesystem::path& output, std::vector<std::string> extra) {
  std::vector<std::string> args{"train",
                                "--src",
                                (faceswap::testing::demo / "faces" / "spkA").string(),
                                "--dst",
                                (faceswap::testing::demo / "faces" / "spkC").string(),
                                "--model",
                                "demo",
                                "--resolution",
                                "64",
                                "--batch",
                                "8",
                                "--loader-workers",
                                "1",
                                "--log-every",
                                "1",
                                "--preview-every",
                                "0",
                                "--no-tensorboard",
                                "-o",
                                output.string()};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

// Waits (at most two minutes) until `model`'s metrics log has `steps` lines.
void wait_for_steps(const std::filesystem::path& model, std::size_t steps) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (metrics_of(model).size() < steps && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

// A plate made from an 8-bit frame: pixel(y, x, channel, 8-bit value) for every channel of every pixel.
template <class Pixel, class Value>
cv::Mat plate_from(const cv::Mat& frame, const Value& pixel) {
  cv::Mat plate(frame.size(), cv::traits::Type<Pixel>::value);
  for (int y = 0; y < plate.rows; ++y)
    for (int x = 0; x < plate.cols; ++x)
      for (int c = 0; c < 3; ++c) plate.at<Pixel>(y, x)[c] = pixel(y, x, c, int(frame.at<cv::Vec3b>(y, x)[c]));
  return plate;
}

// Pixels a swapped frame changed, near its mask (inside it dilated by 3 pixels) and elsewhere.
struct Changes {
  int near_mask, elsewhere;
};
Changes changes_of(const cv::Mat& out, const cv::Mat& mask, const cv::Mat& before) {
  cv::Mat near, changed, changed_any;
  cv::dilate(mask > 0, near, cv::getStructuringElement(cv::MORPH_ELLIPSE, {7, 7}));
  cv::compare(out, before, changed, cv::CMP_NE);
  cv::transform(changed, changed_any, cv::Matx13f(1, 1, 1));
  return {cv::countNonZero(changed_any & near), cv::countNonZero(changed_any & ~near)};
}

// A swapped plate against its input: the same size, a 16-bit mask over the
// face, and changes only near it.
void check_swapped_plate(const cv::Mat& out, const cv::Mat& mask, const cv::Mat& before) {
  REQUIRE(mask.type() == CV_16UC1);
  REQUIRE(out.size() == before.size());
  CHECK(cv::countNonZero(mask) > 1000);
  const Changes changes = changes_of(out, mask, before);
  CHECK(changes.elsewhere == 0);
  CHECK(changes.near_mask > 0);
}

// A patch that swap --patches wrote (one entry of its frame's JSON), placed
// in a frame of `size` the way a compositing package would: warped forward by
// crop_to_frame, cubic for the colour (display-referred BGR), linear for the
// alpha (clipped to [0, 1]).
struct PlacedPatch {
  cv::Mat colour, alpha;
};
PlacedPatch place_patch(const std::filesystem::path& folder, const nlohmann::json& entry, cv::Size size) {
  const cv::Mat bgra = cv::imread((folder / std::string(entry["file"])).string(), cv::IMREAD_UNCHANGED);
  REQUIRE(bgra.type() == CV_16UC4);
  CHECK(bgra.cols == int(entry["crop_size"]));
  cv::Mat patch, colour, alpha;
  bgra.convertTo(patch, CV_32F, 1.0 / 65535);
  const std::vector<double> m = entry["crop_to_frame"];
  cv::warpAffine(patch, colour, cv::Matx23d(m.data()), size, cv::INTER_CUBIC, cv::BORDER_REPLICATE);
  cv::warpAffine(patch, alpha, cv::Matx23d(m.data()), size, cv::INTER_LINEAR, cv::BORDER_CONSTANT);
  cv::cvtColor(colour, colour, cv::COLOR_BGRA2BGR);
  cv::extractChannel(alpha, alpha, 3);
  return {colour, cv::min(cv::max(alpha, 0.0), 1.0)};
}

}  // namespace

TEST_CASE("A short CPU training run lowers the loss below a fixed threshold and writes its outputs") {
  Scratch scratch("train");
  const auto model = scratch / "model";
  const auto run =
      run_faceswap("train " + sets + small + "--steps 80 --loss-window 20 --log-every 10 --preview-every 40 -o " + quoted(model));
  INFO(run.output);
  REQUIRE(run.status == 0);
  const auto lines = metrics_of(model);
  REQUIRE(lines.size() == 8);
  const double first = lines.front()["loss"], last = lines.back()["loss"];
  MESSAGE("mean loss over 20 steps: ", first, " at step 10, ", last, " at step 80");
  CHECK(last < 1.8);
  CHECK(last < 0.6 * first);
  for (const char* file :
       {"model.safetensors", "preview.png", "loss.png", "previews/step_00000040.png", "previews/step_00000080.png"})
    CHECK_MESSAGE(std::filesystem::exists(model / file), file);

  // TensorBoard reads the event files back, with the values of metrics.jsonl.
  const auto tensorboard = faceswap::testing::run_python("read_tensorboard.py", quoted(model / "tensorboard"));
  REQUIRE_MESSAGE(tensorboard.status == 0, tensorboard.output);
  const auto read = nlohmann::json::parse(tensorboard.output);
  REQUIRE(read["loss/src"].size() == lines.size());
  for (std::size_t i = 0; i < lines.size(); ++i) {
    CHECK(read["loss/src"][i][0] == lines[i]["step"]);
    CHECK(double(read["loss/src"][i][1]) == doctest::Approx(double(lines[i]["src_loss"])).epsilon(1e-6));
  }
}

TEST_CASE("SIGKILL during training, then --resume: the run ends with the parameters of an uninterrupted run") {
  Scratch scratch("resume");
  const std::string common =
      "train " + sets + small + "--steps 24 --save-every 6 --log-every 1 --preview-every 0 --no-tensorboard -o ";
  const auto whole = run_faceswap(common + quoted(scratch / "whole"));
  REQUIRE_MESSAGE(whole.status == 0, whole.output);

  const pid_t pid = faceswap::testing::start_faceswap(train_arguments(scratch / "killed", {"--steps", "24", "--save-every", "6"}),
                                                      scratch / "killed.log");
  wait_for_steps(scratch / "killed", 14);  // past its second save (step 12), before the end
  ::kill(pid, SIGKILL);
  CHECK(faceswap::testing::wait_for(pid) == -SIGKILL);
  const std::size_t logged = metrics_of(scratch / "killed").size();
  MESSAGE("killed after step ", logged);
  CHECK(logged < 24);

  const auto resumed = run_faceswap(common + quoted(scratch / "killed") + " --resume");
  INFO(resumed.output);
  REQUIRE(resumed.status == 0);
  CHECK(resumed.output.find("resumed") != std::string::npos);
  const auto a = parameters_of(scratch / "whole" / "model.safetensors");
  const auto b = parameters_of(scratch / "killed" / "model.safetensors");
  REQUIRE(a.size() == b.size());
  CHECK(a == b);  // bit for bit, optimizer state included
}

TEST_CASE("SIGINT saves and stops; --target-loss stops at the loss and reports the time to it") {
  Scratch scratch("signal");
  const pid_t pid = faceswap::testing::start_faceswap(
      train_arguments(scratch / "model", {"--steps", "100000", "--autosave-minutes", "0"}), scratch / "log");
  wait_for_steps(scratch / "model", 3);
  ::kill(pid, SIGINT);
  CHECK(faceswap::testing::wait_for(pid) == 0);
  const std::string log = graft::testing::read_bytes(scratch / "log");
  INFO(log);
  CHECK(log.find("stopped by a signal; saved") != std::string::npos);
  REQUIRE(std::filesystem::exists(scratch / "model" / "model.safetensors"));
  const graft::io::SafetensorsFile saved(scratch / "model" / "model.safetensors");
  const auto steps = metrics_of(scratch / "model").back()["step"];
  CHECK(saved.metadata().at("graft.step") == std::to_string(int(steps)));

  const auto target =
      run_faceswap("train " + sets + small + "--steps 400 --target-loss 2.5 --loss-window 10 --preview-every 0 -o " +
                   quoted(scratch / "target"));
  INFO(target.output);
  REQUIRE(target.status == 0);
  CHECK(target.output.find("reached the target loss 2.5") != std::string::npos);
  CHECK(target.output.find("time to loss 2.5: ") != std::string::npos);
  // How long the loop waited for the augmentation threads, a share of the training time.
  const auto waited = target.output.find("waited ");
  REQUIRE(waited != std::string::npos);
  double wait_s = -1, share = -1;
  CHECK(std::sscanf(target.output.c_str() + waited, "waited %lf s (%lf%%) for the augmentation threads", &wait_s, &share) == 2);
  CHECK(wait_s >= 0);
  CHECK(share >= 0);
  CHECK(share <= 100);
  const auto lines = metrics_of(scratch / "target");
  CHECK(lines.back()["event"] == "target_loss_reached");
  CHECK(int(lines.back()["step"]) < 400);
}

TEST_CASE("Bad input: one clear message, a non-zero exit, and existing files left intact") {
  Scratch scratch("train-bad");
  const auto model = scratch / "model";
  auto expect = [&](const std::string& arguments, const std::string& message) {
    const auto run = run_faceswap("train " + sets + small + "--steps 2 --preview-every 0 --no-tensorboard " + arguments);
    INFO(arguments, "\n", run.output);
    CHECK(run.status != 0);
    CHECK(run.output.find(message) != std::string::npos);
  };
  expect("--resume -o " + quoted(model), "model.safetensors: no checkpoint to resume");

  REQUIRE(run_faceswap("train " + sets + small + "--steps 2 --preview-every 0 --no-tensorboard -o " + quoted(model)).status == 0);
  const std::string original = graft::testing::read_bytes(model / "model.safetensors");
  // Another model or resolution.
  expect("--resume -o " + quoted(model) + " --model df", "model.safetensors");
  CHECK(graft::testing::read_bytes(model / "model.safetensors") == original);
  // Another batch.
  expect("--resume -o " + quoted(model) + " --batch 4", "the run was saved with batch 8, this one asks for 4");
  CHECK(graft::testing::read_bytes(model / "model.safetensors") == original);
  // A damaged checkpoint is refused and left as it is.
  std::filesystem::copy_file(model / "model.safetensors", scratch / "backup.safetensors");
  {
    std::string damaged = original;
    damaged[damaged.size() / 2] ^= 0x55;
    std::ofstream(model / "model.safetensors", std::ios::binary | std::ios::trunc) << damaged;
  }
  const std::string damaged = graft::testing::read_bytes(model / "model.safetensors");
  expect("--resume -o " + quoted(model), "checksum");
  CHECK(graft::testing::read_bytes(model / "model.safetensors") == damaged);

  // Configs: an unknown key, a wrong type.
  std::ofstream(scratch / "typo.json") << R"({"stepz": 10})";
  expect("--config " + quoted(scratch / "typo.json") + " -o " + quoted(scratch / "m2"), "typo.json: unknown key \"stepz\"");
  std::ofstream(scratch / "type.json") << R"({"steps": "ten"})";
  expect("--config " + quoted(scratch / "type.json") + " -o " + quoted(scratch / "m3"),
         "type.json: \"steps\" has the wrong type");
  // A colour transfer that does not exist, in a config and on the command line.
  std::ofstream(scratch / "mode.json") << R"({"colour_transfer": "warm"})";
  expect("--config " + quoted(scratch / "mode.json") + " -o " + quoted(scratch / "m8"),
         "--colour-transfer must be none, rct, lct, mkl, idt or sot, got warm");
  expect("-o " + quoted(scratch / "m8") + " --colour-transfer warm", "warm not in");
  expect("-o " + quoted(scratch / "m8") + " --random-hsv 0.5", "--random-hsv must be in [0, 0.3], got 0.5");
  // An output folder that cannot be created.
  std::ofstream(scratch / "a_file") << "x";
  expect("-o " + quoted(scratch / "a_file" / "model"), "a_file");
  // A resolution that is not built in.
  expect("-o " + quoted(scratch / "m4") + " --resolution 80",
         "demo at resolution 80 is not built into this program (built: ");
  expect("-o " + quoted(scratch / "m4") + " --model liae --resolution 80",
         "; to build more, list them as architecture:resolution in the CMake variable FACESWAP_VARIANTS");
  // The GPU backend where it cannot run (CI has no GPU): a machine without one, or a build without
  // the CUDA backend, whatever the model and options. The checkpoint stays as it was.
  std::filesystem::copy_file(scratch / "backup.safetensors", model / "model.safetensors",
                             std::filesystem::copy_options::overwrite_existing);
  expect("-o " + quoted(scratch / "m5") + " --backend tpu", "--backend");
  int gpus = 0;
#if defined(FACESWAP_WITH_CUDA)
  if (cudaGetDeviceCount(&gpus) != cudaSuccess) gpus = 0;
#endif
  if (gpus == 0) {
    expect("--resume -o " + quoted(model) + " --backend cuda", "--backend cuda");
    expect("-o " + quoted(scratch / "m6") + " --backend cuda --model liae --resolution 64", "--backend cuda");
    expect("-o " + quoted(scratch / "m7") + " --backend cuda --eyes-mouth-priority", "--backend cuda");
    CHECK(graft::testing::read_bytes(model / "model.safetensors") == original);
  }
}

TEST_CASE("A JSON config gives the options; the command line overrides it") {
  Scratch scratch("config");
  std::ofstream(scratch / "run.json") << nlohmann::json{
      {"model", "demo"},
      {"resolution", 64},
      {"batch", 4},
      {"steps", 50},
      {"preview_every", 0},
      {"tensorboard", false},
      {"loader_workers", 1},
      {"log_every", 1},
      {"tune_convolutions", false},
      {"colour_transfer", false},
      {"uniform_yaw", false},
      {"random_hsv", 0.05},
      {"blur_out_mask", true},
      {"masked_training", false}}.dump();
  // A bare --colour-transfer (a flag before the modes) overrides the config's false (from before the modes) with rct.
  const auto run = run_faceswap("train " + sets + " --config " + quoted(scratch / "run.json") +
                                " --steps 3 --tune-convolutions --colour-transfer --uniform-yaw -o " + quoted(scratch / "model"));
  INFO(run.output);
  REQUIRE(run.status == 0);
  CHECK(metrics_of(scratch / "model").size() == 3);  // --steps 3 overrode the config's 50
  const graft::io::SafetensorsFile saved(scratch / "model" / "model.safetensors");
  const auto config = nlohmann::json::parse(saved.metadata().at("graft.config"));
  CHECK(config["options"]["batch"] == 4);
  CHECK(config["options"]["steps"] == 3);
  CHECK(config["options"]["tune_convolutions"] == true);  // the flag overrode the config's false
  CHECK(config["options"]["colour_transfer"] == "rct");
  CHECK(config["options"]["uniform_yaw"] == true);
  CHECK(config["options"]["random_hsv"] == 0.05);
  CHECK(config["options"]["blur_out_mask"] == true);
  CHECK(config["options"]["masked_training"] == false);
  CHECK(run.output.find("yaw (nominal degrees, nose towards the image's right positive): src ") != std::string::npos);
}

TEST_CASE("swap: frames of the input's size that change only inside the dilated face mask, masks, and a video") {
  Scratch scratch("swap");
  REQUIRE(run_faceswap("train " + sets + small + "--steps 4 --preview-every 0 --no-tensorboard -o " + quoted(scratch / "model"))
              .status == 0);
  const auto clip = faceswap::testing::demo / "clips" / "lbbc2a.mpg";
  const auto run = run_faceswap("swap -m " + quoted(scratch / "model") + " -i " + quoted(clip) + " -o " +
                                quoted(scratch / "out") + " --video swapped.mp4");
  INFO(run.output);
  REQUIRE(run.status == 0);
  CHECK(std::filesystem::file_size(scratch / "out" / "swapped.mp4") > 1000);
  faceswap::FrameSource source(clip);
  int frames = 0;
  while (auto frame = source.next()) {
    ++frames;
    const cv::Mat out = faceswap::read_image(scratch / "out" / "frames" / (frame->name + ".png"));
    const cv::Mat mask = faceswap::read_image(scratch / "out" / "masks" / (frame->name + ".png"), false);
    REQUIRE(out.size() == frame->image.size());
    REQUIRE(mask.size() == frame->image.size());
    CHECK(cv::countNonZero(mask) > 1000);  // a face was swapped
    const Changes changes = changes_of(out, mask, frame->image);
    CHECK(changes.elsewhere == 0);
    CHECK(changes.near_mask > 0);
  }
  CHECK(frames == 75);

  // Frames are detected, cut out, put back and written a chunk at a time on
  // every thread, the faces drawn in batches of the chunk: one thread (other
  // chunks, other batches) writes the same files.
  const auto one = run_faceswap("swap -m " + quoted(scratch / "model") + " -i " + quoted(clip) + " -o " + quoted(scratch / "one") +
                                " --threads 1");
  INFO(one.output);
  REQUIRE(one.status == 0);
  int same = 0;
  for (const auto& entry : std::filesystem::directory_iterator(scratch / "out" / "frames")) {
    const auto name = entry.path().filename();
    same += graft::testing::read_bytes(entry.path()) == graft::testing::read_bytes(scratch / "one" / "frames" / name) &&
            graft::testing::read_bytes(scratch / "out" / "masks" / name) == graft::testing::read_bytes(scratch / "one" / "masks" / name);
  }
  CHECK(same == 75);

  // --aligned: the faces of an extraction of the clip, curated (frames 3 and
  // 7 deleted), swapped at extraction's landmarks without a detector: the
  // frames it lists come out as with detection, byte for byte; the two others
  // as they went in.
  REQUIRE(run_faceswap("extract -i " + quoted(clip) + " -o " + quoted(scratch / "aligned")).status == 0);
  for (const char* removed : {"lbbc2a_000003_0.json", "lbbc2a_000007_0.json"})
    REQUIRE(std::filesystem::remove(scratch / "aligned" / removed));
  const auto curated = run_faceswap("swap -m " + quoted(scratch / "model") + " -i " + quoted(clip) + " -o " +
                                    quoted(scratch / "curated") + " --aligned " + quoted(scratch / "aligned") + " --patches");
  INFO(curated.output);
  REQUIRE(curated.status == 0);
  faceswap::FrameSource again(clip);
  int as_detected = 0, untouched = 0;
  while (auto frame = again.next()) {
    const auto name = frame->name + ".png";
    if (frame->index == 3 || frame->index == 7) {
      untouched += cv::countNonZero(faceswap::read_image(scratch / "curated" / "frames" / name).reshape(1) !=
                                    frame->image.reshape(1)) == 0;
      continue;
    }
    as_detected += graft::testing::read_bytes(scratch / "curated" / "frames" / name) ==
                   graft::testing::read_bytes(scratch / "out" / "frames" / name);
  }
  CHECK(as_detected == 73);
  CHECK(untouched == 2);

  // --patches: each face as a 16-bit BGRA crop and its transform. Placed the way a compositing package
  // would (warped forward by crop_to_frame, blended over the plate by its alpha), it gives the frame
  // swap wrote, to within two levels (the patch's 16 bits and the inverted matrix).
  int placed = 0, without_face = 0;
  for (faceswap::FrameSource plates(clip); auto plate = plates.next();) {
    std::ifstream listing(scratch / "curated" / "patches" / (plate->name + ".json"));
    const auto patches = nlohmann::json::parse(listing);
    CHECK(patches["width"] == plate->image.cols);
    if (patches["faces"].empty()) {
      without_face += plate->index == 3 || plate->index == 7;
      continue;
    }
    REQUIRE(patches["faces"].size() == 1);
    const auto [colour, alpha] = place_patch(scratch / "curated" / "patches", patches["faces"][0], plate->image.size());
    cv::Mat plate_f, alpha3, composited, composited8;
    plate->image.convertTo(plate_f, CV_32F, 1.0 / 255);
    cv::merge(std::vector<cv::Mat>{alpha, alpha, alpha}, alpha3);
    composited = plate_f.mul(cv::Scalar::all(1.0) - alpha3) + colour.mul(alpha3);
    composited.convertTo(composited8, CV_8U, 255.0);
    const cv::Mat swapped = faceswap::read_image(scratch / "curated" / "frames" / (plate->name + ".png"));
    placed += cv::norm(composited8, swapped, cv::NORM_INF) <= 2;
  }
  CHECK(without_face == 2);
  CHECK(placed == 73);

  // --mask: the learned mask, the hull of the landmarks, or their product. With no erosion or feather the
  // frame masks compare directly: the product's lies under both others (to a level of rounding), the hull
  // is not the learned mask, and frames change only where their mask is.
  for (const std::string mode : {"learned", "hull", "both"}) {
    const auto run = run_faceswap("swap -m " + quoted(scratch / "model") + " -i " + quoted(clip) + " -o " +
                                  quoted(scratch / ("mask_" + mode)) + " --aligned " + quoted(scratch / "aligned") +
                                  " --erode 0 --blur 0 --mask " + mode);
    INFO(run.output);
    REQUIRE(run.status == 0);
    std::ifstream summary(scratch / ("mask_" + mode) / "swap.json");
    CHECK(nlohmann::json::parse(summary)["mask"] == mode);
  }
  int under_both = 0, hull_not_learned = 0, hull_only_inside = 0;
  for (faceswap::FrameSource frames_in(clip); auto frame = frames_in.next();) {
    if (frame->index == 3 || frame->index == 7) continue;
    const auto name = frame->name + ".png";
    const auto mask_of = [&](const std::string& mode) {
      return faceswap::read_image(scratch / ("mask_" + mode) / "masks" / name, false);
    };
    const cv::Mat learned = mask_of("learned"), hull = mask_of("hull"), both = mask_of("both");
    under_both += cv::countNonZero(both > cv::min(learned, hull) + 1) == 0;
    cv::Mat apart;
    cv::absdiff(learned, hull, apart);
    hull_not_learned += cv::countNonZero(apart > 32) > 100;
    const cv::Mat out = faceswap::read_image(scratch / "mask_hull" / "frames" / name);
    hull_only_inside += changes_of(out, hull, frame->image).elsewhere == 0 && cv::countNonZero(hull) > 500;
  }
  CHECK(under_both == 73);
  CHECK(hull_not_learned == 73);
  CHECK(hull_only_inside == 73);

  // --smooth: the same faces, each one's alignment steadied along its track
  // (the deleted frames 3 and 7 break it). Changes stay inside the dilated
  // masks, the jitter swap.json reports drops, and one thread (other chunks)
  // writes the same files. Both take the sot colour transfer (random
  // directions: drawn the same whatever the threads).
  const auto smoothed = [&](const std::string& folder, const std::string& more) {
    const auto run = run_faceswap("swap -m " + quoted(scratch / "model") + " -i " + quoted(clip) + " -o " +
                                  quoted(scratch / folder) + " --aligned " + quoted(scratch / "aligned") + " --smooth 3" + more);
    INFO(run.output);
    REQUIRE(run.status == 0);
    CHECK(run.output.find("px after --smooth 3") != std::string::npos);
    std::ifstream summary(scratch / folder / "swap.json");
    return nlohmann::json::parse(summary);
  };
  const auto steady = smoothed("smooth", " --threads 2 --colour-transfer sot");
  std::ifstream curated_summary(scratch / "curated" / "swap.json");
  const auto curated_json = nlohmann::json::parse(curated_summary);
  const auto as_extracted = curated_json["alignment_jitter_px"];
  CHECK(curated_json["colour_transfer"] == "rct");  // the default
  CHECK(steady["colour_transfer"] == "sot");
  MESSAGE("alignment jitter ", as_extracted["detected"], " px as detected, ", steady["alignment_jitter_px"]["swapped"],
          " px with --smooth 3");
  CHECK(steady["smooth"] == 3);
  CHECK(steady["alignment_jitter_px"]["detected"] == as_extracted["detected"]);
  CHECK(as_extracted["swapped"] == as_extracted["detected"]);  // no --smooth
  CHECK(double(as_extracted["detected"]) > 0.3);
  CHECK(double(steady["alignment_jitter_px"]["swapped"]) < double(as_extracted["detected"]) / 3);
  smoothed("smooth_one", " --threads 1 --colour-transfer sot");
  int moved = 0, same_alone = 0;
  for (faceswap::FrameSource frames_in(clip); auto frame = frames_in.next();) {
    const auto name = frame->name + ".png";
    const cv::Mat out = faceswap::read_image(scratch / "smooth" / "frames" / name);
    const cv::Mat mask = faceswap::read_image(scratch / "smooth" / "masks" / name, false);
    CHECK(changes_of(out, mask, frame->image).elsewhere == 0);
    moved += graft::testing::read_bytes(scratch / "smooth" / "frames" / name) !=
             graft::testing::read_bytes(scratch / "curated" / "frames" / name);
    same_alone += graft::testing::read_bytes(scratch / "smooth" / "frames" / name) ==
                      graft::testing::read_bytes(scratch / "smooth_one" / "frames" / name) &&
                  graft::testing::read_bytes(scratch / "smooth" / "masks" / name) ==
                      graft::testing::read_bytes(scratch / "smooth_one" / "masks" / name);
  }
  CHECK(moved > 60);  // all but the two untouched frames and any whose face stayed put
  CHECK(same_alone == 75);
  // --fill-gaps 1: the faces deleted from frames 3 and 7 lie on their track's
  // line, so they are filled in and swapped there too.
  const auto filled_run =
      run_faceswap("swap -m " + quoted(scratch / "model") + " -i " + quoted(clip) + " -o " + quoted(scratch / "filled") +
                   " --aligned " + quoted(scratch / "aligned") + " --smooth 3 --fill-gaps 1");
  INFO(filled_run.output);
  REQUIRE(filled_run.status == 0);
  CHECK(filled_run.output.find("filled in 2 faces the detector missed, in 2 frames") != std::string::npos);
  std::ifstream filled_summary(scratch / "filled" / "swap.json");
  const auto filled = nlohmann::json::parse(filled_summary);
  CHECK(filled["faces"] == 75);
  CHECK(filled["fill_gaps"] == 1);
  CHECK(filled["frames_filled"] == nlohmann::json{"lbbc2a_000003", "lbbc2a_000007"});
  CHECK(filled["frames_without_face"].empty());
  CHECK(steady["frames_filled"].empty());
  CHECK(steady["frames_without_face"] == nlohmann::json{"lbbc2a_000003", "lbbc2a_000007"});
  for (faceswap::FrameSource frames_in(clip); auto frame = frames_in.next();) {
    if (frame->index != 3 && frame->index != 7) continue;
    const cv::Mat out = faceswap::read_image(scratch / "filled" / "frames" / (frame->name + ".png"));
    const cv::Mat mask = faceswap::read_image(scratch / "filled" / "masks" / (frame->name + ".png"), false);
    const Changes changes = changes_of(out, mask, frame->image);
    CHECK(changes.elsewhere == 0);
    CHECK(changes.near_mask > 1000);  // swapped now
    // Where detection put the face in this frame: the masks overlap.
    const cv::Mat detected = faceswap::read_image(scratch / "out" / "masks" / (frame->name + ".png"), false);
    const double overlap = cv::countNonZero((mask > 0) & (detected > 0)), either = cv::countNonZero((mask > 0) | (detected > 0));
    CHECK(overlap / either > 0.9);
  }

  // Two inputs: no track runs from the first into the second (GRID frames
  // its speakers alike), so the first comes out as when swapped alone.
  const auto other_clip = faceswap::testing::demo / "clips" / "brbk7n.mpg";
  const auto detected_smooth = [&](const std::string& folder, const std::string& inputs) {
    const auto run = run_faceswap("swap -m " + quoted(scratch / "model") + inputs + " -o " + quoted(scratch / folder) +
                                  " --smooth 3 --fill-gaps 2");
    INFO(run.output);
    REQUIRE(run.status == 0);
  };
  detected_smooth("smooth_alone", " -i " + quoted(clip));
  detected_smooth("smooth_two", " -i " + quoted(clip) + " -i " + quoted(other_clip));
  int two_inputs = 0, first_alone = 0;
  for (const auto& entry : std::filesystem::directory_iterator(scratch / "smooth_two" / "frames")) {
    ++two_inputs;
    const auto name = entry.path().filename();
    if (name.string().starts_with("lbbc2a"))
      first_alone +=
          graft::testing::read_bytes(entry.path()) == graft::testing::read_bytes(scratch / "smooth_alone" / "frames" / name);
  }
  CHECK(two_inputs == 150);
  CHECK(first_alone == 75);
  // A shot split over two render nodes by frame ranges: each reads past its
  // range's ends (N + G + 3 frames), so together they write the whole
  // render's bytes.
  detected_smooth("range_a", " -i " + quoted(clip) + " --last-frame 36");
  detected_smooth("range_b", " -i " + quoted(clip) + " --first-frame 37");
  int in_a = 0, in_b = 0, as_whole = 0;
  for (const auto& entry : std::filesystem::directory_iterator(scratch / "smooth_alone" / "frames")) {
    const auto name = entry.path().filename();
    const bool a = std::filesystem::exists(scratch / "range_a" / "frames" / name);
    const bool b = std::filesystem::exists(scratch / "range_b" / "frames" / name);
    in_a += a;
    in_b += b;
    as_whole += graft::testing::read_bytes(entry.path()) ==
                graft::testing::read_bytes(scratch / (a ? "range_a" : "range_b") / "frames" / name);
  }
  CHECK(in_a == 37);
  CHECK(in_b == 38);
  CHECK(as_whole == 75);
  for (const auto& [range, message] : std::vector<std::pair<std::string, std::string>>{
           {" --first-frame 10 --last-frame 5", "--last-frame 5 is before --first-frame 10"},
           {" --first-frame 80", "no frame of the input lies in --first-frame 80"}}) {
    const auto refused = run_faceswap("swap -m " + quoted(scratch / "model") + " -i " + quoted(clip) + " -o " +
                                      quoted(scratch / "no_range") + range);
    CHECK(refused.status == 1);
    CHECK(refused.output.find(message) != std::string::npos);
    CHECK(!std::filesystem::exists(scratch / "no_range"));
  }
  const auto no_faces = run_faceswap("swap -m " + quoted(scratch / "model") + " -i " + quoted(clip) + " -o " +
                                     quoted(scratch / "o4") + " --aligned " + quoted(scratch / "model"));
  CHECK(no_faces.status == 1);
  CHECK(no_faces.output.find("no face metadata (*.json) here") != std::string::npos);
  CHECK(!std::filesystem::exists(scratch / "o4"));
  const auto other = faceswap::testing::demo / "clips" / "brbk7n.mpg";
  const auto mismatch = run_faceswap("swap -m " + quoted(scratch / "model") + " -i " + quoted(other) + " -o " +
                                     quoted(scratch / "o5") + " --aligned " + quoted(scratch / "aligned"));
  CHECK(mismatch.status == 1);
  CHECK(mismatch.output.find(
            "none of its faces is of a frame of the input (it has faces of lbbc2a_000000, the input's first frame is "
            "brbk7n_000000)") != std::string::npos);
  CHECK(!std::filesystem::exists(scratch / "o5"));

  // --precision: the model's convolutions multiply in f32 or bf16 (auto: bf16
  // on a CPU with AMX or AVX512-BF16); the last line and swap.json say which.
  // bf16 moves the drawn faces by a few 8-bit levels at most (one, measured
  // here and on the demo's model; 4 allowed); f32 is refused
  // with the GPU, which draws in bf16.
  const auto swap_in = [&](const std::string& precision) {
    const auto run = run_faceswap("swap -m " + quoted(scratch / "model") + " -i " + quoted(clip) + " -o " +
                                  quoted(scratch / ("in_" + precision)) + " --aligned " + quoted(scratch / "aligned") +
                                  " --precision " + precision);
    INFO(run.output);
    REQUIRE(run.status == 0);
    CHECK(run.output.find("the model (cpu, " + precision + ") drew them in") != std::string::npos);
    std::ifstream summary(scratch / ("in_" + precision) / "swap.json");
    CHECK(nlohmann::json::parse(summary)["precision"] == precision);
  };
  swap_in("f32");
  swap_in("bf16");
  const std::string picked = graft::cpu::has_native_bf16() ? "bf16" : "f32";
  int differing = 0, as_picked = 0;
  double largest = 0;
  for (const auto& entry : std::filesystem::directory_iterator(scratch / "in_f32" / "frames")) {
    const auto name = entry.path().filename();
    cv::Mat difference;
    cv::absdiff(faceswap::read_image(entry.path()), faceswap::read_image(scratch / "in_bf16" / "frames" / name), difference);
    double most = 0;
    cv::minMaxLoc(difference.reshape(1), nullptr, &most);
    largest = std::max(largest, most);
    differing += most > 0;
    as_picked += graft::testing::read_bytes(scratch / "curated" / "frames" / name) ==  // --precision auto
                 graft::testing::read_bytes(scratch / ("in_" + picked) / "frames" / name);
  }
  MESSAGE("bf16 against f32: ", differing, " of 75 frames differ, by at most ", largest, " levels");
  CHECK(differing > 0);
  CHECK(largest <= 4);
  CHECK(as_picked == 75);
  const auto gpu_f32 = run_faceswap("swap -m " + quoted(scratch / "model") + " -i " + quoted(clip) + " -o " +
                                    quoted(scratch / "o6") + " --backend cuda --precision f32");
  CHECK(gpu_f32.status == 1);
  CHECK(gpu_f32.output.find("swap: --precision f32: the cuda backend runs in bf16") != std::string::npos);
  CHECK(!std::filesystem::exists(scratch / "o6"));

  // Swaps the frame folder `input` into `output`, also as `video`: it must succeed and write the video.
  const auto swap_folder_with_video = [&](const std::string& input, const std::string& output, const std::string& video,
                                          const std::string& more = "") {
    const auto run = run_faceswap("swap -m " + quoted(scratch / "model") + " -i " + quoted(scratch / input) + " -o " +
                                  quoted(scratch / output) + " --video " + video + more);
    INFO(run.output);
    REQUIRE(run.status == 0);
    CHECK(std::filesystem::file_size(scratch / output / video) > 1000);
  };

  // 16-bit plates (PNG and TIFF) come back at 16 bits: untouched outside the
  // face, low bits included; the face and the mask at 16 bits.
  std::filesystem::create_directories(scratch / "plates");
  std::vector<cv::Mat> plates;
  faceswap::FrameSource frames_8(clip);
  for (int k = 0; k < 4; ++k) {
    const auto frame = frames_8.next();
    REQUIRE(frame);
    const cv::Mat plate = plate_from<cv::Vec3w>(frame->image, [](int y, int x, int c, int v) {  // low bits that round back to v
      return cv::saturate_cast<std::uint16_t>(257 * v + (x * 7 + y * 13 + c) % 201 - 100);
    });
    cv::imwrite((scratch / "plates" / ("plate_" + std::to_string(k) + (k == 3 ? ".tif" : ".png"))).string(), plate);
    plates.push_back(plate);
  }
  swap_folder_with_video("plates", "deep", "plates.mp4");
  for (int k = 0; k < 4; ++k) {
    const std::string name = "plate_" + std::to_string(k) + ".png";
    const cv::Mat out = cv::imread((scratch / "deep" / "frames" / name).string(), cv::IMREAD_UNCHANGED);
    const cv::Mat mask = cv::imread((scratch / "deep" / "masks" / name).string(), cv::IMREAD_UNCHANGED);
    REQUIRE(out.type() == CV_16UC3);
    check_swapped_plate(out, mask, plates[std::size_t(k)]);
  }

  // OpenEXR plates (linear light; half and float channels) come back as
  // OpenEXR stored the same way: untouched outside the face, highlights
  // above 1 included; the masks as 16-bit PNG.
  faceswap::enable_exr();
  std::filesystem::create_directories(scratch / "linear");
  std::vector<cv::Mat> linear_plates;
  faceswap::FrameSource frames_linear(clip);
  for (int k = 0; k < 3; ++k) {
    const auto frame = frames_linear.next();
    REQUIRE(frame);
    cv::Mat plate = plate_from<cv::Vec3f>(
        frame->image, [](int y, int x, int c, int v) {  // a highlight of 4 to 6 in the top left corner, far from the face
          return x < 24 && y < 24 ? 4.0f + float(c) + float(x) / 64 : faceswap::srgb_decode(float(v) / 255.0f);
        });
    const bool half = k < 2;
    if (half) {  // the values a half-float file holds
      cv::Mat halves;
      plate.convertTo(halves, CV_16F);
      halves.convertTo(plate, CV_32F);
    }
    cv::imwrite((scratch / "linear" / ("shot_" + std::to_string(k) + ".exr")).string(), plate,
                {cv::IMWRITE_EXR_TYPE, half ? cv::IMWRITE_EXR_TYPE_HALF : cv::IMWRITE_EXR_TYPE_FLOAT});
    linear_plates.push_back(plate);
  }
  swap_folder_with_video("linear", "linear_out", "shot.mp4", " --patches");
  for (int k = 0; k < 3; ++k) {
    const auto file = scratch / "linear_out" / "frames" / ("shot_" + std::to_string(k) + ".exr");
    CHECK(faceswap::read_exr_plate_layout(file).half == (k < 2));
    const cv::Mat out = cv::imread(file.string(), cv::IMREAD_UNCHANGED);
    const cv::Mat mask =
        cv::imread((scratch / "linear_out" / "masks" / ("shot_" + std::to_string(k) + ".png")).string(), cv::IMREAD_UNCHANGED);
    REQUIRE(out.type() == CV_32FC3);
    check_swapped_plate(out, mask, linear_plates[std::size_t(k)]);
    CHECK(out.at<cv::Vec3f>(10, 10)[2] == linear_plates[std::size_t(k)].at<cv::Vec3f>(10, 10)[2]);  // above 1, kept
    double brightest = 0;
    cv::minMaxLoc(out.reshape(1), nullptr, &brightest);
    CHECK(brightest > 4.0);
    // The patch (display-referred) placed by crop_to_frame, decoded from sRGB and laid over the linear plate,
    // gives the frame swap wrote (to half-float rounding).
    std::ifstream listing(scratch / "linear_out" / "patches" / ("shot_" + std::to_string(k) + ".json"));
    const auto [colour, alpha] =
        place_patch(scratch / "linear_out" / "patches", nlohmann::json::parse(listing)["faces"].at(0), out.size());
    double worst = 0;
    const cv::Mat& plate = linear_plates[std::size_t(k)];
    for (int y = 0; y < out.rows; ++y)
      for (int x = 0; x < out.cols; ++x) {
        const float a = alpha.at<float>(y, x);
        if (a <= 0) continue;
        for (int c = 0; c < 3; ++c) {
          const float drawn = faceswap::srgb_decode(std::clamp(colour.at<cv::Vec3f>(y, x)[c], 0.0f, 1.0f));
          const float expected = (1 - a) * plate.at<cv::Vec3f>(y, x)[c] + a * drawn;
          worst = std::max(worst, double(std::abs(expected - out.at<cv::Vec3f>(y, x)[c])));
        }
      }
    CHECK(worst < 2e-3);
  }

  const auto missing =
      run_faceswap("swap -m " + quoted(scratch / "nothing") + " -i " + quoted(clip) + " -o " + quoted(scratch / "o2"));
  CHECK(missing.status == 1);
  CHECK(missing.output.find("nothing/model.safetensors: no trained model here") != std::string::npos);
  CHECK(!std::filesystem::exists(scratch / "o2"));

  // --backend cuda without a usable GPU (or a build without CUDA): one message
  // naming the command, and no output folder. On a GPU machine it swaps.
  const auto gpu = run_faceswap("swap -m " + quoted(scratch / "model") + " -i " + quoted(clip) + " -o " + quoted(scratch / "o3") +
                                " --backend cuda");
  INFO(gpu.output);
  if (gpu.status == 0) {
    CHECK(std::filesystem::exists(scratch / "o3" / "frames"));
  } else {
    CHECK(gpu.status == 1);
    CHECK(gpu.output.find("swap: --backend cuda, but") != std::string::npos);
    CHECK(!std::filesystem::exists(scratch / "o3"));
  }
}

TEST_CASE("train on 2 thread ranks sees the same batches and logs the losses of 1 rank") {
  Scratch scratch("ranks");
  const std::string common = "train " + sets + small + "--steps 6 --log-every 1 --preview-every 0 --no-tensorboard -o ";
  REQUIRE(run_faceswap(common + quoted(scratch / "one")).status == 0);
  const auto two = run_faceswap(common + quoted(scratch / "two") + " --ranks 2");
  INFO(two.output);
  REQUIRE(two.status == 0);
  const auto a = metrics_of(scratch / "one"), b = metrics_of(scratch / "two");
  REQUIRE(a.size() == 6);
  REQUIRE(b.size() == 6);
  CHECK(double(a[0]["src_loss"]) == doctest::Approx(double(b[0]["src_loss"])).epsilon(1e-6));  // the same first batch
  for (std::size_t i = 0; i < a.size(); ++i) {
    // Afterwards only the order of float additions in the gradient sum differs.
    CHECK(double(a[i]["src_loss"]) == doctest::Approx(double(b[i]["src_loss"])).epsilon(1e-4));
    CHECK(double(a[i]["dst_loss"]) == doctest::Approx(double(b[i]["dst_loss"])).epsilon(1e-4));
  }
}

TEST_CASE("export: onnxruntime runs the exported swap path and matches graft's inference to 1e-4") {
  Scratch scratch("export");
  REQUIRE(run_faceswap("train " + sets + small + "--steps 3 --preview-every 0 --no-tensorboard -o " + quoted(scratch / "model"))
              .status == 0);
  const auto run = run_faceswap("export -m " + quoted(scratch / "model") + " -o " + quoted(scratch / "swap.onnx") + " --check " +
                                quoted(scratch / "check.safetensors"));
  INFO(run.output);
  REQUIRE(run.status == 0);
  const auto check = faceswap::testing::run_python(
      "check_onnx.py", quoted(scratch / "swap.onnx") + " " + quoted(scratch / "check.safetensors") + " 1e-4");
  MESSAGE(check.output);
  CHECK(check.status == 0);
  CHECK(check.output.find("swapped: largest difference") != std::string::npos);

  const auto missing = run_faceswap("export -m " + quoted(scratch / "none") + " -o " + quoted(scratch / "x.onnx"));
  CHECK(missing.status == 1);
  CHECK(missing.output.find("no trained model here") != std::string::npos);
}

TEST_CASE("train --eyes-mouth-priority runs and weighs the eyes and mouth in the loss") {
  Scratch scratch("eyes-mouth");
  const std::string common = "train " + sets + small + "--steps 2 --log-every 1 --preview-every 0 --no-tensorboard -o ";
  REQUIRE(run_faceswap(common + quoted(scratch / "plain")).status == 0);
  const auto run = run_faceswap(common + quoted(scratch / "priority") + " --eyes-mouth-priority");
  INFO(run.output);
  REQUIRE(run.status == 0);
  // The same first batch and weights; the priority term only adds to the loss.
  CHECK(double(metrics_of(scratch / "priority")[0]["src_loss"]) > double(metrics_of(scratch / "plain")[0]["src_loss"]));
}

TEST_CASE("train --precision: bf16 convolutions move the losses a little, auto picks by the CPU, f32 on a GPU is refused") {
  Scratch scratch("precision");
  const std::string common = "train " + sets + small + "--steps 2 --log-every 1 --preview-every 0 --no-tensorboard -o ";
  const auto f32 = run_faceswap(common + quoted(scratch / "f32") + " --precision f32");
  const auto bf16 = run_faceswap(common + quoted(scratch / "bf16") + " --precision bf16");
  INFO(f32.output, bf16.output);
  REQUIRE(f32.status == 0);
  REQUIRE(bf16.status == 0);
  CHECK(f32.output.find("convolutions multiply in f32 and sum in f32 (--precision f32)") != std::string::npos);
  CHECK(bf16.output.find("convolutions multiply in bf16 and sum in f32 (--precision bf16)") != std::string::npos);
  // The same batches and initial weights: bf16's rounding moves the weights
  // (and optimizer state) of most elements a little, and the losses less.
  const auto exact = parameters_of(scratch / "f32" / "model.safetensors");
  const auto rounded = parameters_of(scratch / "bf16" / "model.safetensors");
  std::size_t moved = 0, total = 0;
  double largest = 0;
  for (const auto& [name, values] : exact) {
    const auto& other = rounded.at(name);
    REQUIRE(other.size() == values.size());
    for (std::size_t i = 0; i < values.size(); ++i) {
      moved += values[i] != other[i];
      largest = std::max(largest, double(std::abs(values[i] - other[i])));
    }
    total += values.size();
  }
  CHECK(moved > total / 4);
  CHECK(largest < 1e-2);
  for (const char* side : {"src_loss", "dst_loss"})
    for (const std::size_t step : {0, 1})
      CHECK(double(metrics_of(scratch / "bf16")[step][side]) ==
            doctest::Approx(double(metrics_of(scratch / "f32")[step][side])).epsilon(1e-3));
  const auto automatic = run_faceswap(common + quoted(scratch / "auto"));
  REQUIRE(automatic.status == 0);
  const std::string picked = graft::cpu::has_native_bf16() ? "bf16" : "f32";
  CHECK(automatic.output.find("convolutions multiply in " + picked + " and sum in f32 (--precision auto)") != std::string::npos);
  CHECK(metrics_of(scratch / "auto")[0]["src_loss"] == metrics_of(scratch / picked)[0]["src_loss"]);

  const auto unknown = run_faceswap(common + quoted(scratch / "f16") + " --precision f16");
  CHECK(unknown.status != 0);
  CHECK(unknown.output.find("--precision") != std::string::npos);
  const auto gpu_f32 = run_faceswap(common + quoted(scratch / "gpu") + " --backend cuda --precision f32");
  CHECK(gpu_f32.status == 1);
  CHECK(gpu_f32.output.find("--precision f32: the cuda backend runs in bf16") != std::string::npos);
  CHECK(!std::filesystem::exists(scratch / "gpu"));
}

TEST_CASE("Loader threads: as given, else 2 on the CPU backend and the node's cores shared out with --backend cuda") {
  faceswap::TrainOptions o;
  CHECK(faceswap::loader_workers_for(o, 1, 16) == 2);  // CPU backend: its cores train
  o.backend = "cuda";
  CHECK(faceswap::loader_workers_for(o, 1, 16) == 7);   // 15 spare cores over two sides
  CHECK(faceswap::loader_workers_for(o, 8, 96) == 5);   // 8 GPUs on a 96-core node
  CHECK(faceswap::loader_workers_for(o, 8, 16) == 2);   // never below 2
  CHECK(faceswap::loader_workers_for(o, 1, 1) == 2);
  o.loader_workers = 3;
  CHECK(faceswap::loader_workers_for(o, 1, 16) == 3);  // given: as given
  o.backend = "cpu";
  CHECK(faceswap::loader_workers_for(o, 1, 16) == 3);
}
