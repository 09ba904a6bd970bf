// comm::Threads: N ranks as threads of one process, reducing through shared memory.
//
// On one machine a job needs no MPI: run_threads(N, fn) starts N threads,
// gives each a Threads communicator and waits for them. A collective is two
// rendezvous: every rank publishes its buffer, then each rank reduces a
// disjoint slice of the elements across all ranks (in rank order, so the
// result does not depend on timing) and writes it to every rank's buffer.
// A rank waits at most the timeout at a rendezvous; then it names the ranks
// that did not arrive and aborts the group, and every other rank's
// collective throws Aborted with that reason.
#pragma once

#include <omp.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "graft/comm/communicator.hpp"
#include "graft/comm/reduce.hpp"

namespace graft::comm {

struct ThreadsOptions {
  std::chrono::milliseconds timeout = default_timeout;
};

namespace detail {

enum class Collective { all_reduce_sum, all_reduce_mean, broadcast, all_gather, barrier };

inline const char* name_of(Collective c) {
  switch (c) {
    case Collective::all_reduce_sum:
      return "all_reduce_sum";
    case Collective::all_reduce_mean:
      return "all_reduce_mean";
    case Collective::broadcast:
      return "broadcast";
    case Collective::all_gather:
      return "all_gather";
    case Collective::barrier:
      return "barrier";
  }
  return "?";
}

// What a rank brings to a collective: its buffers and what it is calling.
struct Slot {
  Collective op = Collective::barrier;
  DType type = DType::f32;
  const void* in = nullptr;
  void* out = nullptr;
  std::size_t count = 0;  // elements (bytes for broadcast of bytes and all_gather)
  int root = 0;
};

// The state the ranks of one group share.
class ThreadGroup {
 public:
  ThreadGroup(int size, std::chrono::milliseconds timeout)
      : size_(size), timeout_(timeout), slots_(static_cast<std::size_t>(size)), present_(static_cast<std::size_t>(size)) {}

  int size() const { return size_; }
  Slot& slot(int rank) { return slots_[static_cast<std::size_t>(rank)]; }

  // Waits until every rank has arrived at the same rendezvous, the timeout
  // passes (throws CommError after aborting the group) or the group is aborted (throws Aborted).
  void rendezvous(int rank, std::uint64_t collective_index, Collective what) {
    std::unique_lock lock(mutex_);
    throw_if_aborted(lock, rank);
    const std::uint64_t generation = generation_;
    present_[static_cast<std::size_t>(rank)] = true;
    if (++arrived_ == size_) {
      arrived_ = 0;
      std::fill(present_.begin(), present_.end(), false);
      ++generation_;
      ready_.notify_all();
      return;
    }
    const bool woke = ready_.wait_for(lock, timeout_, [&] { return generation_ != generation || aborted_; });
    if (generation_ != generation) return;
    if (woke) throw_if_aborted(lock, rank);
    std::string missing;
    for (int r = 0; r < size_; ++r)
      if (!present_[static_cast<std::size_t>(r)]) missing += (missing.empty() ? "" : ", ") + std::to_string(r);
    abort_locked(concat("comm::Threads: rank ", rank, " waited ", timeout_.count(), " ms in ", name_of(what), " (collective #",
                        collective_index, ") for rank(s) ", missing, ", which did not arrive"));
    throw CommError(reason_);
  }

  void abort(std::string reason) {
    std::lock_guard lock(mutex_);
    abort_locked(std::move(reason));
  }

 private:
  void abort_locked(std::string reason) {
    if (!aborted_) {
      aborted_ = true;
      reason_ = std::move(reason);
    }
    ready_.notify_all();
  }
  void throw_if_aborted(std::unique_lock<std::mutex>&, int rank) const {
    if (aborted_) throw Aborted(concat("comm::Threads: rank ", rank, " stops because the group was aborted: ", reason_));
  }

  const int size_;
  const std::chrono::milliseconds timeout_;
  std::vector<Slot> slots_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::vector<bool> present_;
  int arrived_ = 0;
  std::uint64_t generation_ = 0;
  bool aborted_ = false;
  std::string reason_;
};

// This rank's share of [0, count): slices start on 64-byte boundaries so two
// ranks never write the same cache line.
inline std::pair<std::size_t, std::size_t> slice_of(std::size_t count, int rank, int size) {
  constexpr std::size_t line = 32;  // elements; a multiple of the line for both f32 and bf16
  const std::size_t lines = (count + line - 1) / line;
  const auto r = static_cast<std::size_t>(rank), n = static_cast<std::size_t>(size);
  return {std::min(count, lines * r / n * line), std::min(count, lines * (r + 1) / n * line)};
}

}  // namespace detail

class Threads {
 public:
  static constexpr std::string_view name = "comm::Threads";

  Threads(std::shared_ptr<detail::ThreadGroup> group, int rank) : group_(std::move(group)), rank_(rank) {
    check(group_ && rank >= 0 && rank < group_->size(), name, ": rank ", rank, " is outside the group");
  }

  int rank() const { return rank_; }
  int size() const { return group_->size(); }
  // The threads of one process share one machine.
  int local_rank() const { return rank_; }
  int local_size() const { return size(); }

  void all_reduce_sum(std::span<float> x) { all_reduce(detail::Collective::all_reduce_sum, x); }
  void all_reduce_sum(std::span<bf16> x) { all_reduce(detail::Collective::all_reduce_sum, x); }
  void all_reduce_mean(std::span<float> x) { all_reduce(detail::Collective::all_reduce_mean, x); }
  void all_reduce_mean(std::span<bf16> x) { all_reduce(detail::Collective::all_reduce_mean, x); }

  void broadcast(std::span<float> x, int root) { broadcast(std::as_writable_bytes(x), root); }
  void broadcast(std::span<std::byte> x, int root) {
    check_root(name, root, size());
    run(detail::Slot{detail::Collective::broadcast, DType::f32, x.data(), x.data(), x.size(), root}, [&](auto& slots) {
      const auto [lo, hi] = detail::slice_of(x.size(), rank_, size());
      const auto* from = static_cast<const std::byte*>(slots[static_cast<std::size_t>(root)].in);
      for (int r = 0; r < size(); ++r)
        if (r != root && hi > lo)
          std::memcpy(static_cast<std::byte*>(slots[static_cast<std::size_t>(r)].out) + lo, from + lo, hi - lo);
    });
  }

  void barrier() {
    run(detail::Slot{}, [](auto&) {});
  }

  void all_gather(std::span<const std::byte> mine, std::span<std::byte> out) {
    check_gather_size(name, mine.size(), out.size(), size());
    run(detail::Slot{detail::Collective::all_gather, DType::f32, mine.data(), out.data(), mine.size(), 0}, [&](auto& slots) {
      for (int r = 0; r < size(); ++r)
        std::memcpy(out.data() + static_cast<std::size_t>(r) * mine.size(), slots[static_cast<std::size_t>(r)].in, mine.size());
    });
  }

  void abort(std::string_view why) { group_->abort(concat("rank ", rank_, " aborted: ", why)); }

 private:
  template <class T>
  void all_reduce(detail::Collective op, std::span<T> x) {
    if (size() == 1) return;  // the sum and the mean of one rank are its own values
    run(detail::Slot{op, dtype_of<T>(), x.data(), x.data(), x.size(), 0}, [&](auto& slots) {
      const auto [lo, hi] = detail::slice_of(x.size(), rank_, size());
      std::vector<T*> buffers;
      for (const auto& s : slots) buffers.push_back(static_cast<T*>(s.out));
      sum_across(std::span<T* const>(buffers), lo, hi, op == detail::Collective::all_reduce_mean ? size() : 1);
    });
  }

  // Publish, meet, check that every rank called the same thing, work, meet again
  // (nobody may return while another rank still reads or writes its buffer).
  template <class Work>
  void run(const detail::Slot& mine, Work&& work) {
    const std::uint64_t index = ++collectives_;
    group_->slot(rank_) = mine;
    group_->rendezvous(rank_, index, mine.op);
    std::vector<detail::Slot> slots;
    for (int r = 0; r < size(); ++r) slots.push_back(group_->slot(r));
    for (int r = 0; r < size(); ++r) {
      const auto& s = slots[static_cast<std::size_t>(r)];
      if (s.op != mine.op || s.type != mine.type || s.count != mine.count || s.root != mine.root) {
        const std::string why = concat(name, ": collective #", index, " does not match across ranks: rank ", rank_, " called ",
                                       detail::name_of(mine.op), " over ", mine.count, " elements, rank ", r, " called ",
                                       detail::name_of(s.op), " over ", s.count);
        group_->abort(why);
        throw CommError(why);
      }
    }
    work(slots);
    group_->rendezvous(rank_, index, mine.op);
  }

  std::shared_ptr<detail::ThreadGroup> group_;
  int rank_;
  std::uint64_t collectives_ = 0;
};

static_assert(Communicator<Threads>);

// Runs fn(Threads&) on `ranks` threads, one rank each, and returns when all
// have returned. Each rank gets an equal share of the OpenMP threads. If any
// rank throws, the group is aborted (so the others stop instead of waiting)
// and the first root cause is rethrown, naming its rank.
template <class Fn>
void run_threads(int ranks, Fn&& fn, ThreadsOptions options = {}) {
  check(ranks >= 1, "comm::run_threads: need at least one rank, got ", ranks);
  auto group = std::make_shared<detail::ThreadGroup>(ranks, options.timeout);
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(ranks));
  const int omp_threads = std::max(1, omp_get_max_threads() / ranks);
  std::vector<std::thread> threads;
  for (int r = 0; r < ranks; ++r)
    threads.emplace_back([&, r] {
      omp_set_num_threads(omp_threads);
      Threads comm(group, r);
      try {
        fn(comm);
      } catch (const std::exception& e) {
        errors[static_cast<std::size_t>(r)] = std::current_exception();
        comm.abort(e.what());
      }
    });
  for (auto& t : threads) t.join();

  // The root cause is the first error that is not a consequence of another rank's abort.
  int first = -1;
  for (int r = 0; r < ranks && first < 0; ++r) {
    if (!errors[static_cast<std::size_t>(r)]) continue;
    try {
      std::rethrow_exception(errors[static_cast<std::size_t>(r)]);
    } catch (const Aborted&) {
    } catch (...) {
      first = r;
    }
  }
  for (int r = 0; r < ranks && first < 0; ++r)
    if (errors[static_cast<std::size_t>(r)]) first = r;
  if (first < 0) return;
  try {
    std::rethrow_exception(errors[static_cast<std::size_t>(first)]);
  } catch (const std::exception& e) {
    throw Error(concat("rank ", first, " of ", ranks, ": ", e.what()));
  }
}

}  // namespace graft::comm
