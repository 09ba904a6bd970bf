// The gradient bucket plan: which contiguous slices of the flat gradient
// buffer DataParallel all-reduces, and in which order.
//
// Backward produces gradients roughly from the last layer to the first, so
// buckets are cut from the end of the buffer towards its start: bucket 0
// holds the last parameters and is small (1 MiB by default, as PyTorch DDP)
// so that communication starts early; the others hold up to 25 MiB. A
// parameter tensor is never split, so a bucket may exceed the cap when one
// tensor does. Buckets are slices of the gradient buffer itself: nothing is
// copied. plan_buckets is constexpr, so for a Model (whose parameter list is
// constexpr) the plan can be computed and checked at compile time.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "graft/nn/parameter.hpp"

namespace graft::ddp {

struct BucketSizes {
  std::int64_t first_bytes = std::int64_t{1} << 20;
  std::int64_t bytes = std::int64_t{25} << 20;
};

struct GradientBucket {
  std::int64_t begin = 0, end = 0;             // floats of the gradient buffer, [begin, end)
  std::size_t first_param = 0, end_param = 0;  // parameter indices (layout order), [first, end)

  constexpr std::int64_t size() const { return end - begin; }
  constexpr std::int64_t bytes() const { return size() * std::int64_t{sizeof(float)}; }
};

// `params` in layout order (increasing offsets, as Model::parameters);
// `buffer_size` is the gradient buffer's length in floats.
constexpr std::vector<GradientBucket> plan_buckets(std::span<const nn::ParamSpec> params, std::int64_t buffer_size,
                                                   BucketSizes sizes = {}) {
  std::vector<GradientBucket> plan;
  if (params.empty()) return plan;
  GradientBucket open{.begin = buffer_size, .end = buffer_size, .first_param = params.size(), .end_param = params.size()};
  std::int64_t cap = sizes.first_bytes;
  for (std::size_t i = params.size(); i-- > 0;) {
    const std::int64_t begin = i == 0 ? 0 : params[i].offset;
    const bool empty = open.first_param == open.end_param;
    if (!empty && (open.end - begin) * std::int64_t{sizeof(float)} > cap) {
      plan.push_back(open);
      open = GradientBucket{.begin = open.begin, .end = open.begin, .first_param = i + 1, .end_param = i + 1};
      cap = sizes.bytes;
    }
    open.begin = begin;
    open.first_param = i;
  }
  plan.push_back(open);
  return plan;
}

}  // namespace graft::ddp
