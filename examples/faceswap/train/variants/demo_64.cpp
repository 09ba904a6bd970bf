// faceswap train: the cut-down SAEHD-df of the demo and the tests, at 64 (see ../variants.hpp).
#include "../variants.hpp"

namespace faceswap {
FACESWAP_DEFINE_VARIANT(demo, 64)
}  // namespace faceswap
