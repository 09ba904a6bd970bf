// faceswap train: SAEHD-df at resolution 64 (see ../variants.hpp).
#include "../variants.hpp"

namespace faceswap {
FACESWAP_DEFINE_VARIANT(df, 64)
}  // namespace faceswap
