// comm::Single: the communicator of a job with one rank.
//
// Every collective is the identity, so a program written for DataParallel
// runs unchanged, at no cost, when there is nothing to talk to.
#pragma once

#include <algorithm>

#include "graft/comm/communicator.hpp"

namespace graft::comm {

class Single {
 public:
  static constexpr std::string_view name = "comm::Single";

  int rank() const { return 0; }
  int size() const { return 1; }
  int local_rank() const { return 0; }
  int local_size() const { return 1; }
  void all_reduce_sum(std::span<float>) {}
  void all_reduce_sum(std::span<bf16>) {}
  void all_reduce_mean(std::span<float>) {}
  void all_reduce_mean(std::span<bf16>) {}
  void broadcast(std::span<float>, int root) { check_root(name, root, 1); }
  void broadcast(std::span<std::byte>, int root) { check_root(name, root, 1); }
  void barrier() {}
  void all_gather(std::span<const std::byte> mine, std::span<std::byte> out) {
    check_gather_size(name, mine.size(), out.size(), 1);
    std::ranges::copy(mine, out.begin());
  }
  // Nothing else is running: the caller's own exception is the whole story.
  void abort(std::string_view) {}
};

static_assert(Communicator<Single>);

}  // namespace graft::comm
