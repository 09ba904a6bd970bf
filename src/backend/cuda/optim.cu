#include <cuda_bf16.h>

#include "graft/backend/cuda/check.hpp"
#include "graft/backend/cuda/optim.hpp"
#include "graft/core/philox.hpp"

namespace graft::cuda {
namespace {

constexpr int threads = 256;

// Slot pointers by value: a kernel argument, not a pointer to host memory.
template <int N>
struct Slots {
  float* at[N];
};

__global__ void advance_step(StepScalars* scalars) { scalars->step += 1; }

// One thread per four consecutive elements: lr_dropout's draws for them are
// one Philox block (counter = element / 4, stream = step), as the CPU draws
// them for the same index of the flat buffer. A model on the GPU stores its
// convolution weights (K, R, S, C) (nn/cuda), so there the same index is
// another weight: as many are dropped, not the same ones.
// Wide: every array is read and written 16 bytes at a time (n a multiple
// of 4, pointers aligned: a model's flat buffers are), the bf16 copy 8 bytes;
// the arithmetic is the same, element by element.
template <class Rule, bool Wide>
__global__ void fused_step_kernel(typename Rule::Hyper hyper, const StepScalars* scalars, float* w, const float* g,
                                  Slots<Rule::slots> slots, __nv_bfloat16* w_bf16, std::int64_t n, float keep_probability,
                                  std::uint64_t seed) {
  const std::int64_t step = scalars->step;
  const Rule rule = Rule::at(hyper, scalars->lr, step);
  const std::int64_t quads = (n + 3) / 4;
  const Philox rng(seed);
  for (std::int64_t q = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; q < quads; q += std::int64_t(gridDim.x) * blockDim.x) {
    Philox::Block bits{};
    if (keep_probability < 1.0f) bits = rng.block(std::uint64_t(q), std::uint64_t(step));
    if constexpr (Wide) {
      float4 weight = reinterpret_cast<const float4*>(w)[q];
      const float4 grad = reinterpret_cast<const float4*>(g)[q];
      float4 state[Rule::slots];
      for (int s = 0; s < Rule::slots; ++s) state[s] = reinterpret_cast<const float4*>(slots.at[s])[q];
      float* wv = &weight.x;
      const float* gv = &grad.x;
      for (int k = 0; k < 4; ++k) {
        const float keep = keep_probability < 1.0f ? optim::lr_dropout_keep(bits[std::size_t(k)], keep_probability) : 1.0f;
        float element_state[Rule::slots];
        for (int s = 0; s < Rule::slots; ++s) element_state[s] = (&state[s].x)[k];
        rule(wv[k], gv[k], element_state, keep);
        for (int s = 0; s < Rule::slots; ++s) (&state[s].x)[k] = element_state[s];
      }
      reinterpret_cast<float4*>(w)[q] = weight;
      for (int s = 0; s < Rule::slots; ++s) reinterpret_cast<float4*>(slots.at[s])[q] = state[s];
      if (w_bf16) {
        const __nv_bfloat162 low = __floats2bfloat162_rn(weight.x, weight.y), high = __floats2bfloat162_rn(weight.z, weight.w);
        reinterpret_cast<__nv_bfloat162*>(w_bf16)[2 * q] = low;
        reinterpret_cast<__nv_bfloat162*>(w_bf16)[2 * q + 1] = high;
      }
    } else {
      for (int k = 0; k < 4; ++k) {
        const std::int64_t i = 4 * q + k;
        if (i >= n) break;
        const float keep = keep_probability < 1.0f ? optim::lr_dropout_keep(bits[std::size_t(k)], keep_probability) : 1.0f;
        float state[Rule::slots];
        for (int s = 0; s < Rule::slots; ++s) state[s] = slots.at[s][i];
        float weight = w[i];
        rule(weight, g[i], state, keep);
        for (int s = 0; s < Rule::slots; ++s) slots.at[s][i] = state[s];
        w[i] = weight;
        if (w_bf16) w_bf16[i] = __float2bfloat16_rn(weight);
      }
    }
  }
}

}  // namespace

template <class Rule>
void fused_step(const typename Rule::Hyper& hyper, StepScalars* scalars, float* w, const float* g,
                const std::array<float*, Rule::slots>& slots, bf16* w_bf16, std::int64_t n, const LrDropout& dropout,
                cudaStream_t stream) {
  advance_step<<<1, 1, 0, stream>>>(scalars);
  check_launch("fused_step (step count)");
  if (n == 0) return;
  Slots<Rule::slots> device_slots{};
  for (int s = 0; s < Rule::slots; ++s) device_slots.at[s] = slots[std::size_t(s)];
  const std::int64_t quads = (n + 3) / 4;
  const auto blocks = static_cast<unsigned>(std::min<std::int64_t>((quads + threads - 1) / threads, 65536));
  const auto aligned = [](const void* p, std::uintptr_t bytes) { return reinterpret_cast<std::uintptr_t>(p) % bytes == 0; };
  bool wide = n % 4 == 0 && aligned(w, 16) && aligned(g, 16) && (!w_bf16 || aligned(w_bf16, 8));
  for (int s = 0; s < Rule::slots; ++s) wide = wide && aligned(slots[std::size_t(s)], 16);
  auto* copy = reinterpret_cast<__nv_bfloat16*>(w_bf16);
  if (wide)
    fused_step_kernel<Rule, true><<<blocks, threads, 0, stream>>>(hyper, scalars, w, g, device_slots, copy, n,
                                                                  dropout.keep_probability, dropout.seed);
  else
    fused_step_kernel<Rule, false><<<blocks, threads, 0, stream>>>(hyper, scalars, w, g, device_slots, copy, n,
                                                                   dropout.keep_probability, dropout.seed);
  check_launch("fused_step");
}

GRAFT_CUDA_FUSED_STEP(AdaBeliefRule, )
GRAFT_CUDA_FUSED_STEP(AdamRule, )
GRAFT_CUDA_FUSED_STEP(RmspropRule, )
GRAFT_CUDA_FUSED_STEP(SgdRule, )

}  // namespace graft::cuda
