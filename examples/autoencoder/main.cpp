// graft's first example: train a convolutional autoencoder on generated
// images on the CPU and print the loss as it falls.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "autoencoder.hpp"

int main(int argc, char** argv) {
  autoencoder::Config config;
  CLI::App app{"Trains a small convolutional autoencoder on generated 32x32 images (CPU)."};
  app.add_option("--steps", config.steps, "training steps")->check(CLI::Range(std::int64_t{1}, std::int64_t{100000000}));
  app.add_option("--batch", config.batch, "images per step (at most the 256 generated images)")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{256}));
  app.add_option("--seed", config.seed, "seed of the weights and of the generated images");
  app.add_option("--lr", config.lr, "Adam learning rate")->check(CLI::Range(1e-8f, 1.0f));
  app.add_option("--checkpoint", config.checkpoint, "write the model and optimizer state here at the end (safetensors)");
  app.add_option("--resume", config.resume, "continue the run saved in this checkpoint")->check(CLI::ExistingFile);
  CLI11_PARSE(app, argc, argv);

  try {
    const auto start = std::chrono::steady_clock::now();
    const auto losses = autoencoder::train(config, [&](std::int64_t step, double loss) {
      if (step % 25 == 0 || step + 1 == config.steps) std::printf("step %5lld  loss %.6f\n", static_cast<long long>(step), loss);
    });
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("trained %lld steps of %lld images in %.1f s (%.0f images/s); loss %.6f -> %.6f\n",
                static_cast<long long>(losses.size()), static_cast<long long>(config.batch), seconds,
                static_cast<double>(losses.size()) * static_cast<double>(config.batch) / seconds, losses.front(), losses.back());
    if (!config.checkpoint.empty()) std::printf("checkpoint: %s\n", config.checkpoint.c_str());
  } catch (const graft::Error& e) {
    std::fprintf(stderr, "autoencoder: %s\n", e.what());
    return 1;
  }
  return 0;
}
