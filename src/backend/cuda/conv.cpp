#include "graft/backend/cuda/conv.hpp"

#include <cudnn.h>
#include <cudnn_frontend.h>

#include <dlfcn.h>

#include <bit>
#include <cmath>
#include <map>
#include <mutex>
#include <tuple>

#include "graft/backend/cuda/check.hpp"
#include "graft/backend/cuda/elementwise.hpp"
#include "graft/backend/cuda/memory.hpp"
#include "graft/backend/cuda/stream.hpp"

// cudnn-frontend built with NV_CUDNN_FRONTEND_USE_DYNAMIC_LOADING finds cuDNN
// through this handle, which its user opens (see load_cudnn).
namespace cudnn_frontend {
void* cudnn_dlhandle = nullptr;
}

namespace graft::cuda {
namespace {

namespace fe = cudnn_frontend;

void load_cudnn() {
  static std::once_flag once;
  std::call_once(once, [] {
    for (const char* name : {"libcudnn.so.9", "libcudnn.so"})
      if ((fe::cudnn_dlhandle = ::dlopen(name, RTLD_NOW | RTLD_GLOBAL))) return;
  });
  if (!fe::cudnn_dlhandle) {
    const char* why = ::dlerror();
    graft::fail("cuDNN: cannot load libcudnn.so.9 (", why ? why : "not found", "); put cuDNN 9 on the library path");
  }
}
using TensorPtr = std::shared_ptr<fe::graph::Tensor_attributes>;

void check_cudnn(cudnnStatus_t status, const char* call, std::source_location at = std::source_location::current()) {
  if (status != CUDNN_STATUS_SUCCESS) fail(call, ": ", cudnnGetErrorString(status), " at ", where(at));
}

void check_frontend(fe::error_t status, const std::string& what, const Conv2dGeometry& g) {
  if (status.is_good()) return;
  fail("cuDNN ", what, " for the convolution N ", g.batch, ", C ", g.in_channels, ", ", g.in_h, "x", g.in_w, " -> K ",
       g.out_channels, ", kernel ", g.kernel, ", stride ", g.stride, ", padding ", g.padding, ": ", status.get_message());
}

// NHWC activations and KRSC weights, given to cuDNN as (N, C, H, W) dims with channels-last strides.
TensorPtr activation(fe::graph::Graph& graph, const char* name, std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w) {
  return graph.tensor(fe::graph::Tensor_attributes().set_name(name).set_dim({n, c, h, w}).set_stride({h * w * c, 1, w * c, c}));
}
TensorPtr weights(fe::graph::Graph& graph, const Conv2dGeometry& g) {
  const std::int64_t k = g.out_channels, c = g.in_channels, r = g.kernel;
  return graph.tensor(fe::graph::Tensor_attributes().set_name("w").set_dim({k, c, r, r}).set_stride({c * r * r, 1, r * c, c}));
}

enum class Kind { forward, backward_data, backward_weights };

struct Plan {
  std::shared_ptr<fe::graph::Graph> graph;
  TensorPtr a, b, bias, residual, out;  // the operands in the order of the call
  std::int64_t workspace = 0;
  bool bf16_weight_gradient = false;  // dw written in bf16 and converted after
  bool tuned = false;
  // The weight gradient's other output type (bf16 when this one is fp32),
  // timed against this one when the plan is tuned; the faster one stays.
  std::unique_ptr<Plan> alternative;
};

// Engines that want more scratch memory than this are left out.
constexpr std::int64_t max_workspace = std::int64_t{512} << 20;

bool capturing(cudaStream_t stream) {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  check(cudaStreamIsCapturing(stream, &status), "cudaStreamIsCapturing");
  return status != cudaStreamCaptureStatusNone;
}

}  // namespace

struct Cudnn::Impl {
  CudnnOptions options;
  cudnnHandle_t handle = nullptr;
  using Key = std::tuple<Kind, std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                         std::int64_t, bool, bool, std::uint32_t, bool>;
  std::map<Key, Plan> plans;
  DeviceBuffer<std::byte> workspace;
  mutable std::mutex mutex;

  Plan& plan(Kind kind, const Conv2dGeometry& g, bool bias, std::optional<float> slope, bool residual = false) {
    const Key key{kind,     g.batch,  g.in_channels,     g.in_h, g.in_w, g.out_channels, g.kernel, g.stride, g.padding,
                  bias,     slope.has_value(), slope ? std::bit_cast<std::uint32_t>(*slope) : 0u, residual};
    if (auto it = plans.find(key); it != plans.end()) return it->second;
    if (kind != Kind::backward_weights) return plans.emplace(key, build(kind, g, bias, slope, residual, false)).first->second;
    // The weight gradient in the preferred type (CudnnOptions), else in the
    // other; when tuning, both, and the first run keeps the faster.
    const bool prefer_bf16 = options.weight_gradient_in_bf16;
    std::optional<Plan> preferred, other;
    try {
      preferred = build(kind, g, bias, slope, false, prefer_bf16);
    } catch (const Error&) {
    }
    if (!preferred || options.tune_engines) {
      try {
        other = build(kind, g, bias, slope, false, !prefer_bf16);
      } catch (const Error&) {
        if (!preferred) throw;
      }
    }
    if (!preferred) return plans.emplace(key, std::move(*other)).first->second;
    if (other) preferred->alternative = std::make_unique<Plan>(std::move(*other));
    return plans.emplace(key, std::move(*preferred)).first->second;
  }

  Plan build(Kind kind, const Conv2dGeometry& g, bool bias, std::optional<float> slope, bool residual, bool bf16_weight_gradient) {
    try {
      return build(kind, g, bias, slope, residual, bf16_weight_gradient, false);
    } catch (const Error&) {
      return build(kind, g, bias, slope, residual, bf16_weight_gradient, true);
    }
  }

  Plan build(Kind kind, const Conv2dGeometry& g, bool bias, std::optional<float> slope, bool residual, bool bf16_weight_gradient,
             bool allow_reduced_precision) {
    Plan p;
    p.bf16_weight_gradient = bf16_weight_gradient;
    p.graph = std::make_shared<fe::graph::Graph>();
    auto& graph = *p.graph;
    graph.set_io_data_type(fe::DataType_t::BFLOAT16)
        .set_intermediate_data_type(fe::DataType_t::FLOAT)
        .set_compute_data_type(fe::DataType_t::FLOAT);
    const std::vector<std::int64_t> padding{g.padding, g.padding}, stride{g.stride, g.stride}, dilation{1, 1};
    const std::int64_t oh = g.out_h(), ow = g.out_w();
    switch (kind) {
      case Kind::forward: {
        p.a = activation(graph, "x", g.batch, g.in_channels, g.in_h, g.in_w);
        p.b = weights(graph, g);
        TensorPtr y = graph.conv_fprop(
            p.a, p.b, fe::graph::Conv_fprop_attributes().set_padding(padding).set_stride(stride).set_dilation(dilation));
        if (bias) {
          const std::int64_t k = g.out_channels;
          p.bias = graph.tensor(fe::graph::Tensor_attributes().set_name("bias").set_dim({1, k, 1, 1}).set_stride({k, 1, k, k}));
          y = graph.pointwise(y, p.bias, fe::graph::Pointwise_attributes().set_mode(fe::PointwiseMode_t::ADD));
        }
        if (residual) {
          p.residual = activation(graph, "residual", g.batch, g.out_channels, oh, ow);
          y = graph.pointwise(y, p.residual, fe::graph::Pointwise_attributes().set_mode(fe::PointwiseMode_t::ADD));
        }
        if (slope)
          y = graph.pointwise(
              y, fe::graph::Pointwise_attributes().set_mode(fe::PointwiseMode_t::RELU_FWD).set_relu_lower_clip_slope(*slope));
        y->set_output(true).set_data_type(fe::DataType_t::BFLOAT16);
        y->set_dim({g.batch, g.out_channels, oh, ow}).set_stride({oh * ow * g.out_channels, 1, ow * g.out_channels, g.out_channels});
        p.out = y;
        break;
      }
      case Kind::backward_data: {
        p.a = activation(graph, "dy", g.batch, g.out_channels, oh, ow);
        p.b = weights(graph, g);
        p.out = graph.conv_dgrad(
            p.a, p.b, fe::graph::Conv_dgrad_attributes().set_padding(padding).set_stride(stride).set_dilation(dilation));
        p.out->set_output(true).set_data_type(fe::DataType_t::BFLOAT16);
        p.out->set_dim({g.batch, g.in_channels, g.in_h, g.in_w})
            .set_stride({g.in_h * g.in_w * g.in_channels, 1, g.in_w * g.in_channels, g.in_channels});
        break;
      }
      case Kind::backward_weights: {
        p.a = activation(graph, "x", g.batch, g.in_channels, g.in_h, g.in_w);
        p.b = activation(graph, "dy", g.batch, g.out_channels, oh, ow);
        p.out = graph.conv_wgrad(
            p.b, p.a, fe::graph::Conv_wgrad_attributes().set_padding(padding).set_stride(stride).set_dilation(dilation));
        const std::int64_t k = g.out_channels, c = g.in_channels, r = g.kernel;
        p.out->set_output(true).set_data_type(bf16_weight_gradient ? fe::DataType_t::BFLOAT16 : fe::DataType_t::FLOAT);
        p.out->set_dim({k, c, r, r}).set_stride({c * r * r, 1, r * c, c});
        break;
      }
    }
    check_frontend(graph.validate(), "graph validation", g);
    check_frontend(graph.build_operation_graph(handle), "operation graph", g);
    graph.deselect_workspace_greater_than(max_workspace);
    // Engines that sum in reduced precision are left out unless nothing else
    // takes the graph (build() is then called again with them allowed).
    if (!allow_reduced_precision) graph.deselect_numeric_notes({fe::NumericalNote_t::REDUCED_PRECISION_REDUCTION});
    check_frontend(graph.create_execution_plans({fe::HeurMode_t::A, fe::HeurMode_t::FALLBACK}), "execution plans", g);
    check_frontend(graph.check_support(handle), "support (no engine takes this graph)", g);
    if (!options.tune_engines) {
      // cuDNN's heuristic choice: the first engine on its list that builds.
      check_frontend(graph.build_plans(handle), "plan build", g);
      check_frontend(graph.get_workspace_size(p.workspace), "workspace size", g);
      p.tuned = true;
      return p;
    }
    // The first few engines of the heuristic's list (building one can take
    // seconds: runtime-fused engines are compiled), timed by the first run.
    int built = 0;
    for (std::int64_t i = 0; i < graph.get_execution_plan_count() && built < options.tuned_engines; ++i)
      built += graph.build_plan_at_index(i).is_good();
    if (built == 0) check_frontend(graph.build_plans(handle), "plan build", g);
    return p;
  }

  // The workspace only grows, and the old block goes back to the cache: a
  // captured graph that used it must be re-captured after a new geometry
  // made it grow (run every geometry once before capturing, as a step's
  // warm-up does). One stream per handle.
  void reserve(std::int64_t bytes, cudaStream_t stream) {
    if (std::size_t(bytes) > workspace.size()) workspace = DeviceBuffer<std::byte>(std::size_t(bytes), stream);
  }

  // Times the engines the plan built on these operands and keeps the fastest
  // (cuDNN's heuristics pick a slow weight-gradient engine for some of
  // SAEHD's shapes). Synchronises: never inside a capture, which runs the
  // warmed-up plan as it is.
  void tune(Plan& p, std::unordered_map<TensorPtr, void*>& operands, const Conv2dGeometry& g, cudaStream_t stream) {
    if (p.tuned) return;
    graft::check(!capturing(stream), "cuda::Cudnn: a convolution ran for the first time inside a capture; run the step once before capturing it");
    check_cudnn(cudnnSetStream(handle, stream), "cudnnSetStream");
    reserve(p.graph->get_autotune_workspace_size(), stream);
    check_frontend(p.graph->autotune(handle, operands, workspace.data()), "autotuning", g);
    check_frontend(p.graph->get_workspace_size(p.workspace), "workspace size", g);
    p.tuned = true;
  }

  void run(Plan& p, std::unordered_map<TensorPtr, void*> operands, const Conv2dGeometry& g, cudaStream_t stream) {
    tune(p, operands, g, stream);
    check_cudnn(cudnnSetStream(handle, stream), "cudnnSetStream");
    reserve(p.workspace, stream);
    check_frontend(p.graph->execute(handle, operands, workspace.data()), "execution", g);
  }

  // dw (f32) from the plan, through a bf16 buffer when the plan writes bf16.
  void weight_gradient(Plan& p, const Conv2dGeometry& g, const bf16* x, const bf16* dy, float* dw, cudaStream_t stream) {
    if (!p.bf16_weight_gradient) {
      run(p, {{p.a, const_cast<bf16*>(x)}, {p.b, const_cast<bf16*>(dy)}, {p.out, dw}}, g, stream);
      return;
    }
    const std::int64_t count = g.out_channels * g.kernel * g.kernel * g.in_channels;
    DeviceBuffer<bf16> dw_bf16(std::size_t(count), stream);
    run(p, {{p.a, const_cast<bf16*>(x)}, {p.b, const_cast<bf16*>(dy)}, {p.out, dw_bf16.data()}}, g, stream);
    to_f32(dw_bf16.data(), dw, count, stream);
  }

  // Milliseconds of one weight gradient with plan p (tuned first), the best of three.
  float time_weight_gradient(Plan& p, const Conv2dGeometry& g, const bf16* x, const bf16* dy, float* dw, cudaStream_t stream) {
    weight_gradient(p, g, x, dy, dw, stream);  // tunes
    Event begin(true), end(true);
    float best = INFINITY;
    for (int i = 0; i < 3; ++i) {
      begin.record(stream);
      weight_gradient(p, g, x, dy, dw, stream);
      end.record(stream);
      end.synchronize();
      best = std::min(best, end.milliseconds_since(begin));
    }
    return best;
  }
};

Cudnn::Cudnn(CudnnOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = options;
  load_cudnn();
  check_cudnn(cudnnCreate(&impl_->handle), "cudnnCreate");
}

Cudnn::~Cudnn() {
  impl_->plans.clear();  // the plans were built with the handle: they go first
  impl_->workspace = {};
  if (impl_->handle) cudnnDestroy(impl_->handle);
}

void Cudnn::conv2d_forward(const Conv2dGeometry& g, const bf16* x, const bf16* w, const bf16* bias, bf16* y,
                           std::optional<float> leaky_slope, cudaStream_t stream, const bf16* residual) {
  std::lock_guard lock(impl_->mutex);
  Plan& p = impl_->plan(Kind::forward, g, bias != nullptr, leaky_slope, residual != nullptr);
  std::unordered_map<TensorPtr, void*> operands{{p.a, const_cast<bf16*>(x)}, {p.b, const_cast<bf16*>(w)}, {p.out, y}};
  if (bias) operands.emplace(p.bias, const_cast<bf16*>(bias));
  if (residual) operands.emplace(p.residual, const_cast<bf16*>(residual));
  impl_->run(p, std::move(operands), g, stream);
}

void Cudnn::conv2d_backward_data(const Conv2dGeometry& g, const bf16* dy, const bf16* w, bf16* dx, cudaStream_t stream) {
  std::lock_guard lock(impl_->mutex);
  Plan& p = impl_->plan(Kind::backward_data, g, false, std::nullopt);
  impl_->run(p, {{p.a, const_cast<bf16*>(dy)}, {p.b, const_cast<bf16*>(w)}, {p.out, dx}}, g, stream);
}

void Cudnn::conv2d_backward_weights(const Conv2dGeometry& g, const bf16* x, const bf16* dy, float* dw, cudaStream_t stream) {
  std::lock_guard lock(impl_->mutex);
  Plan& p = impl_->plan(Kind::backward_weights, g, false, std::nullopt);
  if (p.alternative) {  // only when tuning, on the first run (never inside a capture: tune() refuses)
    // fp32 or bf16 dw, whichever is faster here (both write dw; the last run below is the one that counts).
    const float mine = impl_->time_weight_gradient(p, g, x, dy, dw, stream);
    const float other = impl_->time_weight_gradient(*p.alternative, g, x, dy, dw, stream);
    if (other < mine) p = std::move(*std::unique_ptr<Plan>(std::move(p.alternative)));
    p.alternative.reset();
  }
  impl_->weight_gradient(p, g, x, dy, dw, stream);
}

std::size_t Cudnn::cached_graphs() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->plans.size();
}

}  // namespace graft::cuda
