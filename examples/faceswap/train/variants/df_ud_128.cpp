// faceswap train: SAEHD-df-ud at resolution 128 (see ../variants.hpp).
#include "../variants.hpp"

namespace faceswap {
FACESWAP_DEFINE_VARIANT(df_ud, 128)
}  // namespace faceswap
