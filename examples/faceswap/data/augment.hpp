// Training-time augmentation of one face, as DeepFaceLab does it (reference §5.2-5.5).
//
// From a face and its mask it makes the network input, the target and the
// masks of one training sample:
//   colour   optional colour transfer (colour_transfer.hpp: rct, lct, mkl,
//            idt, sot) towards a random face of the other side, on input
//            and target;
//   hsv      optional random shifts of hue, saturation and value, on the
//            input only (DeepFaceLab's random_hsv_power);
//   warp     a random grid warp, on the input only (the model must learn to
//            undo it);
//   affine   one random rotation, scale and shift, and a flip with p = 0.4,
//            shared by input, target and mask;
//   blur     optionally the target's background blurred from background
//            pixels only (DeepFaceLab's blur_out_mask);
//   masks    the target mask, and the blurred loss mask
//            clip(gaussian_blur(M, sigma = max(1, R/32)), 0, 0.5) * 2;
//            optionally the eyes-and-mouth mask, moved like the mask and
//            divided by its maximum.
// Every random number comes from Philox keyed by (seed, step, slot), where
// slot is the sample's place in the step's global batch, so a sample is the
// same whatever the number of loader threads or ranks.
#pragma once

#include <cstdint>
#include <graft/core/tensor.hpp>

#include "face/colour_transfer.hpp"
#include "face_set.hpp"

namespace faceswap {

struct AugmentOptions {
  bool random_warp = true;
  bool random_flip = true;         // horizontal, p = 0.4
  double rotation_degrees = 10.0;  // U(-r, r)
  double scale = 0.15;             // U(1 / (1 + s), 1 + s)
  double shift = 0.05;             // U(-t, t) of the side, in x and y
  ColourTransfer colour_transfer = ColourTransfer::none;  // towards a random face of the colour reference set
  double random_hsv = 0;           // DeepFaceLab's random_hsv_power (0..0.3): the input's hue, saturation and value shifted
  bool blur_out_mask = false;      // the target's background blurred (DeepFaceLab's blur_out_mask)
  bool masked_training = true;     // false: the loss mask is 1 everywhere (DeepFaceLab's masked_training off)
  bool eyes_mouth = false;         // also make the eyes-and-mouth mask (the set must have them)
};

struct SampleKey {
  std::uint64_t seed = 0, step = 0, slot = 0;
};

// One side's batch tensors, NCHW float in [0, 1], channels in BGR order as DeepFaceLab's.
struct SideTensors {
  graft::Tensor warped, target, mask, loss_mask;  // (B,3,R,R) (B,3,R,R) (B,1,R,R) (B,1,R,R)
  graft::Tensor eyes_mouth;                       // (B,1,R,R) with AugmentOptions::eyes_mouth, else empty
  SideTensors() = default;
  SideTensors(std::int64_t batch, int resolution, bool eyes_mouth = false);
};

// The sigma of DeepFaceLab's loss-mask blur at resolution R.
inline int loss_mask_sigma(int resolution) { return std::max(1, resolution / 32); }

// Writes sample `b` of `out` from face `index` of `set`. `colour_reference`
// may be null (no colour transfer).
void augment_into(const FaceSet& set, std::size_t index, const SampleKey& key, const AugmentOptions& options,
                  const FaceSet* colour_reference, SideTensors& out, std::int64_t b);

}  // namespace faceswap
