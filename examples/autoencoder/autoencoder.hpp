// A small convolutional autoencoder trained on generated images: the example
// to copy from when starting a model with graft.
//
// The images are drawn from Philox keyed by (seed, image index): a coloured
// background, a rectangle and a disc, so the data set is the same on every
// machine and needs no files. The model squeezes a 3x32x32 image through a
// 64-number code and back; the loss is the per-pixel MSE, the optimizer Adam.
// train() runs on any communicator: each rank takes its share of every batch
// from a DistributedSampler, and DataParallel averages the gradients, so a
// step sees the same images, and learns the same, on 1, 2 or 4 ranks.
#pragma once

#include <graft/comm/single.hpp>
#include <graft/core/philox.hpp>
#include <graft/ddp/data_parallel.hpp>
#include <graft/ddp/distributed_sampler.hpp>
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

// Trains (from scratch, or from config.resume) up to config.steps on the
// ranks of `comm` and returns the batch-mean loss of every step it ran (the
// mean over all ranks). `config.batch` is the batch of all ranks together.
// `on_step(step, loss)` is called after each step (progress output); only
// rank 0 writes the checkpoint.
template <graft::comm::Communicator Comm>
std::vector<double> train(const Config& config, Comm& comm, const std::function<void(std::int64_t, double)>& on_step = {}) {
  graft::check(config.batch > 0 && config.steps > 0 && config.dataset_size >= config.batch,
               "autoencoder: need steps > 0 and 0 < batch <= dataset size, got steps ", config.steps, ", batch ", config.batch,
               ", dataset size ", config.dataset_size);
  graft::check(config.batch % comm.size() == 0, "autoencoder: the batch of ", config.batch, " images does not split evenly over ",
               comm.size(), " ranks");
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

  // Rank r's k-th sample of an epoch is position r + k N of the epoch's
  // permutation, so step s of every rank together covers positions
  // [s B, (s + 1) B): the same images whatever the rank count.
  const std::int64_t local_batch = config.batch / comm.size();
  const graft::ddp::DistributedSampler sampler(config.dataset_size, comm.size(), comm.rank(),
                                               {.seed = config.seed, .remainder = graft::ddp::Remainder::drop});
  const std::int64_t steps_per_epoch = sampler.samples_per_rank() / local_batch;
  graft::ddp::DataParallel parallel(model, comm);
  std::vector<std::int64_t> order;
  std::int64_t order_epoch = -1;

  std::vector<double> losses;
  graft::Tensor batch(graft::batched(local_batch, image));
  for (std::int64_t step = first_step; step < config.steps; ++step) {
    if (const std::int64_t epoch = step / steps_per_epoch; epoch != order_epoch) {
      order = sampler.indices(static_cast<std::uint64_t>(epoch));
      order_epoch = epoch;
    }
    for (std::int64_t i = 0; i < local_batch; ++i) {
      const std::int64_t index = order[static_cast<std::size_t>((step % steps_per_epoch) * local_batch + i)];
      std::copy_n(dataset.data() + index * image.numel(), image.numel(), batch.data() + i * image.numel());
    }
    model.zero_gradients();
    const double local_loss = parallel.forward_backward([&] {
      auto code = encoder.forward(batch);                  // (B/N, 64)
      auto reconstruction = decoder.forward(code.view());  // (B/N, 3, 32, 32)
      // The gradient of this rank's batch-mean loss; DataParallel averages over ranks.
      graft::Tensor d_reconstruction = graft::Tensor::zeros(reconstruction.value.shape());
      const auto loss =
          graft::loss::mse_backward(reconstruction.view(), batch, 1.0f / static_cast<float>(local_batch), d_reconstruction);
      graft::Tensor d_code = decoder.backward(reconstruction, d_reconstruction);
      encoder.backward_parameters_only(code, d_code);
      return loss.mean();
    });
    optimizer.step(model.parameter_buffer(), model.gradient_buffer(), config.lr);

    std::vector<float> loss{static_cast<float>(local_loss)};
    comm.all_reduce_mean(std::span(loss));
    losses.push_back(comm.size() == 1 ? local_loss : double{loss[0]});
    if (on_step && comm.rank() == 0) on_step(step, losses.back());
  }
  if (!config.checkpoint.empty() && comm.rank() == 0)
    graft::train::save_training_checkpoint(config.checkpoint, model, optimizer, model_name, config.steps, data_settings(config));
  comm.barrier();  // the checkpoint is complete when any rank returns
  return losses;
}

// One rank, no communication.
inline std::vector<double> train(const Config& config, const std::function<void(std::int64_t, double)>& on_step = {}) {
  graft::comm::Single single;
  return train(config, single, on_step);
}

}  // namespace autoencoder
