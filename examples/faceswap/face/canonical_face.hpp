// The canonical face: where the alignment landmarks (17..48 and 54) of an
// upright, frontal face sit in the unit square.
//
// It is our own, measured rather than copied: tools/fit_canonical_face.cpp
// took the largest face of all 675 frames of the nine GRID clips in
// shared/data/grid (CC BY 4.0, see examples/faceswap/demo/ATTRIBUTION.txt),
// found dlib's 68 landmarks, and computed their generalized Procrustes mean,
// eyes level, scaled uniformly so that its bounding box fits the unit square
// (x spans [0, 1]), centred. DeepFaceLab's face-type paddings (alignment.hpp)
// are relative to the same kind of unit square.
#pragma once

#include <array>

#include "alignment.hpp"

namespace faceswap {

inline constexpr std::array<Point, alignment_points.size()> canonical_face{{
    {0.000000, 0.162076}, {0.073535, 0.089355}, {0.179929, 0.074043}, {0.289400, 0.095865}, {0.391047, 0.139656},
    {0.590501, 0.136281}, {0.697682, 0.089917}, {0.811327, 0.066584}, {0.922373, 0.084970}, {1.000000, 0.159233},
    {0.494549, 0.259252}, {0.494529, 0.363355}, {0.493232, 0.466065}, {0.493241, 0.574468}, {0.373946, 0.672933},
    {0.431161, 0.696319}, {0.493675, 0.712889}, {0.557457, 0.697382}, {0.617347, 0.676486}, {0.122303, 0.296090},
    {0.187870, 0.259438}, {0.267287, 0.258563}, {0.339389, 0.303685}, {0.266248, 0.323411}, {0.185300, 0.326814},
    {0.653848, 0.303330}, {0.727142, 0.258930}, {0.807878, 0.259356}, {0.874535, 0.294114}, {0.812174, 0.327045},
    {0.730408, 0.325228}, {0.279272, 0.927425}, {0.719582, 0.933416},
}};

}  // namespace faceswap
