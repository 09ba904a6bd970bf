// oneDNN implementation of graft/backend/cpu/conv.hpp.
//
// Each (geometry, precision) gets one cached set of primitives, and each
// (geometry, precision, LeakyReLU slope) of a fused forward one more forward
// primitive. With bf16 precision the primitives take bf16 x, w and dy and
// write f32 (y, dx, dw, db); the reorders that bring graft's f32 tensors into
// oneDNN's layouts convert them to bf16 on the way. The
// primitives are created with format_tag::any so that oneDNN chooses its
// fastest (blocked) layout; the NCHW/OIHW tensors of graft are reordered in
// and out around them, as PyTorch's CPU path does. The caches are guarded by
// a mutex. Every primitive uses a user scratchpad taken from the caching
// allocator at each call: oneDNN's default scratchpad is per thread but sized
// when the primitive is created, so a primitive created on one thread (a
// rank of comm::Threads) and run on another would overrun it.
#include "graft/backend/cpu/conv.hpp"

#include <atomic>
#include <dnnl.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <unordered_map>

#include "graft/core/buffer.hpp"
#include "graft/core/error.hpp"
#include "graft/core/log.hpp"

namespace graft::cpu {
namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

struct Dims {
  memory::dims src, weights, bias, dst, strides, padding;
};

Dims dims_of(const Conv2dGeometry& g) {
  return {{g.batch, g.in_channels, g.in_h, g.in_w},
          {g.out_channels, g.in_channels, g.kernel, g.kernel},
          {g.out_channels},
          {g.batch, g.out_channels, g.out_h(), g.out_w()},
          {g.stride, g.stride},
          {g.padding, g.padding}};
}

// A scratch buffer from the caching host allocator, for reordered tensors.
struct Scratch {
  AlignedBuffer<std::uint8_t> bytes;
  explicit Scratch(const memory::desc& d) : bytes(d.get_size()) {}
  memory wrap(const memory::desc& d) { return memory(d, engine(), bytes.data()); }
};

// Runs `prim` with `user` memory reordered to `wanted` when the layouts differ.
struct Staged {
  memory mem;
  std::unique_ptr<Scratch> scratch;
};

Staged stage_in(dnnl::stream& s, const memory::desc& wanted, const memory::desc& user_desc, const float* data) {
  memory user(user_desc, engine(), const_cast<float*>(data));
  if (wanted == user_desc) return {user, nullptr};
  auto scratch = std::make_unique<Scratch>(wanted);
  memory staged = scratch->wrap(wanted);
  dnnl::reorder(user, staged).execute(s, user, staged);
  return {staged, std::move(scratch)};
}

Staged stage_out(const memory::desc& wanted, const memory::desc& user_desc, float* data) {
  if (wanted == user_desc) return {memory(user_desc, engine(), data), nullptr};
  auto scratch = std::make_unique<Scratch>(wanted);
  return {scratch->wrap(wanted), std::move(scratch)};
}

void finish_out(dnnl::stream& s, Staged& staged, const memory::desc& user_desc, float* data) {
  if (!staged.scratch) return;
  memory user(user_desc, engine(), data);
  dnnl::reorder(staged.mem, user).execute(s, staged.mem, user);
}

struct Plans {
  dnnl::convolution_forward::primitive_desc forward;
  dnnl::convolution_backward_data::primitive_desc backward_data;
  dnnl::convolution_backward_weights::primitive_desc backward_weights;
  dnnl::convolution_forward forward_prim;
  dnnl::convolution_backward_data backward_data_prim;
  dnnl::convolution_backward_weights backward_weights_prim;
  dnnl::reorder accumulate_weights;  // dw += reorder(diff_weights)
  memory::desc accumulate_weights_scratchpad;
  memory::desc src_user, weights_user, bias_user, dst_user;
  AlignedBuffer<float> zero_bias;  // the bias of a convolution without one
};

// oneDNN's blocked layouts pad channels to a multiple of 16; for the 1- and
// 3-channel ends of a model (the image input, the rgb and mask heads) that
// padding costs more than it saves, and the plain NCHW kernels win
// (docs/benchmarks.md). So a direction whose blocked side would hold fewer
// than 16 channels keeps NCHW; the rest let oneDNN choose.
constexpr std::int64_t min_blocked_channels = 16;

dnnl::primitive_attr user_scratchpad() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

// Runs a cached primitive with a scratchpad of its own for this call.
void execute(const dnnl::primitive& prim, const memory::desc& scratchpad, dnnl::stream& s, std::unordered_map<int, memory> args) {
  Scratch scratch(scratchpad);
  args.emplace(DNNL_ARG_SCRATCHPAD, scratch.wrap(scratchpad));
  prim.execute(s, args);
  s.wait();  // the scratchpad goes back to the allocator on return
}

dnnl::reorder::primitive_desc accumulating_reorder(const memory::desc& from, const memory::desc& to) {
  dnnl::post_ops sum;
  sum.append_sum(1.0f);
  dnnl::primitive_attr attr = user_scratchpad();
  attr.set_post_ops(sum);
  return dnnl::reorder::primitive_desc(engine(), from, engine(), to, attr);
}

// `type` in oneDNN's chosen layout, or NCHW where it must stay plain.
memory::desc layout(const memory::dims& dims, bool plain, dt type) {
  return memory::desc(dims, type, plain ? tag::nchw : tag::any);
}
constexpr auto algo = dnnl::algorithm::convolution_direct;

// The type the multiplied operands (x, w, dy) take in oneDNN; results are always f32.
dt operands_of(ConvPrecision precision) { return precision == ConvPrecision::bf16 ? dt::bf16 : dt::f32; }

dnnl::convolution_forward::primitive_desc forward_desc(const Conv2dGeometry& g, ConvPrecision precision,
                                                       const dnnl::primitive_attr& attr) {
  const Dims d = dims_of(g);
  const dt in = operands_of(precision);
  const bool few_out = g.out_channels < min_blocked_channels;
  return dnnl::convolution_forward::primitive_desc(
      dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, algo, layout(d.src, few_out, in),
                                      layout(d.weights, false, in), memory::desc(d.bias, dt::f32, tag::x),
                                      layout(d.dst, few_out, dt::f32), d.strides, d.padding, d.padding),
      attr, engine());
}

Plans make_plans(const Conv2dGeometry& g, ConvPrecision precision) {
  const Dims d = dims_of(g);
  const dt in = operands_of(precision);
  const dnnl::primitive_attr attr = user_scratchpad();
  const bool few_out = g.out_channels < min_blocked_channels;
  const bool few_in = g.in_channels < min_blocked_channels;
  const memory::desc bias(d.bias, dt::f32, tag::x);
  auto fwd = forward_desc(g, precision, attr);
  auto bwd_data = dnnl::convolution_backward_data::primitive_desc(
      dnnl::convolution_backward_data::desc(algo, layout(d.src, few_in || few_out, dt::f32), layout(d.weights, false, in),
                                            layout(d.dst, few_in || few_out, in), d.strides, d.padding, d.padding),
      attr, engine(), fwd);
  auto bwd_weights = dnnl::convolution_backward_weights::primitive_desc(
      dnnl::convolution_backward_weights::desc(algo, layout(d.src, few_out, in), layout(d.weights, false, dt::f32), bias,
                                               layout(d.dst, few_out, in), d.strides, d.padding, d.padding),
      attr, engine(), fwd);
  const auto accumulate = accumulating_reorder(bwd_weights.diff_weights_desc(), memory::desc(d.weights, dt::f32, tag::oihw));
  return {fwd,
          bwd_data,
          bwd_weights,
          dnnl::convolution_forward(fwd),
          dnnl::convolution_backward_data(bwd_data),
          dnnl::convolution_backward_weights(bwd_weights),
          dnnl::reorder(accumulate),
          accumulate.scratchpad_desc(),
          memory::desc(d.src, dt::f32, tag::nchw),
          memory::desc(d.weights, dt::f32, tag::oihw),
          bias,
          memory::desc(d.dst, dt::f32, tag::nchw),
          AlignedBuffer<float>(static_cast<std::size_t>(g.out_channels), 0.0f)};
}

// A forward with LeakyReLU(slope) as a post-op; its layouts are those of the
// plain forward of the same geometry.
struct FusedForward {
  dnnl::convolution_forward::primitive_desc desc;
  dnnl::convolution_forward prim;
};

FusedForward make_fused_forward(const Conv2dGeometry& g, ConvPrecision precision, float slope) {
  dnnl::post_ops ops;
  ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, slope, 0.0f);  // relu with alpha = leaky ReLU
  dnnl::primitive_attr attr = user_scratchpad();
  attr.set_post_ops(ops);
  auto desc = forward_desc(g, precision, attr);
  return {desc, dnnl::convolution_forward(desc)};
}

using GeometryKey = std::tuple<std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                               std::int64_t, ConvPrecision>;

GeometryKey key_of(const Conv2dGeometry& g, ConvPrecision precision) {
  return {g.batch, g.in_channels, g.in_h, g.in_w, g.out_channels, g.kernel, g.stride, g.padding, precision};
}

std::atomic<ConvPrecision> process_precision{ConvPrecision::f32};

// The cached value for `key`, made by `make()` on first use; oneDNN's
// refusal becomes a graft::Error naming the geometry.
template <class Key, class Value, class Make>
const Value& cached(std::map<Key, std::unique_ptr<Value>>& cache, std::mutex& mutex, const Key& key, const Conv2dGeometry& g,
                    const char* what, Make&& make) {
  std::lock_guard lock(mutex);
  auto& slot = cache[key];
  if (!slot) {
    try {
      slot = std::make_unique<Value>(make());
      log_debug("conv2d: planned ", what, " for batch ", g.batch, ", ", g.in_channels, "x", g.in_h, "x", g.in_w, " -> ",
                g.out_channels, " channels, kernel ", g.kernel, ", stride ", g.stride);
    } catch (const dnnl::error& e) {
      cache.erase(key);
      fail("conv2d: oneDNN cannot build a convolution for batch ", g.batch, ", ", g.in_channels, "x", g.in_h, "x", g.in_w, " -> ",
           g.out_channels, " channels, kernel ", g.kernel, ", stride ", g.stride, ", padding ", g.padding, ": ", e.what());
    }
  }
  return *slot;
}

// The primitives at the precision set now: each call reads it once, so its
// forward or backward is planned in one precision throughout.
const Plans& plans_for(const Conv2dGeometry& g, ConvPrecision precision) {
  static std::mutex mutex;
  static std::map<GeometryKey, std::unique_ptr<Plans>> cache;
  return cached(cache, mutex, key_of(g, precision), g, "forward and backward", [&] { return make_plans(g, precision); });
}

const FusedForward& fused_forward_for(const Conv2dGeometry& g, ConvPrecision precision, float slope) {
  static std::mutex mutex;
  static std::map<std::pair<GeometryKey, float>, std::unique_ptr<FusedForward>> cache;
  return cached(cache, mutex, std::make_pair(key_of(g, precision), slope), g, "forward + LeakyReLU",
                [&] { return make_fused_forward(g, precision, slope); });
}

void check_geometry(const Conv2dGeometry& g) {
  check(g.batch > 0 && g.in_channels > 0 && g.out_channels > 0 && g.kernel > 0 && g.stride > 0 && g.padding >= 0 &&
            g.out_h() > 0 && g.out_w() > 0,
        "conv2d: invalid geometry (batch ", g.batch, ", input ", g.in_channels, "x", g.in_h, "x", g.in_w, ", kernel ", g.kernel,
        ", stride ", g.stride, ", padding ", g.padding, ")");
}

}  // namespace

void set_conv_precision(ConvPrecision precision) { process_precision.store(precision); }
ConvPrecision conv_precision() { return process_precision.load(); }

bool has_native_bf16() {
  // oneDNN's ISAs are bit sets, each holding the ones below it: AMX and later include AVX512-BF16's bits.
  const auto bf16 = static_cast<unsigned>(dnnl::cpu_isa::avx512_core_bf16);
  return (static_cast<unsigned>(dnnl::get_effective_cpu_isa()) & bf16) == bf16;
}

void conv2d_forward(const Conv2dGeometry& g, const float* x, const float* w, const float* b, float* y,
                    const ConvEpilogue& epilogue) {
  check_geometry(g);
  check(!epilogue.leaky_relu_slope || *epilogue.leaky_relu_slope >= 0.0f, "conv2d_forward: LeakyReLU slope must be >= 0, got ",
        epilogue.leaky_relu_slope.value_or(0.0f));
  const ConvPrecision precision = conv_precision();
  const Plans& p = plans_for(g, precision);
  const FusedForward* fused = epilogue.leaky_relu_slope ? &fused_forward_for(g, precision, *epilogue.leaky_relu_slope) : nullptr;
  const auto& desc = fused ? fused->desc : p.forward;
  const auto& prim = fused ? fused->prim : p.forward_prim;
  dnnl::stream s(engine());
  Staged src = stage_in(s, desc.src_desc(), p.src_user, x);
  Staged weights = stage_in(s, desc.weights_desc(), p.weights_user, w);
  memory bias(p.bias_user, engine(), const_cast<float*>(b ? b : p.zero_bias.data()));
  Staged dst = stage_out(desc.dst_desc(), p.dst_user, y);
  execute(prim, desc.scratchpad_desc(), s,
          {{DNNL_ARG_SRC, src.mem}, {DNNL_ARG_WEIGHTS, weights.mem}, {DNNL_ARG_BIAS, bias}, {DNNL_ARG_DST, dst.mem}});
  finish_out(s, dst, p.dst_user, y);
  s.wait();
}

namespace {

// dx = conv_transpose(diff_dst, w), with diff_dst already in the layout the
// backward-data primitive wants.
void run_backward_data(dnnl::stream& s, const Plans& p, const memory& diff_dst, const float* w, float* dx) {
  Staged weights = stage_in(s, p.backward_data.weights_desc(), p.weights_user, w);
  Staged diff_src = stage_out(p.backward_data.diff_src_desc(), p.src_user, dx);
  execute(p.backward_data_prim, p.backward_data.scratchpad_desc(), s,
          {{DNNL_ARG_DIFF_DST, diff_dst}, {DNNL_ARG_WEIGHTS, weights.mem}, {DNNL_ARG_DIFF_SRC, diff_src.mem}});
  finish_out(s, diff_src, p.src_user, dx);
  s.wait();
}

// dw += ..., db += ..., with diff_dst already in the backward-weights layout.
void run_backward_weights(dnnl::stream& s, const Plans& p, const Conv2dGeometry& g, const float* x, const memory& diff_dst,
                          float* dw, float* db) {
  Staged src = stage_in(s, p.backward_weights.src_desc(), p.src_user, x);
  // oneDNN overwrites its outputs, graft accumulates (a module may run twice
  // per step): the weight gradient lands in scratch memory and a reorder with
  // a sum post-op adds it to dw, converting the layout in the same pass.
  Scratch dw_new(p.backward_weights.diff_weights_desc());
  memory diff_weights = dw_new.wrap(p.backward_weights.diff_weights_desc());
  AlignedBuffer<float> db_new(static_cast<std::size_t>(g.out_channels));
  memory diff_bias(p.bias_user, engine(), db_new.data());
  execute(p.backward_weights_prim, p.backward_weights.scratchpad_desc(), s,
          {{DNNL_ARG_SRC, src.mem},
           {DNNL_ARG_DIFF_DST, diff_dst},
           {DNNL_ARG_DIFF_WEIGHTS, diff_weights},
           {DNNL_ARG_DIFF_BIAS, diff_bias}});
  memory dw_user(p.weights_user, engine(), dw);
  execute(p.accumulate_weights, p.accumulate_weights_scratchpad, s, {{DNNL_ARG_FROM, diff_weights}, {DNNL_ARG_TO, dw_user}});
  s.wait();
  if (db)
    for (std::int64_t c = 0; c < g.out_channels; ++c) db[c] += db_new[static_cast<std::size_t>(c)];
}

}  // namespace

void conv2d_backward_data(const Conv2dGeometry& g, const float* dy, const float* w, float* dx) {
  check_geometry(g);
  const Plans& p = plans_for(g, conv_precision());
  dnnl::stream s(engine());
  Staged diff_dst = stage_in(s, p.backward_data.diff_dst_desc(), p.dst_user, dy);
  run_backward_data(s, p, diff_dst.mem, w, dx);
}

void conv2d_backward_weights(const Conv2dGeometry& g, const float* x, const float* dy, float* dw, float* db) {
  check_geometry(g);
  const Plans& p = plans_for(g, conv_precision());
  dnnl::stream s(engine());
  Staged diff_dst = stage_in(s, p.backward_weights.diff_dst_desc(), p.dst_user, dy);
  run_backward_weights(s, p, g, x, diff_dst.mem, dw, db);
}

void conv2d_backward(const Conv2dGeometry& g, const float* x, const float* dy, const float* w, float* dx, float* dw, float* db) {
  check_geometry(g);
  const Plans& p = plans_for(g, conv_precision());
  dnnl::stream s(engine());
  Staged diff_dst = stage_in(s, p.backward_weights.diff_dst_desc(), p.dst_user, dy);
  run_backward_weights(s, p, g, x, diff_dst.mem, dw, db);
  if (!dx) return;
  // Both primitives usually want dy in the same blocked layout: reorder it once.
  if (p.backward_data.diff_dst_desc() == p.backward_weights.diff_dst_desc()) {
    run_backward_data(s, p, diff_dst.mem, w, dx);
  } else {
    Staged for_data = stage_in(s, p.backward_data.diff_dst_desc(), p.dst_user, dy);
    run_backward_data(s, p, for_data.mem, w, dx);
  }
}

}  // namespace graft::cpu
