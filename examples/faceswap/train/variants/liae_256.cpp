// faceswap train: SAEHD-liae at resolution 256 (see ../variants.hpp).
#include "../variants.hpp"

namespace faceswap {
FACESWAP_DEFINE_VARIANT(liae, 256)
}  // namespace faceswap
