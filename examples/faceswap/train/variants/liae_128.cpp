// faceswap train: SAEHD-liae at resolution 128 (see ../variants.hpp).
#include "../variants.hpp"

namespace faceswap {
FACESWAP_DEFINE_VARIANT(liae, 128)
}  // namespace faceswap
