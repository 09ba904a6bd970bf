// comm::Compressed<Inner>: gradients cross the wire in bf16.
//
// A decorator that is itself a Communicator: f32 all-reduces are rounded to
// bf16, reduced by the inner communicator in bf16 (summed in f32 per hop,
// see reduce.hpp) and widened back, halving the bytes on the wire as
// PyTorch's bf16_compress_hook does. Broadcasts (parameters) and gathers
// stay exact. The relative error of a reduced element is about 2^-8 of the
// largest contribution; use it where bandwidth, not precision, bounds the step.
#pragma once

#include <algorithm>

#include "graft/comm/communicator.hpp"
#include "graft/comm/single.hpp"
#include "graft/core/buffer.hpp"

namespace graft::comm {

template <Communicator Inner>
class Compressed {
 public:
  static constexpr std::string_view name = "comm::Compressed";

  explicit Compressed(Inner& inner) : inner_(inner) {}

  int rank() const { return inner_.rank(); }
  int size() const { return inner_.size(); }
  int local_rank() const { return inner_.local_rank(); }
  int local_size() const { return inner_.local_size(); }
  Inner& inner() { return inner_; }

  void all_reduce_sum(std::span<float> x) {
    through_bf16(x, [&](std::span<bf16> w) { inner_.all_reduce_sum(w); });
  }
  void all_reduce_mean(std::span<float> x) {
    through_bf16(x, [&](std::span<bf16> w) { inner_.all_reduce_mean(w); });
  }
  void all_reduce_sum(std::span<bf16> x) { inner_.all_reduce_sum(x); }
  void all_reduce_mean(std::span<bf16> x) { inner_.all_reduce_mean(x); }
  void broadcast(std::span<float> x, int root) { inner_.broadcast(x, root); }
  void broadcast(std::span<std::byte> x, int root) { inner_.broadcast(x, root); }
  void barrier() { inner_.barrier(); }
  void all_gather(std::span<const std::byte> mine, std::span<std::byte> out) { inner_.all_gather(mine, out); }
  void abort(std::string_view why) { inner_.abort(why); }

 private:
  template <class Reduce>
  void through_bf16(std::span<float> x, Reduce&& reduce) {
    if (wire_.size() < x.size()) wire_ = AlignedBuffer<bf16>(x.size());
    std::span<bf16> wire = wire_.span().first(x.size());
    std::ranges::transform(x, wire.begin(), [](float v) { return bf16(v); });
    reduce(wire);
    std::ranges::transform(wire, x.begin(), [](bf16 v) { return static_cast<float>(v); });
  }

  Inner& inner_;
  AlignedBuffer<bf16> wire_;
};

static_assert(Communicator<Compressed<Single>>);

}  // namespace graft::comm
