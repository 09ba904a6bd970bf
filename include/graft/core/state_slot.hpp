// StateSlot: a named flat buffer laid out like a model's parameter buffer.
//
// Optimizers keep their moments as such buffers ("m", "v"); checkpoints save
// and restore them under "optimizer.<slot>.<parameter name>". One type in
// core lets optim/ and io/ meet without depending on each other.
#pragma once

#include <span>
#include <string_view>

namespace graft {

struct StateSlot {
  std::string_view name;
  std::span<float> values;
};

}  // namespace graft
