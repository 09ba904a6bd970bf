// TrainOptions: everything `faceswap train` can be told, from the command
// line or from a JSON config (--config), which round-trips through to_json
// and is stored in every checkpoint.
//
// A config key that is unknown, or a value of the wrong type, is an error
// naming the file and the key: a typo must never silently train with a
// default.
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

namespace faceswap {

struct TrainOptions {
  // Data.
  std::filesystem::path src, dst;  // face sets: the face to learn (src) and the performance to keep (dst)
  std::filesystem::path output;    // model folder: checkpoint, previews, metrics
  bool skip_bad_faces = false;
  // Model.
  std::string model = "df";  // df, liae, quick96, demo
  int resolution = 128;
  // Training.
  std::int64_t batch = 8;               // per side, all ranks together
  std::string optimizer = "adabelief";  // adabelief, rmsprop, adam
  float lr = 5e-5f;
  float lr_dropout = 1.0f;  // probability that a weight is updated (DeepFaceLab's lr_dropout 0.3 means 0.7 here)
  std::uint64_t seed = 1;
  bool random_warp = true, random_flip = true;
  // Of src faces towards random dst faces (colour_transfer.hpp); a config's
  // true or false (before the modes) reads as rct or none.
  std::string colour_transfer = "none";
  bool eyes_mouth_priority = false;
  bool uniform_yaw = false;  // draw faces evenly over yaw, both sides (data/yaw_sampler.hpp)
  double random_hsv = 0;     // DeepFaceLab's random_hsv_power, 0..0.3: src inputs' hue, saturation and value shifted
  bool blur_out_mask = false;  // targets' backgrounds blurred, both sides (DeepFaceLab's blur_out_mask)
  bool masked_training = true;  // false: the loss covers the whole crop, background too (DeepFaceLab's masked_training)
  // When to stop (whichever comes first; 0 = never).
  std::int64_t steps = 1000;
  double target_loss = 0;  // mean of src and dst loss over the last `loss_window` steps
  int loss_window = 50;
  // Outputs.
  std::int64_t preview_every = 100;
  double autosave_minutes = 15;
  std::int64_t save_every = 0;  // also save every N steps (0: off)
  std::int64_t log_every = 10;
  bool tensorboard = true;
  // Execution.
  std::string backend = "cpu";  // cpu, or cuda (a GPU per rank)
  // What the convolutions multiply in: f32, bf16 (products summed in f32;
  // master weights, optimizer state and every other layer stay f32), or auto:
  // bf16 on a GPU and on a CPU that multiplies bf16 in hardware (AMX,
  // AVX512-BF16), else f32. The GPU step trains in bf16 only.
  std::string precision = "auto";
  int device = 0;               // the GPU with --backend cuda
  // With --backend cuda: time cuDNN's candidate engines for every convolution
  // on the first step and keep the fastest (about 30 s once; 7% faster steps
  // for SAEHD-df-128 on an H200), instead of the heuristic's first choice.
  bool tune_convolutions = true;
  int ranks = 1;
  int loader_workers = 0;  // augmentation threads per side and rank; 0: loader_workers_for() picks
  double comm_timeout_s = 600;
  bool resume = false;
  // Keep every step's timings in TrainSummary::steps (graft-bench does; a
  // long run would otherwise grow that list without bound). Not a config key.
  bool record_steps = false;

  nlohmann::json to_json() const;
};

// Overwrites the fields present in `j`; `where` names the source in errors.
void apply_json(TrainOptions& o, const nlohmann::json& j, const std::string& where);
TrainOptions read_train_options(const std::filesystem::path& config);
// Checks ranges and combinations; throws naming the option.
void validate(const TrainOptions& o);

// The augmentation threads per side and rank: --loader-workers when given
// (above 0); else 2 on the CPU backend, whose cores also train, and with
// --backend cuda the node's cores but one, shared out over the node's ranks
// and the two sides (at least 2). A GPU eats faces faster than a core makes
// them: SAEHD-df-128 on an H200 takes ~3,100 faces/s, one core augments ~370
// at 128 px (docs/faceswap-data.md).
int loader_workers_for(const TrainOptions& o, int ranks_on_node, unsigned cores);

// A model as FACESWAP_VARIANTS names it: "df-ud" (as users write it) -> "df_ud".
inline std::string variant_token(std::string model) {
  std::ranges::replace(model, '-', '_');
  return model;
}

// The settings a resumed run must share with the run it continues (anything
// that changes the model, or which samples a step sees).
nlohmann::json run_identity(const TrainOptions& o);

}  // namespace faceswap
