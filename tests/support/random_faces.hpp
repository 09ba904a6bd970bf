// A random face-swap side batch (warped input, target, mask, loss mask) for
// tests and benchmarks of the SAEHD steps: images uniform in [0, 1), a binary
// mask, a loss mask in [0.2, 1), all from Philox.
#pragma once

#include <cstdint>

#include "graft/core/tensor.hpp"
#include "random_fill.hpp"
#include "train_step.hpp"

namespace graft::testing {

struct RandomSide {
  Tensor warped, target, mask, loss_mask;

  RandomSide(std::int64_t batch, std::int64_t resolution, std::uint64_t seed)
      : warped(Shape{batch, 3, resolution, resolution}),
        target(warped.shape()),
        mask(Shape{batch, 1, resolution, resolution}),
        loss_mask(mask.shape()) {
    fill_uniform(warped.span(), seed, 0.0f, 1.0f);
    fill_uniform(target.span(), seed + 1, 0.0f, 1.0f);
    fill_uniform(mask.span(), seed + 2, 0.0f, 1.0f);
    for (float& m : mask.span()) m = m > 0.3f ? 1.0f : 0.0f;
    fill_uniform(loss_mask.span(), seed + 3, 0.2f, 1.0f);
  }

  faceswap::SideBatch view() const { return {warped, target, mask, loss_mask}; }
};

}  // namespace graft::testing
