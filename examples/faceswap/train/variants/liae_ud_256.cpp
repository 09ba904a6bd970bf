// faceswap train: SAEHD-liae-ud at resolution 256 (see ../variants.hpp).
#include "../variants.hpp"

namespace faceswap {
FACESWAP_DEFINE_VARIANT(liae_ud, 256)
}  // namespace faceswap
