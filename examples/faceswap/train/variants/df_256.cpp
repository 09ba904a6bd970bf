// faceswap train: SAEHD-df at resolution 256 (see ../variants.hpp).
#include "../variants.hpp"

namespace faceswap {
FACESWAP_DEFINE_VARIANT(df, 256)
}  // namespace faceswap
