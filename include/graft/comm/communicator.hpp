// The Communicator concept: how ranks of a data-parallel job talk.
//
// DataParallel and the samplers are written against this concept, never
// against a transport, so one training program runs on one rank (Single),
// on N threads of one process (Threads), on processes started by mpirun
// (Mpi), or through a decorator such as Compressed<Inner> (bf16 gradients on
// the wire), with no other change. Every collective is blocking and must be
// called in the same order on every rank. A rank that fails calls abort();
// the others then stop with CommError instead of waiting forever, and a rank
// that stops arriving is detected after the communicator's timeout.
#pragma once

#include <chrono>
#include <concepts>
#include <cstddef>
#include <span>
#include <string_view>
#include <type_traits>
#include <vector>

#include "graft/core/dtype.hpp"
#include "graft/core/error.hpp"

namespace graft::comm {

// A collective failed: a timeout, a mismatch between ranks, or a transport error.
class CommError : public Error {
 public:
  using Error::Error;
};

// This rank stopped because another rank called abort() (the root cause is in the message).
class Aborted : public CommError {
 public:
  using CommError::CommError;
};

// How long a rank waits in one collective for the others before it stops the
// job. A step of a big model on the CPU takes seconds; ten minutes is the
// default NCCL uses in PyTorch.
inline constexpr std::chrono::milliseconds default_timeout = std::chrono::minutes(10);

template <class C>
concept Communicator = requires(C& c, const C& cc, std::span<float> f32, std::span<bf16> b16, std::span<std::byte> bytes,
                                std::span<const std::byte> mine, int root, std::string_view why) {
  { C::name } -> std::convertible_to<std::string_view>;
  { cc.rank() } -> std::same_as<int>;
  { cc.size() } -> std::same_as<int>;
  { cc.local_rank() } -> std::same_as<int>;  // this rank's index among the ranks on its machine (picks its GPU)
  { cc.local_size() } -> std::same_as<int>;  // the ranks on its machine (share its cores and GPUs)
  c.all_reduce_sum(f32);  // in place: every rank ends with the element-wise sum
  c.all_reduce_sum(b16);
  c.all_reduce_mean(f32);  // the sum divided by size()
  c.all_reduce_mean(b16);
  c.broadcast(f32, root);  // every rank ends with root's values
  c.broadcast(bytes, root);
  c.barrier();
  c.all_gather(mine, bytes);  // bytes = concatenation of every rank's `mine`, in rank order
  c.abort(why);               // stops every rank; the others' collectives throw Aborted naming `why`
};

// The value each rank passed, in rank order (losses, step counters, checksums).
template <class T, Communicator C>
requires std::is_trivially_copyable_v<T> std::vector<T> all_gather_value(C& comm, const T& value) {
  std::vector<T> all(static_cast<std::size_t>(comm.size()));
  comm.all_gather(std::as_bytes(std::span(&value, 1)), std::as_writable_bytes(std::span(all)));
  return all;
}

// Checks the size of an all_gather output; shared by the communicators.
inline void check_gather_size(std::string_view who, std::size_t mine, std::size_t out, int size) {
  check(out == mine * static_cast<std::size_t>(size), who, ": all_gather of ", mine, " bytes per rank over ", size,
        " ranks needs ", mine * static_cast<std::size_t>(size), " bytes of output, got ", out);
}

inline void check_root(std::string_view who, int root, int size) {
  check(root >= 0 && root < size, who, ": broadcast from rank ", root, ", but there are ranks 0..", size - 1);
}

}  // namespace graft::comm
