// faceswap train: SAEHD-liae-ud at resolution 128 (see ../variants.hpp).
#include "../variants.hpp"

namespace faceswap {
FACESWAP_DEFINE_VARIANT(liae_ud, 128)
}  // namespace faceswap
