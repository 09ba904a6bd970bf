// swap: a trained model applied to the double's footage.
//
// Every frame goes through the detector; each face is aligned as in
// training (same face type, the model's resolution), encoded, and drawn by
// the src decoder with its mask; compositing.hpp puts it back. Frames go a
// chunk at a time: detection, crops, compositing and the image files on
// every thread, the model on batches of the chunk's faces; the output does
// not depend on the thread count. The output folder gets the frames at the
// input's size and depth (PNG; 16-bit plates 16-bit PNG; OpenEXR plates
// OpenEXR, in linear light), the frame-size masks for compositing packages
// (PNG), a swap.json summary, and optionally a video.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "compositing.hpp"
#include "extract.hpp"

namespace faceswap {

// Which mask puts the face back: the one the model draws (learned from the
// face sets' masks, steady from frame to frame), the hull of the face's own
// landmarks in this frame (what the face sets' masks are: it follows the
// detection exactly, and needs no trained mask), or their product (the
// learned mask cut back to the hull, like the product modes of DeepFaceLab's
// merger). Faces filled in across a gap
// (--fill-gaps) have no landmarks of their own and keep the learned mask.
enum class MaskSource { learned, hull, both };
inline constexpr std::array<std::string_view, 3> mask_source_names{"learned", "hull", "both"};  // by MaskSource

struct SwapOptions {
  std::filesystem::path model;  // the training output folder (its model.safetensors)
  std::vector<std::filesystem::path> inputs;
  std::filesystem::path output;
  FaceType face_type = FaceType::whole;  // as the face sets were extracted
  FacesPerFrame faces = FacesPerFrame::largest;
  BlendOptions blend{.erode = 2, .blur = 4, .colour_transfer = ColourTransfer::rct};
  MaskSource mask = MaskSource::learned;
  // Also write each face as the crop it was drawn in, ready to go back
  // (patches/<frame>_<k>.png, 16-bit BGRA: colours matched, the eroded and
  // feathered mask as straight alpha, display-referred sRGB) and
  // patches/<frame>.json (the crop's transform both ways): for compositors
  // who place, grade or re-filter the face themselves.
  bool patches = false;
  std::filesystem::path video;  // also write the frames as this video in the output folder (name.mp4 or name.avi)
  double fps = 25;
  DetectorOptions detector;
  int threads = 0;  // detection, compositing and writing threads; 0: one per core
  std::filesystem::path aligned;  // an extraction of the inputs: swap the faces it lists instead of detecting
  std::string backend = "cpu";    // where the model runs: cpu or cuda
  int device = 0;                 // the GPU, with backend cuda
  std::string precision = "auto";  // what the model's convolutions multiply in (precision.hpp)
  int smooth = 0;  // frames on each side a face's alignment is steadied over (alignment_smoothing.hpp); 0: as detected
  // The frames to swap, by their place in each input's order from 0, inclusive (-1: to the end); the frames
  // around them are read too, so that the range comes out as in a whole render (a render farm's share).
  std::int64_t first_frame = 0, last_frame = -1;
  int fill_gaps = 0;  // the most frames in a row a face may be missed and be filled in there (alignment_smoothing.hpp)
};

struct SwapReport {
  std::int64_t frames = 0, faces = 0;
  double model_seconds = 0;  // drawing the faces (the model's share of the run)
  std::vector<std::string> frames_without_face;  // none swapped (none detected, none filled in)
  std::vector<std::string> frames_filled;        // with a face filled in across a gap of its track (--fill-gaps)
  std::int64_t faces_filled = 0;                 // of `faces`
  // How much the swapped faces' alignment shakes (AlignmentJitter::rms), as detected and as swapped (after --smooth).
  double jitter_detected_px = 0, jitter_swapped_px = 0;
};

// Reads the model's options from its checkpoint and runs the compiled variant.
SwapReport swap(const SwapOptions& options);

}  // namespace faceswap
