// The shipped demo face sets at 64 px, loaded once per test program: spkA
// (the faces the data tests draw from) and spkC (a colour reference).
#pragma once

#include "data/face_set.hpp"
#include "support.hpp"

namespace faceswap::testing {

inline const FaceSet& demo_set() {
  static const FaceSet set = FaceSet::load(demo / "faces" / "spkA", {.resolution = 64});
  return set;
}

inline const FaceSet& other_set() {
  static const FaceSet set = FaceSet::load(demo / "faces" / "spkC", {.resolution = 64});
  return set;
}

}  // namespace faceswap::testing
