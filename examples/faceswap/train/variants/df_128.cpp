// faceswap train: SAEHD-df at resolution 128 (see ../variants.hpp).
#include "../variants.hpp"

namespace faceswap {
FACESWAP_DEFINE_VARIANT(df, 128)
}  // namespace faceswap
