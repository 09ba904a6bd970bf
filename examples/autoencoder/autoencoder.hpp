// A small convolutional autoencoder trained on generated images: the example
// to copy from when starting a model with graft.
//
// The images are drawn from Philox keyed by (seed, image index): a coloured
// background, a rectangle and a disc, so the data set is the same on every
// machine and needs no files. The model squeezes a 3x32x32 image through a
// 64-number code and back; the loss is the per-pixel MSE, the optimizer Adam.
#pragma once

#include <graft/core/philox.hpp>
#include <graft/loss/mse.hpp>
#include <graft/nn.hpp>
#include <graft/optim/adam.hpp>
#include <graft/train/checkpoint.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <vector>

namespace autoencoder {

namespace nn = graft::nn;
using graft::Shape;

inline constexpr Shape image{3, 32, 32};

using Encoder = nn::Seq<nn::Named<"conv1", nn::Conv2d<16, 5, 2>>, nn::LeakyReLU<0.1f>,  // (16, 16, 16)
                        nn::Named<"conv2", nn::Conv2d<32, 5, 2>>, nn::LeakyReLU<0.1f>,  // (32, 8, 8)
                        nn::Flatten, nn::Named<"code", nn::Dense<64>>>;                 // (64)

using Decoder = nn::Seq<nn::Named<"dense", nn::Dense<32 * 8 * 8>>, nn::Reshape<32, 8, 8>,  // (32, 8, 8)
                        nn::Named<"up1", nn::Conv2d<4 * 16, 3>>, nn::LeakyReLU<0.1f>,
                        nn::DepthToSpace<2>,  // (16, 16, 16)
                        nn::Named<"up2", nn::Conv2d<4 * 8, 3>>, nn::LeakyReLU<0.1f>,
                        nn::DepthToSpace<2>,                               // (8, 32, 32)
                        nn::Named<"out", nn::Conv2d<3, 3>>, nn::Sigmoid>;  // (3, 32, 32)

using Model = nn::Model<nn::Part<"encoder", Encoder, image>, nn::Part<"decoder", Decoder, nn::output_shape<Encoder, image>>>;

static_assert(nn::output_shape<Decoder, nn::output_shape<Encoder, image>> == image);

struct Config {
  std::int64_t steps = 300;
  std::int64_t batch = 16;
  std::int64_t dataset_size = 256;
  std::uint64_t seed = 1;
  float lr = 2e-3f;
  std::filesystem::path checkpoint;  // written at the end when not empty
  std::filesystem::path resume;      // continues the run saved there when not empty
};

inline constexpr std::string_view model_name = "autoencoder-32";

// Image `index` of the generated data set, written into `out` (3, 32, 32).
inline void generate_image(std::uint64_t seed, std::uint64_t index, float* out) {
  const graft::Philox rng(seed);
  std::uint64_t k = 0;
  auto next = [&] { return rng.uniform(k++, index); };
  const float background[3] = {next(), next(), next()};
  const float box[3] = {next(), next(), next()};
  const float disc[3] = {next(), next(), next()};
  const float x0 = 32 * next() * 0.6f, y0 = 32 * next() * 0.6f, bw = 6 + 10 * next(), bh = 6 + 10 * next();
  const float cx = 32 * next(), cy = 32 * next(), r = 4 + 6 * next();
  for (int y = 0; y < 32; ++y)
    for (int x = 0; x < 32; ++x)
      for (int c = 0; c < 3; ++c) {
        float v = background[c];
        if (x >= x0 && x < x0 + bw && y >= y0 && y < y0 + bh) v = box[c];
        if ((x - cx) * (x - cx) + (y - cy) * (y - cy) < r * r) v = disc[c];
        out[(c * 32 + y) * 32 + x] = v;
      }
}

// The settings that decide which images a step sees; a resumed run must keep them.
inline nlohmann::json data_settings(const Config& c) {
  return {{"seed", c.seed}, {"batch", c.batch}, {"dataset_size", c.dataset_size}};
}

inline void check_same_data(const Config& config, const nlohmann::json& saved, const std::filesystem::path& where) {
  const nlohmann::json now = data_settings(config);
  for (const auto& [key, value] : now.items())
    graft::check(saved.contains(key) && saved[key] == value, where.string(), ": the run was saved with ", key, " ",
                 saved.contains(key) ? saved[key].dump() : "(none)", ", this one asks for ", value.dump(),
                 "; resume with the same value");
}

// Trains (from scratch, or from config.resume) up to config.steps and
// returns the batch-mean loss of every step it ran.
// `on_step(step, loss)` is called after each step (progress output).
inline std::vector<double> train(const Config& config, const std::function<void(std::int64_t, double)>& on_step = {}) {
  graft::check(config.batch > 0 && config.steps > 0 && config.dataset_size >= config.batch,
               "autoencoder: need steps > 0 and 0 < batch <= dataset size, got steps ", config.steps, ", batch ", config.batch,
               ", dataset size ", config.dataset_size);
  Model model(config.seed);
  auto encoder = model.part<"encoder">();
  auto decoder = model.part<"decoder">();
  graft::optim::Adam optimizer({.lr = config.lr});
  std::int64_t first_step = 0;
  if (!config.resume.empty()) {
    const auto info = graft::train::load_training_checkpoint(config.resume, model, optimizer, model_name);
    check_same_data(config, nlohmann::json::parse(info.config), config.resume);
    first_step = info.step;
    graft::check(first_step < config.steps, config.resume.string(), ": the run is already at step ", first_step,
                 "; ask for more than ", first_step, " steps");
  }

  graft::Tensor dataset(graft::batched(config.dataset_size, image));
  for (std::int64_t i = 0; i < config.dataset_size; ++i)
    generate_image(config.seed, static_cast<std::uint64_t>(i), dataset.data() + i * image.numel());

  std::vector<double> losses;
  graft::Tensor batch(graft::batched(config.batch, image));
  for (std::int64_t step = first_step; step < config.steps; ++step) {
    for (std::int64_t i = 0; i < config.batch; ++i) {
      const std::int64_t index = (step * config.batch + i) % config.dataset_size;
      std::copy_n(dataset.data() + index * image.numel(), image.numel(), batch.data() + i * image.numel());
    }
    model.zero_gradients();
    auto code = encoder.forward(batch);                  // (B, 64)
    auto reconstruction = decoder.forward(code.view());  // (B, 3, 32, 32)

    // The gradient of the batch-mean loss.
    graft::Tensor d_reconstruction = graft::Tensor::zeros(reconstruction.value.shape());
    const auto loss =
        graft::loss::mse_backward(reconstruction.view(), batch, 1.0f / static_cast<float>(config.batch), d_reconstruction);
    graft::Tensor d_code = decoder.backward(reconstruction, d_reconstruction);
    encoder.backward_parameters_only(code, d_code);
    optimizer.step(model.parameter_buffer(), model.gradient_buffer(), config.lr);

    losses.push_back(loss.mean());
    if (on_step) on_step(step, loss.mean());
  }
  if (!config.checkpoint.empty())
    graft::train::save_training_checkpoint(config.checkpoint, model, optimizer, model_name, config.steps, data_settings(config));
  return losses;
}

}  // namespace autoencoder
