// graft's first example: train a convolutional autoencoder on generated
// images on the CPU and print the loss as it falls. `--ranks N` trains on N
// data-parallel ranks (threads of this process); started by mpirun, each
// process is one rank.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <graft/comm/launch.hpp>

#include "autoencoder.hpp"

namespace {

template <graft::comm::Communicator Comm>
void run(const autoencoder::Config& config, Comm& comm) {
  const auto start = std::chrono::steady_clock::now();
  const auto losses = autoencoder::train(config, comm, [&](std::int64_t step, double loss) {
    if (step % 25 == 0 || step + 1 == config.steps) std::printf("step %5lld  loss %.6f\n", static_cast<long long>(step), loss);
  });
  if (comm.rank() != 0) return;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("trained %lld steps of %lld images on %d rank(s) (%s) in %.1f s (%.0f images/s); loss %.6f -> %.6f\n",
              static_cast<long long>(losses.size()), static_cast<long long>(config.batch), comm.size(),
              std::string(Comm::name).c_str(), seconds,
              static_cast<double>(losses.size()) * static_cast<double>(config.batch) / seconds, losses.front(), losses.back());
  if (!config.checkpoint.empty()) std::printf("checkpoint: %s\n", config.checkpoint.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  autoencoder::Config config;
  int ranks = 1;
  double timeout_s = std::chrono::duration<double>(graft::comm::default_timeout).count();
  CLI::App app{"Trains a small convolutional autoencoder on generated 32x32 images (CPU)."};
  app.add_option("--steps", config.steps, "training steps")->check(CLI::Range(std::int64_t{1}, std::int64_t{100000000}));
  app.add_option("--batch", config.batch, "images per step, all ranks together (at most the 256 generated images)")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{256}));
  app.add_option("--seed", config.seed, "seed of the weights and of the generated images");
  app.add_option("--lr", config.lr, "Adam learning rate")->check(CLI::Range(1e-8f, 1.0f));
  app.add_option("--checkpoint", config.checkpoint, "write the model and optimizer state here at the end (safetensors)");
  app.add_option("--resume", config.resume, "continue the run saved in this checkpoint (any rank count)")
      ->check(CLI::ExistingFile);
  app.add_option("--ranks", ranks, "data-parallel ranks, as threads of this process (under mpirun each process is a rank)")
      ->check(CLI::Range(1, 256));
  app.add_option("--comm-timeout", timeout_s, "seconds a rank waits for the others in one collective before stopping the job")
      ->check(CLI::Range(0.1, 86400.0));
  CLI11_PARSE(app, argc, argv);
  const auto timeout = std::chrono::milliseconds(static_cast<std::int64_t>(timeout_s * 1000));

  try {
    graft::comm::launch(ranks, [&](auto& comm) { run(config, comm); }, {.timeout = timeout});
  } catch (const graft::Error& e) {
    std::fprintf(stderr, "autoencoder: %s\n", e.what());
    return 1;
  }
  return 0;
}
