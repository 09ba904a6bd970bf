// The swap loop, compiled once for every model variant (swap.hpp says what it does).
#pragma once

#include <cstdint>
#include <functional>

#include <graft/core/tensor.hpp>

#include "swap.hpp"

namespace faceswap {

// Faces drawn per forward pass: enough to keep oneDNN's convolutions busy,
// few enough to keep 256 px activations small. Every pass has this many
// (the last of a chunk padded), so that a face's result does not depend on
// how many others share its pass: oneDNN picks kernels by shape.
inline constexpr std::int64_t swap_batch = 8;

// The model, as the loop sees it: (swap_batch, 3, R, R) aligned faces to
// (swap_batch, 4, R, R), rgb and mask, on the CPU or on a GPU.
using DrawFaces = std::function<graft::Tensor(graft::ConstView faces)>;

// A chunk of frames at a time (ParallelDetector): detection, the crops,
// compositing and the image files on all threads, the model on whole
// batches of the chunk's faces (its convolutions are parallel themselves, or
// it runs on a GPU), and the video in frame order. `resolution` is the
// model's (R above).
SwapReport swap_faces(const SwapOptions& o, int resolution, const DrawFaces& draw);

}  // namespace faceswap
