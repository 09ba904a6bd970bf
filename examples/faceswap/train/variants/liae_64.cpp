// faceswap train: SAEHD-liae at resolution 64 (see ../variants.hpp).
#include "../variants.hpp"

namespace faceswap {
FACESWAP_DEFINE_VARIANT(liae, 64)
}  // namespace faceswap
