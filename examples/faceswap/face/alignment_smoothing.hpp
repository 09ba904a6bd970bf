// AlignmentSmoother: a face's crop transform steadied over neighbouring frames.
//
// Each frame's alignment comes from its own landmarks, and dlib's landmarks
// wander from frame to frame even on a still face (the demo clip: 1.15 px
// RMS frame-to-frame acceleration of the crop's corners). The model sees a
// crop that shakes by that much, draws a face that shakes with it, and the
// swap shimmers. `faceswap swap --smooth N` replaces each face's transform by
// a weighted least-squares line through its track's poses within N frames on
// each side (Gaussian weights, sigma N/2), evaluated at the frame; a pose is
// the crop's centre in the frame, its log scale and its angle. Jitter is
// averaged out, and a face drifting, zooming and turning at constant rates
// keeps its transforms exactly, at the ends of its track too, so that a
// moving head is not dragged behind.
//
// Tracks: a face continues the track of the previous frame's face whose
// crop centre is nearest to where that face was or where it was heading
// (from the face nearest it in the frame before, found afresh so that a
// link depends on three frames only), within a tenth of the crop's size, at
// a scale within 10%. Anything else (a cut to a face elsewhere, a face that
// appears, a frame without it) starts a new track, and no average reaches
// across. A cut that leaves a face within that tenth of where the last one
// was or was heading is not seen as one (the caller ends the sequence at
// inputs' ends).
//
// Gaps (`--fill-gaps G`): a face the detector missed for up to G frames in a
// row, found again where its track was or was heading (the same tenth; its
// scale within 10% a frame), is filled in on the missed frames, its pose
// on the line between the two ends, so that the double's own face does not
// flash through for a frame.
//
// Frames stream through: a frame's transforms are final once N + G later
// frames are in, or the sequence ended, so the swap holds up to N + G frames
// more than it would.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "alignment.hpp"

namespace faceswap {

// RMS over the faces of the frame-space acceleration (second difference
// across three consecutive frames of a track) of the crop's corners, in
// frame pixels: how much an alignment shakes. `count` is the number of such
// triples; `rms` is 0 without any.
struct AlignmentJitter {
  double sum_squares = 0;
  std::int64_t count = 0;
  double rms() const;
};

// A frame's faces as the smoother gives them back: those pushed, in their
// order, then those filled in across a gap of their track.
struct FrameAlignment {
  std::vector<Affine> faces;
  std::size_t filled = 0;  // the last `filled` of faces
};

class AlignmentSmoother {
 public:
  // radius: frames on each side (0: transforms pass through unchanged); crop_size: the crops' size in pixels;
  // max_gap: the most frames in a row a track may miss and still continue, its face filled in there (0: none).
  AlignmentSmoother(int radius, int crop_size, int max_gap = 0);

  // The next frame's faces, as frame-to-crop transforms.
  void push(std::vector<Affine> faces);
  // No frame follows those pushed (the end of a clip): their transforms become final, and the next push starts new tracks.
  void end_sequence();

  // How many of the oldest frames not taken yet have final transforms.
  std::size_t ready() const { return final_end_ - taken_; }
  // The oldest such frame's transforms; then it counts as taken.
  FrameAlignment take();

  // Of the transforms as pushed (faces filled in left out) and as taken, over the frames taken so far.
  const AlignmentJitter& detected_jitter() const { return detected_; }
  const AlignmentJitter& smoothed_jitter() const { return smoothed_; }

 private:
  struct Face {
    Affine raw, smoothed;
    int previous = -1, next = -1;  // the same track's face in the frame before and after
    bool filled = false;           // not pushed: put in a gap of its track
  };
  using FaceList = std::vector<Face>;

  FaceList& frame(std::int64_t index) { return frames_[std::size_t(index - first_)]; }
  const FaceList& frame(std::int64_t index) const { return frames_[std::size_t(index - first_)]; }
  std::optional<Point> came_from(std::int64_t index, const Face& f) const;
  void link_to_previous(FaceList& faces);
  void link_across_gaps(FaceList& faces);
  std::vector<Affine> bridge(const Affine& at_end, std::int64_t end, const Affine& at_last, std::int64_t last) const;
  bool touches_filled(std::int64_t index, std::size_t face) const;
  Affine smooth(std::int64_t index, std::size_t face) const;
  void add_jitter(AlignmentJitter& jitter, std::int64_t index, std::size_t face, Affine Face::*which) const;

  int radius_, crop_size_, max_gap_;
  std::deque<FaceList>
      frames_;  // from first_: max(radius_, 2) taken ones (later averages and the jitter reach back), then the rest
  std::int64_t first_ = 0, taken_ = 0, final_end_ = 0, pushed_ = 0, sequence_start_ = 0;
  bool sequence_open_ = false;
  AlignmentJitter detected_, smoothed_;
};

}  // namespace faceswap
