// faceswap train: SAEHD-df-ud at resolution 256 (see ../variants.hpp).
#include "../variants.hpp"

namespace faceswap {
FACESWAP_DEFINE_VARIANT(df_ud, 256)
}  // namespace faceswap
