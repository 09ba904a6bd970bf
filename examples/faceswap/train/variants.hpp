// The model variants `faceswap train` can train, and the one function each provides.
//
// A SAEHD model's shapes are template arguments, so every (architecture,
// resolution) is its own compiled model. The build's list of them is the
// CMake cache variable FACESWAP_VARIANTS ("df:128;liae-ud:256;..."), from
// which examples/faceswap/cmake/variants.cmake writes one translation unit
// per variant (they compile in parallel) and built_variants.hpp, which
// defines the macro FACESWAP_VARIANTS(X) as X(architecture, resolution) each.
#pragma once

#include <string>
#include <string_view>

#include "built_variants.hpp"
#include "options.hpp"
#include "swap/exporter.hpp"
#include "swap/swapper.hpp"
#include "swap/trained_model.hpp"
#include "trainer.hpp"
#if defined(FACESWAP_WITH_CUDA)
#include "cuda/device_swapper.hpp"
#include "cuda/train_on_gpu.hpp"
#endif

namespace faceswap {

// What this program can train, grouped by architecture ("df 64, 128; liae 128; demo 64").
std::string built_variants();

#define FACESWAP_DECLARE_VARIANT(arch, res)                 \
  TrainSummary train_##arch##_##res(const TrainOptions& o); \
  SwapReport swap_##arch##_##res(const SwapOptions& o);     \
  void export_##arch##_##res(const ExportOptions& o);
FACESWAP_VARIANTS(FACESWAP_DECLARE_VARIANT)
#undef FACESWAP_DECLARE_VARIANT

// The architectures: df and liae are SAEHD's (ae 256, e 64, d 64, mask 22);
// df_ud and liae_ud (on the command line df-ud, liae-ud) add DeepFaceLab's -u
// (pixel norm of the code) and -d (decoder at half resolution, 4x fewer
// operations) options; quick96 is DeepFaceLab's Quick96 (df -ud, ae 128,
// mask 16) and only at 96; demo is SAEHD-df cut down (ae 64, e 16, d 16,
// mask 8) to train in minutes on a CPU, for the demo and the tests.
template <std::string_view const& Arch, int Resolution>
struct StepOf;
inline constexpr std::string_view df_name = "df", df_ud_name = "df_ud", liae_name = "liae", liae_ud_name = "liae_ud",
                                  quick96_name = "quick96", demo_name = "demo";
template <int R>
struct StepOf<df_name, R> {
  using type = DfStep<Options{.resolution = R}>;
};
template <int R>
struct StepOf<liae_name, R> {
  using type = LiaeStep<Options{.resolution = R}>;
};
template <int R>
struct StepOf<df_ud_name, R> {
  using type = DfStep<Options{.resolution = R, .u = true, .d = true}>;
};
template <int R>
struct StepOf<liae_ud_name, R> {
  using type = LiaeStep<Options{.resolution = R, .u = true, .d = true}>;
};
template <>
struct StepOf<quick96_name, 96> {
  using type = DfStep<quick96_options>;
};
template <int R>
struct StepOf<demo_name, R> {
  using type = DfStep<Options{.resolution = R, .ae_dims = 64, .e_dims = 16, .d_dims = 16, .d_mask_dims = 8}>;
};

// Runs a variant on the ranks the job was started with and returns rank 0's summary.
template <class Step>
TrainSummary train_on_ranks(const TrainOptions& o) {
  TrainSummary summary;
  graft::comm::launch(o.ranks,
                      [&](auto& comm) {
                        const TrainSummary mine = train_rank<Step>(o, comm);
                        if (comm.rank() == 0) summary = mine;
                      },
                      {.timeout = std::chrono::milliseconds(std::int64_t(o.comm_timeout_s * 1000))});
  return summary;
}

#if !defined(FACESWAP_WITH_CUDA)
[[noreturn]] inline void no_cuda_backend(const char* command) {
  graft::fail(command,
              ": --backend cuda, but this faceswap was built without the CUDA backend (it needs nvcc, cuDNN and the "
              "nvidia-cudnn-frontend headers at configure time); use --backend cpu");
}
#endif

// --backend cpu: the ranks above; --backend cuda: a GPU per rank (in a build with the CUDA backend).
template <class Step>
TrainSummary train_on_backend(const TrainOptions& o) {
  if (o.backend != "cuda") return train_on_ranks<Step>(o);
#if defined(FACESWAP_WITH_CUDA)
  return cuda::train_on_gpu<Step>(o);
#else
  no_cuda_backend("train");
#endif
}

// The trained model `name` from o.model, drawing the swap's faces on the CPU or on a GPU.
template <class Step>
SwapReport swap_on_backend(const SwapOptions& o, const std::string& name) {
  graft::check(o.backend == "cpu" || o.backend == "cuda", "swap: --backend must be cpu or cuda, got ", o.backend);
#if defined(FACESWAP_WITH_CUDA)
  if (o.backend == "cuda") cuda::usable_gpus("swap");  // before reading the checkpoint
#endif
  const auto model = load_trained_model<Step>(o.model, name);
  if (o.backend != "cuda") {
    const Step step;
    return swap_faces(o, Step::resolution, [&](graft::ConstView faces) { return step.swap(*model, faces); });
  }
#if defined(FACESWAP_WITH_CUDA)
  cuda::DeviceSwapper<typename cuda::OnDeviceOf<Step>::type> gpu(*model, o.device);
  return swap_faces(o, Step::resolution, [&](graft::ConstView faces) { return gpu.draw(faces); });
#else
  no_cuda_backend("swap");
#endif
}

// The checkpoint model name of a variant (what swap and export expect to find).
template <class Step>
std::string variant_name(std::string_view arch, int resolution) {
  TrainOptions t;
  t.model = arch;
  t.resolution = resolution;
  return model_name<Step>(t);
}

#define FACESWAP_DEFINE_VARIANT(arch, res)                                                                      \
  using arch##_##res##_step = StepOf<arch##_name, res>::type;                                                   \
  TrainSummary train_##arch##_##res(const TrainOptions& o) { return train_on_backend<arch##_##res##_step>(o); } \
  SwapReport swap_##arch##_##res(const SwapOptions& o) {                                                        \
    return swap_on_backend<arch##_##res##_step>(o, variant_name<arch##_##res##_step>(#arch, res));              \
  }                                                                                                             \
  void export_##arch##_##res(const ExportOptions& o) {                                                          \
    export_with<arch##_##res##_step>(o, variant_name<arch##_##res##_step>(#arch, res));                         \
  }

// The variant o.model at o.resolution; throws listing the built variants when there is none.
TrainSummary train(const TrainOptions& o);

}  // namespace faceswap
