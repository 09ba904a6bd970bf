// faceswap train's dispatch from (model, resolution) to a compiled variant.
#include <cstdio>
#include <graft/core/error.hpp>

#include "variants.hpp"

namespace faceswap {

TrainSummary train(const TrainOptions& o) {
  validate(o);
  std::string built;
#define FACESWAP_DISPATCH(arch, res)                                           \
  if (o.model == #arch && o.resolution == res) return train_##arch##_##res(o); \
  built += std::string(built.empty() ? "" : ", ") + #arch " " #res;
  FACESWAP_VARIANTS(FACESWAP_DISPATCH)
#undef FACESWAP_DISPATCH
  graft::fail("train: ", o.model, " at resolution ", o.resolution, " is not built into this program (built: ", built,
              "; add it to FACESWAP_VARIANTS in examples/faceswap/train/variants.hpp)");
}

}  // namespace faceswap
