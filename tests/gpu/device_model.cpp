// Models on the GPU (nn::cuda) against the same models on the CPU backend:
// every layer kind's forward and backward through a model that uses them
// all, the layout conversion, and the SAEHD 'df' device step (losses,
// gradients, captured = plain, training lowers the loss). Random parameters
// and inputs, device outputs poisoned. Needs a GPU and the CPU backend
// (oneDNN): run by tests/gpu/run.sh, not by ctest.
//
// The GPU runs bf16 activations and weight copies with f32 accumulation; the
// CPU runs f32. Bounds below are relative L2 errors over a whole tensor
// (|gpu - cpu| / |cpu|), stated per check with the reason.
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <memory>
#include <vector>

#include "cuda/device_swapper.hpp"
#include "cuda/df_device_step.hpp"
#include "cuda/liae_device_step.hpp"
#include "graft/nn.hpp"
#include "graft/nn/cuda/device_model.hpp"
#include "graft/optim/adabelief.hpp"
#include "graft/optim/adam.hpp"
#include "random_fill.hpp"
#include "train_step.hpp"

namespace gpu = graft::cuda;
namespace nn = graft::nn;
namespace nn_cuda = graft::nn::cuda;
using graft::bf16;
using graft::Shape;

namespace {

double relative_l2(const std::vector<float>& a, const std::vector<float>& b, std::size_t begin = 0, std::size_t end = SIZE_MAX) {
  REQUIRE(a.size() == b.size());
  end = std::min(end, a.size());
  double diff = 0, norm = 0;
  for (std::size_t i = begin; i < end; ++i) {
    const double d = double(a[i]) - b[i];
    if (std::isnan(d)) return INFINITY;
    diff += d * d;
    norm += double(b[i]) * b[i];
  }
  return std::sqrt(diff / std::max(norm, 1e-30));
}

// The CPU reference sees the values the GPU sees: inputs and parameters
// rounded to bf16 (both then compute in f32). Otherwise an element whose
// pre-activation is within rounding of zero takes the other side of a
// LeakyReLU on the two backends, and its gradient differs by (1 - slope) dy.
void round_to_bf16(std::span<float> values) {
  for (float& v : values) v = static_cast<float>(bf16(v));
}

// A freshly initialised small model's outputs all sit within about 1e-3 of
// the sigmoid's 0.5 (its pre-activations shrink layer by layer), where one
// bf16 step is 2e-3 to 4e-3 and every output (src, dst, swap) looks like
// every other: a test comparing them could not tell one from another.
// Scaling every parameter by 1.6 (the layers are LeakyReLU, so each layer's
// output grows) spreads the tiny models' outputs over (0, 1), an RMS of 0.12
// to 0.26 around 0.5, and makes them depend on the input and the decoder: the
// CPU's src, dst and swap previews then differ by 0.12 to 0.34 (relative L2)
// where bf16 rounding of the outputs alone is 0.002 and bf16 convolutions
// (the CPU's ConvPrecision::bf16) add 0.002 (measured on the CPU,
// 2026-11-28). Then rounded to bf16, as the device holds them.
void spread_outputs(std::span<float> parameters) {
  for (float& p : parameters) p *= 1.6f;
  round_to_bf16(parameters);
}

// NCHW f32 (host) <-> channels-last bf16 (device), through the backend's own transposes.
nn_cuda::DeviceTensor to_device_image(const nn_cuda::Context& c, const graft::Tensor& x) {
  gpu::DeviceBuffer<float> staged(std::size_t(x.numel()), c.stream);
  staged.copy_from_host(x.data());
  nn_cuda::DeviceTensor d(c, x.shape());
  const Shape& s = x.shape();
  if (s.rank == 4)
    gpu::transpose(staged.data(), d.buffer.data(), s[0], s[1], s[2] * s[3], c.stream);
  else
    gpu::to_bf16(staged.data(), d.buffer.data(), x.numel(), c.stream);
  return d;
}
std::vector<float> to_host_image(const nn_cuda::Context& c, nn_cuda::ConstDeviceView d) {
  gpu::DeviceBuffer<float> staged(std::size_t(d.numel()), c.stream);
  const Shape& s = d.shape;
  if (s.rank == 4)
    gpu::transpose(d.data, staged.data(), s[0], s[2] * s[3], s[1], c.stream);
  else
    gpu::to_f32(d.data, staged.data(), d.numel(), c.stream);
  std::vector<float> host(std::size_t(d.numel()));
  staged.copy_to_host(host.data());
  return host;
}

// Every layer kind the GPU implements, in one model of two parts:
//   "image": conv + LeakyReLU (fused), residual block, concat of two heads,
//            depth-to-space, strided conv, sigmoid;  (8, 12, 12) -> (4, 12, 12)
//   "vector": flatten, pixel norm, dense, dense without bias, reshape, conv, identity.  (4, 6, 6) -> (8, 6, 6)
using ImageNet = nn::Seq<
    nn::Named<"conv1", nn::Conv2d<16, 3>>, nn::LeakyReLU<0.1f>,
    nn::Named<"res", nn::Residual<nn::Seq<nn::Named<"conv1", nn::Conv2d<16, 3>>, nn::LeakyReLU<0.2f>,
                                          nn::Named<"conv2", nn::Conv2d<16, 3>>>,
                                  nn::LeakyReLU<0.2f>>>,
    nn::Named<"heads", nn::ConcatBranches<nn::Named<"a", nn::Conv2d<8, 1>>, nn::Named<"b", nn::Seq<nn::Conv2d<24, 3>, nn::LeakyReLU<0.1f>>>>>,
    nn::DepthToSpace<2>,                                   // (8, 24, 24)
    nn::Named<"down", nn::Conv2d<4, 5, 2>>, nn::Sigmoid>;  // (4, 12, 12)
using VectorNet = nn::Seq<nn::Flatten, nn::PixelNorm, nn::Named<"dense1", nn::Dense<64>>,
                          nn::Named<"dense2", nn::Dense<8 * 6 * 6, false>>, nn::Reshape<8, 6, 6>,
                          nn::Named<"conv", nn::Conv2d<8, 3>>, nn::Identity>;
constexpr Shape image_in{8, 12, 12}, vector_in{4, 6, 6};
using AllLayers = nn::Model<nn::Part<"image", ImageNet, image_in>, nn::Part<"vector", VectorNet, vector_in>>;

struct Handles {
  gpu::Stream stream;
  gpu::Cudnn cudnn;
  gpu::CublasLt blas;
  nn_cuda::Context context() { return {stream, cudnn, blas}; }
};

// Sets the CPU model's gradients and the device's to the same random values
// (backward adds to them), then runs part `Part` forward and backward on both
// from the same random input and output gradient, and compares the output,
// the input gradient and every parameter's gradient.
struct Bounds {
  double output, input_gradient, parameter_gradient;
};

template <class M, nn::FixedString Part, Shape In>
void check_part(M& cpu_model, nn_cuda::DeviceModel<M>& device, Handles& h, std::uint64_t seed, Bounds bounds) {
  auto c = h.context();
  std::vector<float> start(std::size_t(M::buffer_size));
  graft::testing::fill_uniform(start, seed + 2, -0.1f, 0.1f);
  std::copy(start.begin(), start.end(), cpu_model.gradient_buffer().begin());
  nn_cuda::DeviceModel<M>::to_device_layout(start.data());
  // On the model's stream, after its own zeroing of the gradients.
  gpu::check(cudaMemcpyAsync(device.gradients(), start.data(), start.size() * sizeof(float), cudaMemcpyHostToDevice, c.stream),
             "cudaMemcpyAsync");
  gpu::check(cudaStreamSynchronize(c.stream), "cudaStreamSynchronize");

  constexpr std::int64_t batch = 4;
  graft::Tensor x(graft::batched(batch, In));
  graft::testing::fill_uniform(x.span(), seed, -1.0f, 1.0f);
  round_to_bf16(x.span());
  auto cpu_part = cpu_model.template part<Part>();
  auto out = cpu_part.forward(x.view());
  graft::Tensor dy(out.value.shape());
  graft::testing::fill_uniform(dy.span(), seed + 1, -1.0f, 1.0f);
  round_to_bf16(dy.span());
  const graft::Tensor dx = cpu_part.backward(out, dy.view());

  auto gpu_part = device.template part<Part>();
  // Poisons the block the next allocation of this shape gets: the allocator
  // hands out the block of that size and stream freed last.
  const auto poison_next = [&](const Shape& shape) {
    nn_cuda::DeviceTensor poison(c, shape);
    gpu::check(cudaMemsetAsync(poison.buffer.data(), 0xFF, poison.buffer.bytes(), c.stream), "cudaMemsetAsync (poison)");
  };
  const auto x_d = to_device_image(c, x);
  const auto dy_d = to_device_image(c, dy);
  poison_next(out.value.shape());
  auto out_d = gpu_part.forward(c, x_d.view());  // its output first
  poison_next(x.shape());
  const auto dx_d = gpu_part.backward(c, out_d, dy_d.view());  // dx first
  const std::vector<float> y_gpu = to_host_image(c, out_d.view()), dx_gpu = to_host_image(c, dx_d.view());
  const std::vector<float> y_cpu(out.value.span().begin(), out.value.span().end()), dx_cpu(dx.span().begin(), dx.span().end());
  const auto g_gpu = nn_cuda::DeviceModel<M>::canonical(device.gradient_buffer());
  const std::vector<float> g_cpu(cpu_model.gradient_buffer().begin(), cpu_model.gradient_buffer().end());
  CHECK(relative_l2(y_gpu, y_cpu) < bounds.output);
  CHECK(relative_l2(dx_gpu, dx_cpu) < bounds.input_gradient);
  for (const auto& p : M::parameters) {
    INFO(std::string(p.name.view()));
    const auto begin = std::size_t(p.offset), end = begin + std::size_t(p.shape.numel());
    CHECK(relative_l2(g_gpu, g_cpu, begin, end) < bounds.parameter_gradient);
  }
}

// One layer alone: bf16 inputs, outputs and weight copies (8 significant
// bits, 0.2% rms rounding each) with f32 accumulation stay within 1%.
template <class Layer, Shape In>
void check_layer(std::uint64_t seed) {
  using M = nn::Model<nn::Part<"layer", Layer, In>>;
  Handles h;
  auto cpu_model = std::make_unique<M>(seed);
  graft::testing::fill_uniform(cpu_model->parameter_buffer(), seed + 5, -0.3f, 0.3f);  // biases too: not zeros
  round_to_bf16(cpu_model->parameter_buffer());
  nn_cuda::DeviceModel<M> device(*cpu_model, h.stream);
  M back(0);
  device.download(back);  // the layout conversion loses nothing
  CHECK(std::equal(back.parameter_buffer().begin(), back.parameter_buffer().end(), cpu_model->parameter_buffer().begin()));
  check_part<M, "layer", In>(*cpu_model, device, h, seed + 10, {1e-2, 1e-2, 1e-2});
}

}  // namespace

TEST_CASE("Each layer on the GPU matches the CPU within bf16 rounding: output, input gradient, parameter gradients") {
  SUBCASE("Conv2d 3x3") { check_layer<nn::Conv2d<16, 3>, Shape{8, 12, 12}>(100); }
  SUBCASE("Conv2d + LeakyReLU, fused") { check_layer<nn::Seq<nn::Conv2d<16, 3>, nn::LeakyReLU<0.1f>>, Shape{8, 12, 12}>(110); }
  SUBCASE("Conv2d 5x5 stride 2 on 3 channels (the encoder's first)") { check_layer<nn::Conv2d<64, 5, 2>, Shape{3, 16, 16}>(120); }
  SUBCASE("Conv2d 1x1 to 3 channels (the decoder's rgb)") { check_layer<nn::Conv2d<3, 1>, Shape{16, 12, 12}>(130); }
  SUBCASE("Conv2d 1x1 to 1 channel (the decoder's mask)") { check_layer<nn::Conv2d<1, 1>, Shape{16, 12, 12}>(140); }
  SUBCASE("Dense") { check_layer<nn::Dense<32>, Shape{64}>(150); }
  SUBCASE("Dense without bias") { check_layer<nn::Dense<48, false>, Shape{64}>(160); }
  SUBCASE("LeakyReLU") { check_layer<nn::LeakyReLU<0.2f>, Shape{8, 6, 6}>(170); }
  SUBCASE("Sigmoid") { check_layer<nn::Sigmoid, Shape{8, 6, 6}>(180); }
  SUBCASE("DepthToSpace, 16-byte runs") { check_layer<nn::DepthToSpace<2>, Shape{32, 6, 6}>(190); }
  SUBCASE("DepthToSpace, single values") { check_layer<nn::DepthToSpace<2>, Shape{12, 6, 6}>(200); }
  SUBCASE("PixelNorm on a vector") { check_layer<nn::PixelNorm, Shape{64}>(210); }
  SUBCASE("PixelNorm on an image") { check_layer<nn::PixelNorm, Shape{4, 6, 6}>(220); }
  SUBCASE("Flatten") { check_layer<nn::Flatten, Shape{4, 6, 6}>(230); }
  SUBCASE("Reshape vector to image") { check_layer<nn::Reshape<4, 6, 6>, Shape{144}>(240); }
  SUBCASE("Reshape image to image") { check_layer<nn::Reshape<16, 3, 3>, Shape{4, 6, 6}>(250); }
  SUBCASE("Identity") { check_layer<nn::Identity, Shape{4, 6, 6}>(260); }
  SUBCASE("Residual block") {
    check_layer<nn::Residual<nn::Seq<nn::Conv2d<8, 3>, nn::LeakyReLU<0.2f>, nn::Conv2d<8, 3>>, nn::LeakyReLU<0.2f>>,
                Shape{8, 6, 6}>(270);
  }
  SUBCASE("Residual block without a post activation") {
    check_layer<nn::Residual<nn::Seq<nn::Conv2d<8, 3>, nn::LeakyReLU<0.2f>, nn::Conv2d<8, 3>>>, Shape{8, 6, 6}>(275);
  }
  SUBCASE("Upscale (conv + LeakyReLU + depth-to-space), as SAEHD's") {
    check_layer<nn::Seq<nn::Conv2d<32, 3>, nn::LeakyReLU<0.1f>, nn::DepthToSpace<2>>, Shape{16, 6, 6}>(277);
  }
  SUBCASE("Upscale with runs of 6 channels (DepthToSpace's backward not folded)") {
    check_layer<nn::Seq<nn::Conv2d<24, 3>, nn::LeakyReLU<0.1f>, nn::DepthToSpace<2>>, Shape{16, 6, 6}>(278);
  }
  SUBCASE("Upscale after another layer (its input gradient passed on)") {
    // After Identity, whose output is the same bf16 values on both sides.
    // After a convolution instead, the upscale's LeakyReLU sees inputs rounded
    // to bf16 on the GPU only: ~0.2% of its outputs change sign, each moving
    // its gradient by 0.9 dy, ~4% relative L2 (H200, 2026-11-27).
    check_layer<nn::Seq<nn::Identity, nn::Conv2d<32, 3>, nn::LeakyReLU<0.1f>, nn::DepthToSpace<2>>, Shape{16, 6, 6}>(279);
  }
  SUBCASE("ConcatBranches") {
    check_layer<nn::ConcatBranches<nn::Conv2d<8, 1>, nn::Seq<nn::Conv2d<24, 3>, nn::LeakyReLU<0.1f>>>, Shape{8, 6, 6}>(280);
  }
}

TEST_CASE("A model of every layer kind on the GPU matches the CPU") {
  Handles h;
  auto cpu_model = std::make_unique<AllLayers>(7);
  graft::testing::fill_uniform(cpu_model->parameter_buffer(), 8, -0.3f, 0.3f);
  round_to_bf16(cpu_model->parameter_buffer());
  nn_cuda::DeviceModel<AllLayers> device(*cpu_model, h.stream);
  // Rounding errors of bf16 activations compound through the layers, most
  // where a saturated sigmoid's s (1 - s) is taken from a rounded s: stated
  // bounds from the first measurement on an H200 (2026-11-27), with margin.
  SUBCASE("image part") { check_part<AllLayers, "image", image_in>(*cpu_model, device, h, 20, {2e-2, 0.15, 0.15}); }
  SUBCASE("vector part") { check_part<AllLayers, "vector", vector_in>(*cpu_model, device, h, 30, {2e-2, 3e-2, 3e-2}); }
}

namespace {

constexpr faceswap::Options tiny{.resolution = 32, .ae_dims = 32, .e_dims = 8, .d_dims = 8, .d_mask_dims = 8};
constexpr faceswap::Options tiny_ud{
    .resolution = 32, .ae_dims = 32, .e_dims = 8, .d_dims = 8, .d_mask_dims = 8, .u = true, .d = true};
using TinyDf = faceswap::DF<tiny>::Model;
constexpr std::int64_t per_side = 4;

// Where part `part` of a model's flat buffers begins and ends.
template <class M>
std::size_t part_begin(std::size_t part) {
  return std::size_t(M::part_offsets[part]);
}
template <class M>
std::size_t part_end(std::size_t part, std::size_t size) {
  return part + 1 < M::part_offsets.size() ? std::size_t(M::part_offsets[part + 1]) : size;
}

// A heap copy of a host model's parameters (the models are too large for the stack).
template <class M>
struct HostModelCopy {
  std::unique_ptr<M> model;
  explicit HostModelCopy(const M& from) : model(std::make_unique<M>(0)) {
    std::ranges::copy(from.parameter_buffer(), model->parameter_buffer().begin());
  }
  M* operator->() { return model.get(); }
  M& operator*() { return *model; }
};

// A random batch in the device step's layout, and the CPU step's views of it.
struct TinyBatch {
  faceswap::cuda::BatchLayout layout;
  std::vector<float> data;
  explicit TinyBatch(std::uint64_t seed, bool eyes_mouth = false, std::int64_t resolution = tiny.resolution)
      : layout{per_side, resolution, eyes_mouth}, data(std::size_t(layout.floats())) {
    graft::testing::fill_uniform(std::span(data).first(std::size_t(layout.mask())), seed, 0.0f, 1.0f);
    round_to_bf16(std::span(data).first(std::size_t(layout.target())));  // the encoder's input, as the GPU reads it
    graft::testing::fill_uniform(std::span(data).subspan(std::size_t(layout.mask())), seed + 1, 0.0f, 1.0f);
  }
  faceswap::SideBatch side(int s) const {
    const std::int64_t R = layout.resolution, images = per_side * 3 * R * R, masks = per_side * R * R;
    const Shape image{per_side, 3, R, R}, mask{per_side, 1, R, R};
    faceswap::SideBatch b{{data.data() + layout.warped() + s * images, image},
                          {data.data() + layout.target() + s * images, image},
                          {data.data() + layout.mask() + s * masks, mask},
                          {data.data() + layout.loss_mask() + s * masks, mask}};
    if (layout.with_eyes_mouth) b.eyes_mouth = {data.data() + layout.eyes_mouth() + s * masks, mask};
    return b;
  }
};

}  // namespace

// How far the CPU step's gradients move, part by part (relative L2, the
// largest of two draws), when every parameter moves by a random relative
// half bf16 ulp (2^-9): the model's own sensitivity to bf16 rounding, which
// the GPU's bf16 activations meet too. Eyes-and-mouth priority (a weight of
// 300 on an L1 term) makes it larger: df's encoder 13.5% with it, 4.2%
// without; liae-ud's three inner parts 10-11% (measured on the CPU,
// 2026-11-27).
template <class CpuStep>
std::vector<double> bf16_sensitivity(const typename CpuStep::Model& host, const std::vector<float>& g0, const TinyBatch& batch) {
  using M = typename CpuStep::Model;
  HostModelCopy<M> perturbed(host);
  std::vector<double> worst(M::part_offsets.size(), 0.0);
  std::vector<float> draw(g0.size());
  for (std::uint64_t trial = 0; trial < 2; ++trial) {
    graft::testing::fill_uniform(std::span(draw), 500 + trial, -1.0f, 1.0f);
    for (std::size_t i = 0; i < draw.size(); ++i)
      perturbed->parameter_buffer()[i] = host.parameter_buffer()[i] * (1.0f + draw[i] * 0x1p-9f);
    perturbed->zero_gradients();
    CpuStep{}.forward_backward(*perturbed, batch.side(0), batch.side(1));
    const std::vector<float> g(perturbed->gradient_buffer().begin(), perturbed->gradient_buffer().end());
    for (std::size_t part = 0; part < worst.size(); ++part)
      worst[part] = std::max(worst[part], relative_l2(g, g0, part_begin<M>(part), part_end<M>(part, g0.size())));
  }
  return worst;
}

// One step on each backend from the same parameters: the device step's
// batch losses within 1% of the CPU step's (bf16 activations), and each
// part's gradients within bound[part] (relative L2; why these bounds: the df
// test), or within 2.5 times the CPU model's own bf16 sensitivity where that
// is larger (on an H200 df's GPU gradients were 1.5 times it), never above
// 0.4: a dropped gradient half or a wrong code routing is 0.5 to 1.
template <class CpuStep, class DeviceStep>
void check_step_against_cpu(typename CpuStep::Model& host, DeviceStep& device, const TinyBatch& batch, const float* inputs,
                            const std::array<double, 4>& bound, cudaStream_t stream) {
  using M = typename CpuStep::Model;
  host.zero_gradients();
  const auto cpu_losses = CpuStep{}.forward_backward(host, batch.side(0), batch.side(1));
  device.enqueue(inputs);
  const auto gpu_losses = device.losses().means(stream);
  MESSAGE("losses src ", cpu_losses.src, " (CPU) ", gpu_losses[0], " (GPU), dst ", cpu_losses.dst, " ", gpu_losses[1]);
  CHECK(gpu_losses[0] == doctest::Approx(cpu_losses.src).epsilon(1e-2).scale(0));
  CHECK(gpu_losses[1] == doctest::Approx(cpu_losses.dst).epsilon(1e-2).scale(0));
  const auto g_gpu = nn_cuda::DeviceModel<M>::canonical(device.model().gradient_buffer());
  const std::vector<float> g_cpu(host.gradient_buffer().begin(), host.gradient_buffer().end());
  const std::vector<double> sensitivity = bf16_sensitivity<CpuStep>(host, g_cpu, batch);
  for (std::size_t part = 0; part < M::part_offsets.size(); ++part) {
    const double error = relative_l2(g_gpu, g_cpu, part_begin<M>(part), part_end<M>(part, g_cpu.size()));
    const double allowed = std::min(0.4, std::max(bound[part], 2.5 * sensitivity[part]));
    MESSAGE("part ", part, ": gradient relative L2 ", error, " (the CPU's bf16 sensitivity ", sensitivity[part], ", allowed ",
            allowed, ")");
    CHECK(error < allowed);
  }
}

// `captured` (a fresh step of the same model) runs one plain step, the
// capture and two replays; `plain` (one step in already) three more plain
// steps: the same parameters. cuDNN may order its weight-gradient sums
// differently from run to run: close, not bit-equal. Then 100 replays on the
// one batch lower both losses by a fifth at least.
template <class DeviceStep>
void check_capture_and_learning(DeviceStep& plain, DeviceStep& captured, const float* inputs, cudaStream_t stream) {
  using Device = typename DeviceStep::Device;
  captured.enqueue(inputs);
  captured.capture(inputs);  // one more plain step, then the capture
  for (int i = 0; i < 2; ++i) captured.replay();
  for (int i = 0; i < 3; ++i) plain.enqueue(inputs);
  gpu::check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
  CHECK(captured.steps() == 4);
  CHECK(plain.steps() == 4);
  const auto p_plain = Device::canonical(plain.model().parameter_buffer());
  const auto p_captured = Device::canonical(captured.model().parameter_buffer());
  CHECK(relative_l2(p_captured, p_plain) < 1e-4);
  const auto before = captured.losses().means(stream);
  for (int i = 0; i < 100; ++i) captured.replay();
  const auto after = captured.losses().means(stream);
  MESSAGE("loss src ", before[0], " -> ", after[0], ", dst ", before[1], " -> ", after[1], " in 100 captured steps");
  CHECK(after[0] < 0.8 * before[0]);
  CHECK(after[1] < 0.8 * before[1]);
}

// Previews on the GPU against the CPU's, from bf16-rounded copies of the
// batch's targets: sigmoid outputs after the whole model in bf16, within 2%,
// and each three times closer to its own CPU preview than to the other two
// (a src, dst and swap mix-up). The host's parameters went through
// spread_outputs, or all previews would be alike.
template <class CpuStep, class DeviceStep>
void check_predictions(typename CpuStep::Model& host, DeviceStep& device, const TinyBatch& batch) {
  graft::Tensor src_faces = graft::Tensor::copy_of(batch.side(0).target), dst_faces = graft::Tensor::copy_of(batch.side(1).target);
  round_to_bf16(src_faces.span());
  round_to_bf16(dst_faces.span());
  const faceswap::Predictions gpu_out = device.predict(src_faces.view(), dst_faces.view());
  const faceswap::Predictions cpu_out = CpuStep{}.predict(host, src_faces.view(), dst_faces.view());
  const auto as_vector = [](const graft::Tensor& t) { return std::vector<float>(t.span().begin(), t.span().end()); };
  REQUIRE(gpu_out.src.shape() == cpu_out.src.shape());
  const std::array<std::vector<float>, 3> gpu{as_vector(gpu_out.src), as_vector(gpu_out.dst), as_vector(gpu_out.swap)};
  const std::array<std::vector<float>, 3> cpu{as_vector(cpu_out.src), as_vector(cpu_out.dst), as_vector(cpu_out.swap)};
  const char* names[] = {"src", "dst", "swap"};
  for (std::size_t k = 0; k < 3; ++k) {
    INFO("preview ", names[k]);
    const double error = relative_l2(gpu[k], cpu[k]);
    MESSAGE("preview ", names[k], " on the GPU against the CPU's: ", error);
    CHECK(error < 2e-2);
    for (std::size_t j = 0; j < 3; ++j)
      if (j != k) CHECK(relative_l2(gpu[k], cpu[j]) > 3 * error);
  }
}

TEST_CASE("SAEHD df on the GPU: losses and gradients match the CPU step; the captured step matches the plain one; it learns") {
  const gpu::Stream stream;
  auto host = std::make_unique<TinyDf>(3);
  round_to_bf16(host->parameter_buffer());
  const TinyBatch batch(40);
  gpu::DeviceBuffer<float> inputs(batch.data.size(), stream);
  inputs.copy_from_host(batch.data.data());

  faceswap::cuda::DfDeviceStep<tiny, graft::optim::Adam> plain(*host, {.lr = 1e-3f}, per_side, 1e-3f, stream);
  // Every layer alone is within 1% (above). Through a whole model the bf16
  // roundings of the activations compound, and where a rounded
  // pre-activation lands on the other side of a LeakyReLU than the f32 one
  // its gradient differs by (1 - slope) dy: the decoders (next to the loss)
  // stay within 5%, the encoder and inter (behind 15 layers) measured 10.6%
  // to 12.4% on an H200 (2026-11-27). The CPU model alone is this sensitive:
  // perturbing its parameters by a random relative half bf16 ulp (2^-9)
  // moves its encoder and inter gradients by 6.9% and 8.0%, its decoders' by
  // 1.1-1.5%, with the losses unchanged to 1e-6 (measured on the CPU,
  // 2026-11-27). A wrong layout or a dropped term gives errors of order 1.
  check_step_against_cpu<faceswap::DfStep<tiny>>(*host, plain, batch, inputs.data(), {0.2, 0.2, 5e-2, 5e-2}, stream);

  faceswap::cuda::DfDeviceStep<tiny, graft::optim::Adam> captured(*host, {.lr = 1e-3f}, per_side, 1e-3f, stream);
  check_capture_and_learning(plain, captured, inputs.data(), stream);
}

// One step of `DeviceStep` with eyes-and-mouth priority against `CpuStep`.
template <template <faceswap::Options, class> class DeviceStep, class CpuStep, faceswap::Options O>
void check_eyes_mouth_step(std::uint64_t seed, const std::array<double, 4>& bound) {
  const gpu::Stream stream;
  auto host = std::make_unique<typename CpuStep::Model>(seed);
  round_to_bf16(host->parameter_buffer());
  TinyBatch batch(seed + 74, /*eyes_mouth=*/true);
  // Targets of 0 and 1 only: the L1 term's gradient is the sign of P - T, and
  // with targets inside (0, 1) the GPU's bf16 outputs would land on the other
  // side of some of them than the CPU's (each flip moves that gradient by
  // 2 |g|, ~5% relative L2 from output rounding alone). Sigmoid outputs stay
  // inside (0, 1): no flips.
  for (std::int64_t i = batch.layout.target(); i < batch.layout.mask(); ++i)
    batch.data[std::size_t(i)] = batch.data[std::size_t(i)] > 0.5f ? 1.0f : 0.0f;
  gpu::DeviceBuffer<float> inputs(batch.data.size(), stream);
  inputs.copy_from_host(batch.data.data());
  DeviceStep<O, graft::optim::Adam> step(*host, {.lr = 1e-3f}, per_side, 1e-3f, stream, {}, true);
  REQUIRE(step.layout().floats() == batch.layout.floats());
  check_step_against_cpu<CpuStep>(*host, step, batch, inputs.data(), bound, stream);
}

TEST_CASE("SAEHD df, and liae-ud, on the GPU with eyes-and-mouth priority: losses and gradients match the CPU step") {
  SUBCASE("df") { check_eyes_mouth_step<faceswap::cuda::DfDeviceStep, faceswap::DfStep<tiny>, tiny>(6, {0.2, 0.2, 5e-2, 5e-2}); }
  // DeepFaceLab's usual liae: PixelNorm'd encoder, the -d decoder's depth-to-space head.
  SUBCASE("liae-ud") {
    check_eyes_mouth_step<faceswap::cuda::LiaeDeviceStep, faceswap::LiaeStep<tiny_ud>, tiny_ud>(13, {0.2, 0.2, 0.2, 5e-2});
  }
}

// The fused loss kernels (one per direction) against the separate ones in
// one step of `Step` from the same parameters, then captured: it learns.
template <template <faceswap::Options, class> class Step, faceswap::Options O>
void check_fused_loss_step(std::uint64_t seed) {
  using Model = typename Step<O, graft::optim::Adam>::Model;
  const gpu::Stream stream;
  auto host = std::make_unique<Model>(seed);
  round_to_bf16(host->parameter_buffer());
  const TinyBatch batch(seed + 41, false, O.resolution);
  gpu::DeviceBuffer<float> inputs(batch.data.size(), stream);
  inputs.copy_from_host(batch.data.data());
  Step<O, graft::optim::Adam> separate(*host, {.lr = 1e-3f}, per_side, 1e-3f, stream);
  Step<O, graft::optim::Adam> fused(*host, {.lr = 1e-3f}, per_side, 1e-3f, stream);
  fused.use_fused_loss(true);
  separate.enqueue(inputs.data());
  fused.enqueue(inputs.data());
  const auto a = separate.losses().means(stream), b = fused.losses().means(stream);
  CHECK(b[0] == doctest::Approx(a[0]).epsilon(1e-6).scale(0));
  CHECK(b[1] == doctest::Approx(a[1]).epsilon(1e-6).scale(0));
  const auto g_separate = nn_cuda::DeviceModel<Model>::canonical(separate.model().gradient_buffer());
  const auto g_fused = nn_cuda::DeviceModel<Model>::canonical(fused.model().gradient_buffer());
  // Part by part (the decoders hold nearly all of the whole buffer's norm).
  // The two sum the loss gradient's f32 terms in different orders, so now
  // and then an element of dy rounds to the neighbouring bf16 value, and the
  // difference grows through the bf16 layers behind it (to 1e-3 or 2e-3
  // after 5 to 10 layers in a CPU simulation); a wrong index is of order 1.
  for (std::size_t part = 0; part < Model::part_offsets.size(); ++part) {
    const double error = relative_l2(g_fused, g_separate, part_begin<Model>(part), part_end<Model>(part, g_separate.size()));
    MESSAGE("part ", part, ": fused against separate loss kernels, gradient relative L2 ", error);
    CHECK(error < 1e-2);
  }
  fused.capture(inputs.data());
  for (int i = 0; i < 20; ++i) fused.replay();
  const auto after = fused.losses().means(stream);
  CHECK(after[0] < b[0]);
  CHECK(after[1] < b[1]);
}

TEST_CASE("SAEHD df and liae on the GPU: the fused loss kernels give the step the separate kernels give, also captured") {
  SUBCASE("df") { check_fused_loss_step<faceswap::cuda::DfDeviceStep, tiny>(4); }
  SUBCASE("liae") { check_fused_loss_step<faceswap::cuda::LiaeDeviceStep, tiny>(12); }
}

// From resolution 256 DeepFaceLab splits the DSSIM weight over two windows
// (5 + 5; 22 and 11 taps at 256): the device step's second DSSIM call (and
// the fused kernels' second window, without MSE) against the CPU step.
constexpr faceswap::Options tiny_256{.resolution = 256, .ae_dims = 32, .e_dims = 8, .d_dims = 8, .d_mask_dims = 8};

TEST_CASE("SAEHD df at 256 on the GPU (DSSIM over two windows): losses and gradients match the CPU step; the fused loss's too") {
  const gpu::Stream stream;
  auto host = std::make_unique<faceswap::DF<tiny_256>::Model>(14);
  round_to_bf16(host->parameter_buffer());
  const TinyBatch batch(80, false, tiny_256.resolution);
  gpu::DeviceBuffer<float> inputs(batch.data.size(), stream);
  inputs.copy_from_host(batch.data.data());
  faceswap::cuda::DfDeviceStep<tiny_256, graft::optim::Adam> step(*host, {.lr = 1e-3f}, per_side, 1e-3f, stream);
  REQUIRE(step.layout().floats() == batch.layout.floats());
  // The df test's bounds and reasons.
  check_step_against_cpu<faceswap::DfStep<tiny_256>>(*host, step, batch, inputs.data(), {0.2, 0.2, 5e-2, 5e-2}, stream);
  check_fused_loss_step<faceswap::cuda::DfDeviceStep, tiny_256>(15);
}

// `faceswap swap --backend cuda`'s model: the swap path alone on the GPU
// against the CPU step's, from bf16-rounded faces (as check_predictions),
// with spread_outputs' parameters: bf16 rounding of the CPU's outputs alone
// is 0.008 (df) and 0.003 (liae-ud) of their spread around 0.5, the dst
// reconstruction 1.9 and 0.56 away (measured on the CPU, 2026-11-28).
template <class CpuStep, class Architecture>
void check_swap_on_device(std::uint64_t seed) {
  auto host = std::make_unique<typename CpuStep::Model>(seed);
  spread_outputs(host->parameter_buffer());
  const TinyBatch batch(seed + 30);
  graft::Tensor faces = graft::Tensor::copy_of(batch.side(1).target);
  round_to_bf16(faces.span());
  faceswap::cuda::DeviceSwapper<Architecture> gpu(*host, 0);
  const graft::Tensor drawn = gpu.draw(faces.view()), expected = CpuStep{}.swap(*host, faces.view());
  // A wrong routing, for contrast: the dst reconstruction (df: decoder_dst; liae: [B, AB]).
  const graft::Tensor wrong = CpuStep{}.predict(*host, faces.view(), faces.view()).dst;
  REQUIRE(drawn.shape() == expected.shape());
  // Around the sigmoid's 0.5.
  const auto centred = [](const graft::Tensor& t) {
    std::vector<float> v(t.span().begin(), t.span().end());
    for (float& x : v) x -= 0.5f;
    return v;
  };
  const double error = relative_l2(centred(drawn), centred(expected)), routing = relative_l2(centred(drawn), centred(wrong));
  MESSAGE("swap on the GPU against the CPU's: ", error, " (relative L2 around 0.5); against the dst reconstruction: ", routing);
  CHECK(error < 0.1);
  CHECK(routing > 3 * error);
}

TEST_CASE("faceswap swap's GPU model (df, liae-ud) draws the CPU step's swap") {
  SUBCASE("df") { check_swap_on_device<faceswap::DfStep<tiny>, faceswap::cuda::DfOnDevice<tiny>>(21); }
  SUBCASE("liae-ud") { check_swap_on_device<faceswap::LiaeStep<tiny_ud>, faceswap::cuda::LiaeOnDevice<tiny_ud>>(22); }
}

TEST_CASE("SAEHD df on the GPU: download to the host objects and upload into a new step continues the run exactly") {
  const gpu::Stream stream;
  auto host = std::make_unique<TinyDf>(5);
  const TinyBatch batch(50);
  gpu::DeviceBuffer<float> inputs(batch.data.size(), stream);
  inputs.copy_from_host(batch.data.data());
  graft::optim::AdaBelief::Config config{.lr = 1e-3f};
  faceswap::cuda::DfDeviceStep<tiny, graft::optim::AdaBelief> first(*host, config, per_side, 1e-3f, stream);
  for (int i = 0; i < 3; ++i) first.enqueue(inputs.data());
  // What a checkpoint holds: the parameters and the optimizer's slots and step count, in the CPU's layout.
  auto saved = std::make_unique<TinyDf>(0);
  graft::optim::AdaBelief optimizer(config);
  first.download(*saved, optimizer);
  CHECK(optimizer.steps() == 3);
  faceswap::cuda::DfDeviceStep<tiny, graft::optim::AdaBelief> resumed(*saved, config, per_side, 1e-3f, stream);
  resumed.upload(optimizer);
  CHECK(resumed.steps() == 3);
  first.enqueue(inputs.data());
  resumed.enqueue(inputs.data());
  const auto a = nn_cuda::DeviceModel<TinyDf>::canonical(first.model().parameter_buffer());
  const auto b = nn_cuda::DeviceModel<TinyDf>::canonical(resumed.model().parameter_buffer());
  // The same engines (one process, same shapes) and the same state: the same step, to cuDNN's summation order.
  CHECK(relative_l2(b, a) < 1e-4);
}

TEST_CASE("SAEHD df on the GPU: previews (src, dst and the swap) match the CPU's predictions") {
  const gpu::Stream stream;
  auto host = std::make_unique<TinyDf>(9);
  spread_outputs(host->parameter_buffer());
  const TinyBatch batch(60);
  faceswap::cuda::DfDeviceStep<tiny, graft::optim::Adam> device(*host, {.lr = 1e-3f}, per_side, 1e-3f, stream);
  check_predictions<faceswap::DfStep<tiny>>(*host, device, batch);
}

TEST_CASE("SAEHD liae on the GPU: losses, gradients and previews match the CPU step; the captured step matches the plain one") {
  using TinyLiae = faceswap::LIAE<tiny>::Model;
  const gpu::Stream stream;
  auto host = std::make_unique<TinyLiae>(11);
  round_to_bf16(host->parameter_buffer());
  const TinyBatch batch(70);
  gpu::DeviceBuffer<float> inputs(batch.data.size(), stream);
  inputs.copy_from_host(batch.data.data());

  faceswap::cuda::LiaeDeviceStep<tiny, graft::optim::Adam> plain(*host, {.lr = 1e-3f}, per_side, 1e-3f, stream);
  // The df step's bounds and reasons (above): the decoder is next to the
  // loss. A wrong code concatenation or a dropped gradient half gives errors of order 1.
  check_step_against_cpu<faceswap::LiaeStep<tiny>>(*host, plain, batch, inputs.data(), {0.2, 0.2, 0.2, 5e-2}, stream);

  faceswap::cuda::LiaeDeviceStep<tiny, graft::optim::Adam> captured(*host, {.lr = 1e-3f}, per_side, 1e-3f, stream);
  check_capture_and_learning(plain, captured, inputs.data(), stream);

  // Previews: src [AB, AB], dst [B, AB], swap [AB(dst), AB(dst)].
  spread_outputs(host->parameter_buffer());
  faceswap::cuda::LiaeDeviceStep<tiny, graft::optim::Adam> fresh(*host, {.lr = 1e-3f}, per_side, 1e-3f, stream);
  check_predictions<faceswap::LiaeStep<tiny>>(*host, fresh, batch);
}
