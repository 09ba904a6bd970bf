#include "options.hpp"

#include <fstream>
#include <graft/core/error.hpp>
#include <set>

#include "face/colour_transfer.hpp"
#include "json_value.hpp"
#include "precision.hpp"

namespace faceswap {
namespace {

using nlohmann::json;

void read_path(const json& j, const char* key, std::filesystem::path& into, const std::string& where) {
  std::string s = into.string();
  read_json_value(j, key, s, where);
  into = s;
}

}  // namespace

json TrainOptions::to_json() const {
  return {{"src", src.string()},
          {"dst", dst.string()},
          {"output", output.string()},
          {"skip_bad_faces", skip_bad_faces},
          {"model", model},
          {"resolution", resolution},
          {"batch", batch},
          {"optimizer", optimizer},
          {"lr", lr},
          {"lr_dropout", lr_dropout},
          {"seed", seed},
          {"random_warp", random_warp},
          {"random_flip", random_flip},
          {"colour_transfer", colour_transfer},
          {"eyes_mouth_priority", eyes_mouth_priority},
          {"uniform_yaw", uniform_yaw},
          {"random_hsv", random_hsv},
          {"blur_out_mask", blur_out_mask},
          {"masked_training", masked_training},
          {"steps", steps},
          {"target_loss", target_loss},
          {"loss_window", loss_window},
          {"preview_every", preview_every},
          {"autosave_minutes", autosave_minutes},
          {"save_every", save_every},
          {"log_every", log_every},
          {"tensorboard", tensorboard},
          {"backend", backend},
          {"precision", precision},
          {"device", device},
          {"tune_convolutions", tune_convolutions},
          {"ranks", ranks},
          {"loader_workers", loader_workers},
          {"comm_timeout_s", comm_timeout_s},
          {"resume", resume}};
}

void apply_json(TrainOptions& o, const json& j, const std::string& where) {
  graft::check(j.is_object(), where, ": the config must be a JSON object");
  const json known = TrainOptions{}.to_json();
  for (const auto& [key, value] : j.items())
    graft::check(
        known.contains(key), where, ": unknown key \"", key, "\" (known: ",
        [&] {
          std::string names;
          for (const auto& [k, v] : known.items()) names += (names.empty() ? "" : ", ") + k;
          return names;
        }(),
        ")");
  read_path(j, "src", o.src, where);
  read_path(j, "dst", o.dst, where);
  read_path(j, "output", o.output, where);
  read_json_value(j, "skip_bad_faces", o.skip_bad_faces, where);
  read_json_value(j, "model", o.model, where);
  read_json_value(j, "resolution", o.resolution, where);
  read_json_value(j, "batch", o.batch, where);
  read_json_value(j, "optimizer", o.optimizer, where);
  read_json_value(j, "lr", o.lr, where);
  read_json_value(j, "lr_dropout", o.lr_dropout, where);
  read_json_value(j, "seed", o.seed, where);
  read_json_value(j, "random_warp", o.random_warp, where);
  read_json_value(j, "random_flip", o.random_flip, where);
  if (j.contains("colour_transfer") && j.at("colour_transfer").is_boolean())
    o.colour_transfer = j.at("colour_transfer").get<bool>() ? "rct" : "none";
  else
    read_json_value(j, "colour_transfer", o.colour_transfer, where);
  read_json_value(j, "eyes_mouth_priority", o.eyes_mouth_priority, where);
  read_json_value(j, "uniform_yaw", o.uniform_yaw, where);
  read_json_value(j, "random_hsv", o.random_hsv, where);
  read_json_value(j, "blur_out_mask", o.blur_out_mask, where);
  read_json_value(j, "masked_training", o.masked_training, where);
  read_json_value(j, "steps", o.steps, where);
  read_json_value(j, "target_loss", o.target_loss, where);
  read_json_value(j, "loss_window", o.loss_window, where);
  read_json_value(j, "preview_every", o.preview_every, where);
  read_json_value(j, "autosave_minutes", o.autosave_minutes, where);
  read_json_value(j, "save_every", o.save_every, where);
  read_json_value(j, "log_every", o.log_every, where);
  read_json_value(j, "tensorboard", o.tensorboard, where);
  read_json_value(j, "backend", o.backend, where);
  read_json_value(j, "precision", o.precision, where);
  read_json_value(j, "device", o.device, where);
  read_json_value(j, "tune_convolutions", o.tune_convolutions, where);
  read_json_value(j, "ranks", o.ranks, where);
  read_json_value(j, "loader_workers", o.loader_workers, where);
  read_json_value(j, "comm_timeout_s", o.comm_timeout_s, where);
  read_json_value(j, "resume", o.resume, where);
}

TrainOptions read_train_options(const std::filesystem::path& config) {
  std::ifstream in(config);
  graft::check(bool(in), config.string(), ": cannot open the config");
  json j;
  try {
    j = json::parse(in);
  } catch (const json::parse_error& e) {
    graft::fail(config.string(), ": not valid JSON: ", e.what());
  }
  TrainOptions o;
  apply_json(o, j, config.string());
  return o;
}

void validate(const TrainOptions& o) {
  graft::check(!o.src.empty() && !o.dst.empty(), "train: --src and --dst face sets are required");
  graft::check(!o.output.empty(), "train: --output (the model folder) is required");
  graft::check(std::set<std::string>{"df", "df-ud", "liae", "liae-ud", "quick96", "demo"}.contains(o.model),
               "train: --model must be df, df-ud, liae, liae-ud, quick96 or demo, got ", o.model);
  graft::check(std::set<std::string>{"adabelief", "rmsprop", "adam"}.contains(o.optimizer),
               "train: --optimizer must be adabelief, rmsprop or adam, got ", o.optimizer);
  graft::check(parse_colour_transfer(o.colour_transfer).has_value(), "train: --colour-transfer must be ",
               colour_transfer_list(), ", got ", o.colour_transfer);
  graft::check(o.random_hsv >= 0 && o.random_hsv <= 0.3, "train: --random-hsv must be in [0, 0.3], got ", o.random_hsv);
  graft::check(o.backend == "cpu" || o.backend == "cuda", "train: --backend must be cpu or cuda, got ", o.backend);
  graft::check(o.device >= 0, "train: --device must be a GPU index (0, 1, ...), got ", o.device);
  validate_precision("train", o.precision, o.backend);
  graft::check(o.batch > 0 && o.ranks > 0 && o.batch % o.ranks == 0, "train: --batch ", o.batch, " must split evenly over ",
               o.ranks, " rank(s)");
  graft::check(o.lr > 0 && o.lr < 1, "train: --lr must be in (0, 1), got ", o.lr);
  graft::check(o.lr_dropout > 0 && o.lr_dropout <= 1, "train: --lr-dropout must be in (0, 1], got ", o.lr_dropout);
  graft::check(o.steps >= 0 && o.target_loss >= 0 && (o.steps > 0 || o.target_loss > 0),
               "train: give --steps or --target-loss (or both), non-negative");
  graft::check(o.loss_window > 0 && o.preview_every >= 0 && o.log_every > 0 && o.autosave_minutes >= 0 && o.save_every >= 0 &&
                   o.loader_workers >= 0,
               "train: --loss-window and --log-every must be positive; --preview-every, --autosave-minutes and "
               "--loader-workers (0: automatic) non-negative");
}

int loader_workers_for(const TrainOptions& o, int ranks_on_node, unsigned cores) {
  if (o.loader_workers > 0) return o.loader_workers;
  if (o.backend != "cuda") return 2;
  const int spare = int(cores > 1 ? cores - 1 : 1);
  return std::max(2, spare / (2 * std::max(1, ranks_on_node)));
}

json run_identity(const TrainOptions& o) {
  return {{"model", o.model}, {"resolution", o.resolution}, {"batch", o.batch}, {"seed", o.seed}};
}

}  // namespace faceswap
