// faceswap: graft's face-replacement tool.
//   faceswap extract --input clip.mp4 --output faces/actor [--face-type whole --size 256]
//   faceswap train --src faces/actor --dst faces/double --output models/run1 [--config run.json]
//   faceswap swap --model models/run1 --input double.mp4 --output swapped [--video swapped.mp4]
//   faceswap demo        extract, train and swap the shipped clips on the CPU
//   faceswap export --model models/run1 --output swap.onnx
// (see docs/faceswap.md.)
#include <CLI/CLI.hpp>

#include <cstdio>
#include <graft/core/error.hpp>

#include <csignal>
#include <cstring>
#include <span>

#include "extract.hpp"
#include "face/image_file.hpp"
#include "precision.hpp"
#include "staging_folder.hpp"
#include "swap/export.hpp"
#include "swap/swap.hpp"
#include "train/variants.hpp"

namespace {

// The names an option takes, for CLI::IsMember.
std::vector<std::string> words_of(std::span<const std::string_view> names) { return {names.begin(), names.end()}; }

// --colour-transfer MODE; given bare (the flag it was before the modes), rct.
void add_colour_transfer(CLI::App* cmd, std::string& mode, const std::string& help) {
  std::vector<std::string> names = words_of(faceswap::colour_transfer_names);
  names.emplace_back("");
  cmd->add_option("--colour-transfer", mode, help)->expected(0, 1)->check(CLI::IsMember(names));
}

std::string bare_means_rct(const std::string& mode) { return mode.empty() ? "rct" : mode; }

void add_extract(CLI::App& app, faceswap::ExtractOptions& o, std::string& face_type, std::string& faces) {
  auto* cmd =
      app.add_subcommand("extract", "Find, align and crop the faces of videos, images or folders of frames into a face set");
  cmd->add_option("-i,--input", o.inputs, "video files, images or folders of frames (in order)")->required();
  cmd->add_option("-o,--output", o.output, "the new face-set folder (must not exist, or be empty)")->required();
  cmd->add_option("--face-type", face_type, "crop extent: half, mid_full, full (eyebrows to chin) or whole (with forehead)")
      ->check(CLI::IsMember({"half", "mid_full", "full", "whole"}));
  cmd->add_option("--size", o.size, "crop side in pixels")->check(CLI::Range(32, 4096));
  cmd->add_option("--faces", faces, "faces kept per frame: largest or all")->check(CLI::IsMember({"largest", "all"}));
  cmd->add_option("--format", o.image_format, "crop image format: jpg or png")->check(CLI::IsMember({"jpg", "png"}));
  cmd->add_option("--jpeg-quality", o.jpeg_quality, "JPEG quality of the crops")->check(CLI::Range(1, 100));
  cmd->add_option("--every", o.every, "keep every n-th frame")->check(CLI::Range(1, 100000));
  cmd->add_option("--min-face", o.min_face, "ignore faces whose detector box is smaller (pixels)")->check(CLI::Range(0, 100000));
  cmd->add_option("--upsample", o.detector.upsample, "enlarge frames 2^n times before detection, for small faces")
      ->check(CLI::Range(0, 3));
  cmd->add_option("--threads", o.threads, "detection threads (0: one per core)")->check(CLI::Range(0, 1024));
  cmd->add_option("--landmark-model", o.detector.shape_predictor, "dlib 68-point shape predictor");
}

int run_extract(faceswap::ExtractOptions& o, const std::string& face_type, const std::string& faces) {
  o.face_type = *faceswap::parse_face_type(face_type);
  o.faces = faces == "all" ? faceswap::FacesPerFrame::all : faceswap::FacesPerFrame::largest;
  const auto report = faceswap::extract(o, [](std::int64_t frames, std::int64_t found) {
    if (frames % 25 == 0)
      std::fprintf(stderr, "\r%lld frames, %lld faces", static_cast<long long>(frames), static_cast<long long>(found));
  });
  std::fprintf(stderr, "\r");
  std::printf("%lld faces from %lld frames into %s", static_cast<long long>(report.faces), static_cast<long long>(report.frames),
              o.output.c_str());
  if (!report.frames_without_face.empty())
    std::printf(" (%zu frames without a face: see faceset.json)", report.frames_without_face.size());
  std::printf("\n");
  return 0;
}

void add_train(CLI::App& app, faceswap::TrainOptions& o, std::filesystem::path& config) {
  auto* cmd = app.add_subcommand("train", "Train a face-swap model on two face sets (any option can come from --config)");
  cmd->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);  // a later option overrides an earlier one
  cmd->add_option("--config", config,
                  "JSON file of options (the keys are the long option names with _ for -); "
                  "options given on the command line override it");
  cmd->add_option("--src", o.src, "face set of the face to learn (made by extract)");
  cmd->add_option("--dst", o.dst, "face set of the performance to keep");
  cmd->add_option("-o,--output", o.output, "model folder: model.safetensors, previews, loss.png, metrics.jsonl, tensorboard/");
  cmd->add_flag("--skip-bad-faces", o.skip_bad_faces, "leave out faces that cannot be read instead of stopping");
  cmd->add_option("--model", o.model, "df, df-ud, liae, liae-ud, quick96, or demo (a small df for CPUs)")
      ->check(CLI::IsMember({"df", "df-ud", "liae", "liae-ud", "quick96", "demo"}));
  cmd->add_option("--resolution", o.resolution, "face resolution in pixels; this build has " + faceswap::built_variants() +
                                                    " (more: the CMake variable FACESWAP_VARIANTS)");
  cmd->add_option("--batch", o.batch, "faces per side per step, all ranks together");
  cmd->add_option("--optimizer", o.optimizer, "adabelief (DeepFaceLab's), rmsprop or adam")
      ->check(CLI::IsMember({"adabelief", "rmsprop", "adam"}));
  cmd->add_option("--lr", o.lr, "learning rate");
  cmd->add_option("--lr-dropout", o.lr_dropout, "probability that a weight is updated in a step (1: off)");
  cmd->add_option("--seed", o.seed, "seed of the weights, the sample order and the augmentation");
  cmd->add_flag("--random-warp,!--no-random-warp", o.random_warp, "warp the network input (turn off late in training)");
  cmd->add_flag("--random-flip,!--no-random-flip", o.random_flip, "flip samples horizontally with p = 0.4");
  add_colour_transfer(cmd, o.colour_transfer,
                      "colour transfer of src faces towards random dst faces, on input and target (default none; bare: "
                      "rct): rct (Reinhard: mean and spread of each L*a*b* channel), lct (mean and covariance), mkl "
                      "(mean and covariance, colours moved least), idt or sot (the whole colour distribution; about 8x "
                      "slower to augment than rct; docs/benchmarks.md)");
  cmd->add_option("--random-hsv", o.random_hsv,
                  "shift the hue (by up to +-180 P degrees), saturation and value (+-P/2) of src's network inputs at "
                  "random (DeepFaceLab's random_hsv_power, 0..0.3; 0: off): the model learns the actor's own colours "
                  "from shifted ones (DeepFaceLab offers it to steady the swap's colours)");
  cmd->add_flag("--masked-training,!--no-masked-training", o.masked_training,
                "the loss weighs the face mask and a band around it (default, DeepFaceLab's masked_training); off: the "
                "whole crop, background included, as DeepFaceLab allows for whole faces, where the model then also "
                "learns the hair and forehead beyond the mask");
  cmd->add_flag("--blur-out-mask,!--no-blur-out-mask", o.blur_out_mask,
                "blur the targets' background outside the face mask, from background pixels only (DeepFaceLab's "
                "blur_out_mask): the loss's band around the face then asks for less of the background's detail");
  cmd->add_flag("--uniform-yaw,!--no-uniform-yaw", o.uniform_yaw,
                "draw faces evenly over how far they are turned (DeepFaceLab's uniform_yaw), on both sides: the few "
                "profiles of mostly frontal footage are drawn as often as the frontal faces");
  cmd->add_flag("--eyes-mouth-priority", o.eyes_mouth_priority,
                "weigh the eyes and the mouth 300x more (DeepFaceLab's option; sharper eyes and teeth)");
  cmd->add_option("--steps", o.steps, "stop after this many steps (0: no limit)");
  cmd->add_option("--target-loss", o.target_loss, "stop when the mean loss over --loss-window steps reaches this (0: off)");
  cmd->add_option("--loss-window", o.loss_window, "steps averaged for --target-loss");
  cmd->add_option("--preview-every", o.preview_every, "write previews/step_N.png and preview.png every N steps (0: off)");
  cmd->add_option("--autosave-minutes", o.autosave_minutes, "save the checkpoint every N minutes (0: only at the end)");
  cmd->add_option("--save-every", o.save_every, "also save the checkpoint every N steps (0: off)");
  cmd->add_option("--log-every", o.log_every, "write metrics.jsonl and TensorBoard every N steps");
  cmd->add_flag("--tensorboard,!--no-tensorboard", o.tensorboard, "write TensorBoard event files in tensorboard/");
  cmd->add_option("--backend", o.backend,
                  "cpu, or cuda: the whole step on a GPU per rank as a CUDA graph, bf16 activations (a checkpoint "
                  "resumes on either backend)")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  cmd->add_option("--device", o.device, "the GPU to train on with --backend cuda");
  cmd->add_option("--precision", o.precision,
                  std::string("what the convolutions multiply in, summing in f32: bf16 (master weights, optimizer and the "
                              "other layers stay f32; ~2.4x faster steps on CPUs with AMX), f32, or ") +
                      faceswap::auto_precision_help + "; the GPU step is bf16 only")
      ->check(CLI::IsMember(faceswap::precisions));
  cmd->add_flag("--tune-convolutions,!--no-tune-convolutions", o.tune_convolutions,
                "with --backend cuda: time cuDNN's engines for each convolution on the first step and keep the fastest "
                "(on by default; off: the heuristic's choice, a shorter start)");
  cmd->add_option("--ranks", o.ranks, "data-parallel ranks as threads (under mpirun each process is a rank)");
  cmd->add_option("--loader-workers", o.loader_workers,
                  "augmentation threads per side and rank (0, the default: 2 on the CPU backend; with --backend cuda the "
                  "node's cores but one, shared over its ranks and the two sides)");
  cmd->add_option("--comm-timeout", o.comm_timeout_s, "seconds a rank waits for the others before stopping the job");
  cmd->add_flag("--resume", o.resume, "continue the run saved in the output folder");
}

// What swap's options name in words, turned into SwapOptions after parsing.
struct SwapWords {
  std::string face_type = "whole", faces = "largest", colour_transfer = "rct", mask = "learned";
  bool no_colour_transfer = false;
};

void add_swap(CLI::App& app, faceswap::SwapOptions& o, SwapWords& words) {
  auto* cmd = app.add_subcommand("swap", "Replace the face in footage with the one a trained model learned");
  cmd->add_option("-m,--model", o.model, "the training output folder (holds model.safetensors)")->required();
  cmd->add_option("-i,--input", o.inputs, "the double's footage: videos, images or folders of frames")->required();
  cmd->add_option("-o,--output", o.output, "new folder for frames/, masks/ and swap.json (must not exist, or be empty)")
      ->required();
  cmd->add_option("--face-type", words.face_type, "the face type the face sets were extracted with")
      ->check(CLI::IsMember({"half", "mid_full", "full", "whole"}));
  cmd->add_option("--faces", words.faces, "faces swapped per frame: largest or all")->check(CLI::IsMember({"largest", "all"}));
  cmd->add_option("--erode", o.blend.erode, "erode the predicted mask by N crop pixels (negative: dilate)")
      ->check(CLI::Range(-64, 64));
  cmd->add_option("--blur", o.blend.blur, "feather the mask edge over N crop pixels")->check(CLI::Range(0, 128));
  cmd->add_option("--mask", words.mask,
                  "the mask that puts the face back: learned (default: the one the model draws, steady from frame to "
                  "frame), hull (the hull of the face's landmarks in this frame, like the face sets' masks: follows the "
                  "detection, needs no trained mask), or both (the learned mask cut back to the hull); faces filled in "
                  "by --fill-gaps keep the learned one")
      ->check(CLI::IsMember(words_of(faceswap::mask_source_names)));
  add_colour_transfer(cmd, words.colour_transfer,
                      "match the new face's colours to the original's, with statistics from inside the mask: rct "
                      "(default, DeepFaceLab's: mean and spread of each L*a*b* channel), lct (mean and covariance), mkl "
                      "(mean and covariance, colours moved least), idt or sot (the whole colour distribution: closest "
                      "match, slowest), none");
  auto* no_colour = cmd->add_flag("--no-colour-transfer", words.no_colour_transfer, "the same as --colour-transfer none");
  no_colour->excludes(cmd->get_option("--colour-transfer"));
  cmd->add_flag("--patches", o.patches,
                "also write each face as the crop it was drawn in, ready to go back: patches/<frame>_<k>.png (16-bit "
                "BGRA: colours matched, the eroded and feathered mask as straight alpha, display-referred sRGB) and "
                "patches/<frame>.json (crop_to_frame and frame_to_crop, 2x3 affine matrices in pixels), for compositors "
                "who place, grade or re-filter the face themselves");
  cmd->add_option("--video", o.video, "also write the frames as this video in the output folder (name.mp4 or name.avi)");
  cmd->add_option("--fps", o.fps, "frame rate of --video")->check(CLI::Range(1.0, 240.0));
  cmd->add_option("--upsample", o.detector.upsample, "enlarge frames 2^n times before detection")->check(CLI::Range(0, 3));
  cmd->add_option("--threads", o.threads, "detection, compositing and writing threads (0: one per core)")->check(CLI::Range(0, 1024));
  cmd->add_option("--aligned", o.aligned,
                  "the folder faceswap extract wrote for this footage: swap the faces it holds (delete the ones not to swap) "
                  "at its landmarks, without detecting again (nor the landmark model)");
  cmd->add_option("--backend", o.backend,
                  "where the model draws the faces: cpu, or cuda (a GPU; detection and compositing stay on the CPU)")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  cmd->add_option("--device", o.device, "the GPU to draw on with --backend cuda")->check(CLI::Range(0, 1023));
  cmd->add_option("--precision", o.precision,
                  std::string("what the model's convolutions multiply in, summing in f32: bf16 (~1.8x faster on CPUs with "
                              "AMX; 8-bit frames within a few levels of f32's, one in our measurements), f32, or ") +
                      faceswap::auto_precision_help + "; the GPU draws in bf16 only")
      ->check(CLI::IsMember(faceswap::precisions));
  // 12 frames on each side (sigma 6, half a second at 25 fps) is already far more than jitter needs.
  cmd->add_option("--smooth", o.smooth,
                  "steady each face's alignment over N frames on each side (a least-squares line through the face's "
                  "track: jitter averaged out, steady drift, zoom and turn kept; tracks end at cuts that move the face): "
                  "dlib's landmarks shake the alignment by about a pixel from frame to frame and the swapped face "
                  "shimmers with it; holds N more frames in memory; 0 (default): as detected, like DeepFaceLab's merger")
      ->check(CLI::Range(0, 12));
  cmd->add_option("--first-frame", o.first_frame,
                  "swap from this frame on (its place in each input's order, from 0); the frames around a range are read "
                  "too, so that its frames come out as in a whole render (split a shot over render nodes)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--last-frame", o.last_frame, "swap up to this frame, inclusive (default: the input's end)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--fill-gaps", o.fill_gaps,
                  "a face the detector missed for up to N frames in a row, found again where its track was or was "
                  "heading, is swapped on the missed frames too, its alignment interpolated (else the double's own face "
                  "flashes through); a face really covered or gone for those frames gets one pasted over what is "
                  "there, so keep N small; with --aligned, faces deleted from the set within such a gap come back; "
                  "holds N more frames in memory; 0 (default): none")
      ->check(CLI::Range(0, 12));
}

int run_swap(faceswap::SwapOptions& o, const SwapWords& words) {
  o.face_type = *faceswap::parse_face_type(words.face_type);
  o.faces = words.faces == "all" ? faceswap::FacesPerFrame::all : faceswap::FacesPerFrame::largest;
  o.mask = faceswap::MaskSource(std::ranges::find(faceswap::mask_source_names, words.mask) - faceswap::mask_source_names.begin());
  o.blend.colour_transfer = words.no_colour_transfer ? faceswap::ColourTransfer::none
                                                     : *faceswap::parse_colour_transfer(bare_means_rct(words.colour_transfer));
  const auto report = faceswap::swap(o);
  std::printf("swapped %lld faces in %lld frames: %s/frames, masks in %s/masks", static_cast<long long>(report.faces),
              static_cast<long long>(report.frames), o.output.c_str(), o.output.c_str());
  if (!o.video.empty()) std::printf(", video %s", (o.output / o.video).c_str());
  if (report.faces_filled > 0)
    std::printf("\nfilled in %lld face%s the detector missed, in %zu frame%s (swap.json lists them)",
                static_cast<long long>(report.faces_filled), report.faces_filled == 1 ? "" : "s", report.frames_filled.size(),
                report.frames_filled.size() == 1 ? "" : "s");
  std::printf("\nalignment jitter %.2f px RMS as detected", report.jitter_detected_px);
  if (o.smooth > 0)
    std::printf(", %.2f px after --smooth %d", report.jitter_swapped_px, o.smooth);
  else if (report.jitter_detected_px > 0.5)
    std::printf(" (--smooth 3 steadies it)");
  std::printf("\nthe model (%s, %s) drew them in %.2f s\n", o.backend.c_str(),
              faceswap::effective_precision(o.precision, o.backend).c_str(), report.model_seconds);
  return 0;
}

void add_export(CLI::App& app, faceswap::ExportOptions& o) {
  auto* cmd = app.add_subcommand("export", "Write the swap path of a trained model as an ONNX file");
  cmd->add_option("-m,--model", o.model, "the training output folder (holds model.safetensors)")->required();
  cmd->add_option("-o,--output", o.output, "the ONNX file to write")->required();
  cmd->add_option("--check", o.check, "also write random faces and graft's outputs for them here (safetensors)");
}

struct DemoOptions {
  std::filesystem::path data = FACESWAP_DEMO_DIR;  // the shipped clips
  std::filesystem::path output = "faceswap-demo";
  std::int64_t steps = 600;
  int ranks = 1;
};

void add_demo(CLI::App& app, DemoOptions& o) {
  auto* cmd = app.add_subcommand("demo", "Extract, train and swap on the two shipped GRID clips, on the CPU, in a few minutes");
  cmd->add_option("-o,--output", o.output, "new folder for everything the demo makes (must not exist, or be empty)");
  cmd->add_option("--steps", o.steps, "training steps (600 take about 2 minutes on 2 cores with AMX, 3 without)")
      ->check(CLI::Range(1, 1000000));
  cmd->add_option("--ranks", o.ranks, "data-parallel ranks as threads")->check(CLI::Range(1, 64));
  cmd->add_option("--data", o.data, "folder of the demo clips (clips/brbk7n.mpg, clips/lbbc2a.mpg)");
}

int run_demo(const DemoOptions& d) {
  faceswap::check_new_output(d.output, "demo");
  const auto faces = d.output / "faces";
  std::printf("1/3 extract: the actor (brbk7n) and the double (lbbc2a) from %s\n", (d.data / "clips").c_str());
  std::fflush(stdout);  // the stages' own progress goes to stderr
  for (const auto& [clip, name] : {std::pair{"brbk7n", "actor"}, {"lbbc2a", "double"}}) {
    const auto report =
        faceswap::extract({.inputs = {d.data / "clips" / (std::string(clip) + ".mpg")}, .output = faces / name, .size = 128});
    std::printf("    %lld faces from %lld frames -> %s\n", static_cast<long long>(report.faces),
                static_cast<long long>(report.frames), (faces / name).c_str());
  }
  faceswap::TrainOptions t;
  t.src = faces / "actor";
  t.dst = faces / "double";
  t.output = d.output / "model";
  t.model = "demo";
  t.resolution = 64;
  t.batch = 8;
  t.lr = 2e-4f;  // the small demo model learns faster than SAEHD's default allows
  t.steps = d.steps;
  t.preview_every = 100;
  t.log_every = 50;
  t.ranks = d.ranks;
  std::printf("2/3 train: a small SAEHD-df at 64 px for %lld steps on the CPU\n", static_cast<long long>(d.steps));
  std::fflush(stdout);
  const auto summary = faceswap::train(t);
  std::printf("    loss %.3f after %.0f s\n", summary.final_loss, summary.seconds);
  std::printf("3/3 swap: the actor's face onto the double's clip\n");
  std::fflush(stdout);
  faceswap::SwapOptions s;
  s.model = t.output;
  s.inputs = {d.data / "clips" / "lbbc2a.mpg"};
  s.smooth = 3;  // the clip's alignment shakes by 1.15 px; 0.13 px steadied (docs/faceswap.md)
  s.output = d.output / "swapped";
  s.video = "swapped.mp4";
  const auto swapped = faceswap::swap(s);
  std::printf(
      "\ndone. Look at:\n"
      "  %s   the training preview (src, src rebuilt, dst, dst rebuilt, swap)\n"
      "  %s   the loss\n"
      "  %s   the swapped clip (%lld frames; PNG frames in frames/, masks in masks/)\n"
      "  %s   the face sets\n",
      (t.output / "preview.png").c_str(), (t.output / "loss.png").c_str(), (s.output / "swapped.mp4").c_str(),
      static_cast<long long>(swapped.frames), faces.c_str());
  return 0;
}

// --config is read before the other options, so that they override it.
std::filesystem::path find_config(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--config") == 0) return argv[i + 1];
  for (int i = 1; i < argc; ++i)
    if (std::strncmp(argv[i], "--config=", 9) == 0) return argv[i] + 9;
  return {};
}

extern "C" void on_stop_signal(int) { faceswap::stop_signal.store(1); }

int run_train(const faceswap::TrainOptions& o) {
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
  const auto summary = faceswap::train(o);
  if (!summary.lead) return 0;  // another process of an mpirun job reports
  std::printf("trained steps %lld..%lld in %.1f s; loss %.4f; model in %s\n", static_cast<long long>(summary.first_step),
              static_cast<long long>(summary.last_step), summary.seconds, summary.final_loss, o.output.c_str());
  if (summary.seconds > 0)
    std::printf("waited %.1f s (%.0f%%) for the augmentation threads%s\n", summary.data_wait_s, 100 * summary.data_wait_s / summary.seconds,
                summary.data_wait_s > 0.5 * summary.seconds ? ": they set the pace, not the model (more --loader-workers, if cores are free)" : "");
  if (summary.time_to_loss >= 0) std::printf("time to loss %.4g: %.1f s\n", o.target_loss, summary.time_to_loss);
  if (faceswap::stop_signal.load()) std::printf("stopped by a signal; saved; continue with --resume\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  faceswap::enable_exr();  // before any thread starts: it sets an environment variable
  CLI::App app{"faceswap: face replacement with graft"};
  app.require_subcommand(1);
  faceswap::ExtractOptions extract;
  std::string face_type = "whole", faces = "largest";
  add_extract(app, extract, face_type, faces);
  faceswap::TrainOptions train;
  std::filesystem::path config;
  try {
    if (const auto path = find_config(argc, argv); !path.empty()) train = faceswap::read_train_options(path);
  } catch (const graft::Error& e) {
    std::fprintf(stderr, "faceswap: %s\n", e.what());
    return 1;
  }
  add_train(app, train, config);
  faceswap::SwapOptions swap;
  SwapWords swap_words;
  add_swap(app, swap, swap_words);
  DemoOptions demo;
  add_demo(app, demo);
  faceswap::ExportOptions export_options;
  add_export(app, export_options);
  CLI11_PARSE(app, argc, argv);
  try {
    if (app.got_subcommand("extract")) return run_extract(extract, face_type, faces);
    if (app.got_subcommand("train")) {
      train.colour_transfer = bare_means_rct(train.colour_transfer);
      return run_train(train);
    }
    if (app.got_subcommand("swap")) return run_swap(swap, swap_words);
    if (app.got_subcommand("export")) {
      faceswap::export_onnx(export_options);
      std::printf("wrote %s (input \"face\", outputs \"swapped\" and \"mask\")\n", export_options.output.c_str());
      return 0;
    }
    if (app.got_subcommand("demo")) {
      std::signal(SIGINT, on_stop_signal);
      return run_demo(demo);
    }
  } catch (const graft::Error& e) {
    std::fprintf(stderr, "faceswap: %s\n", e.what());
    return 1;
  } catch (const cv::Exception& e) {
    std::fprintf(stderr, "faceswap: OpenCV: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {  // filesystem and other library errors name their cause too
    std::fprintf(stderr, "faceswap: %s\n", e.what());
    return 1;
  }
  return 0;
}
