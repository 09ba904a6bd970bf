// faceswap train: Quick96 (resolution 96) (see ../variants.hpp).
#include "../variants.hpp"

namespace faceswap {
FACESWAP_DEFINE_VARIANT(quick96, 96)
}  // namespace faceswap
