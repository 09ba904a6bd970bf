// SAEHD's image losses on the GPU, with the CPU's contract (loss/dssim.hpp,
// loss/mse.hpp): images NCHW f32 (B, C, H, W), an optional mask (B, 1, H, W)
// multiplying prediction and target, a value per sample, and the gradient
// added into dpred.
//
// Per-sample values are written to `values` (B doubles on the device) so a
// captured step never waits for them; every sample weighs `weight` in the
// gradient (SAEHD: 10, the gradient of the batch's sum, as DeepFaceLab). Sums run in double and in a fixed order (no
// atomics): the same bits on every run. The SSIM of a pixel is the CPU's
// formula itself (loss/ssim_pixel.hpp).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace graft::cuda {

struct ImageShape {
  std::int64_t batch, channels, height, width;
};

// values[b] = mean over channels of (1 - SSIM) / 2 of pred * mask against
// target * mask, Gaussian window `filter_size` (sigma 1.5, VALID); with
// dpred, also dpred += weight * dvalues[b]/dpred.
void masked_dssim(const ImageShape& shape, const float* pred, const float* target, const float* mask, int filter_size,
                  float weight, double* values, float* dpred, cudaStream_t stream);

// values[b] = mean of ((pred - target) * mask)^2; with dpred, dpred += weight * dvalues[b]/dpred.
void masked_mse(const ImageShape& shape, const float* pred, const float* target, const float* mask, float weight,
                double* values, float* dpred, cudaStream_t stream);
// values[b] = mean of |(pred - target) * mask| (SAEHD's eyes-and-mouth
// priority term, with the eyes/mouth mask); the subgradient 0 where they are equal.
void masked_l1(const ImageShape& shape, const float* pred, const float* target, const float* mask, float weight, double* values,
               float* dpred, cudaStream_t stream);

// SAEHD's image loss fused, one kernel per direction over 16 x 16 tiles in
// shared memory (fused_loss.cu): the masked DSSIM at one window and, where
// asked, the masked MSE of the same images. The same values and gradients as
// masked_dssim + masked_mse (to f32 rounding), which they fall back to where
// the window's tiles do not fit the GPU's shared memory.
// Values: dssim_values[b], and mse_values[b] unless it is null.
void masked_dssim_mse_values(const ImageShape& shape, const float* pred, const float* target, const float* mask, int filter_size,
                             double* dssim_values, double* mse_values, cudaStream_t stream);
// dpred += dssim_weight * dDSSIM_b/dpred + mse_weight * dMSE_b/dpred (mse_weight 0: no MSE term).
void masked_dssim_mse_gradient(const ImageShape& shape, const float* pred, const float* target, const float* mask, int filter_size,
                               float dssim_weight, float mse_weight, float* dpred, cudaStream_t stream);

}  // namespace graft::cuda
