// comm::Mpi: one rank per process, started by mpirun or srun.
//
// The first Mpi in a process initialises MPI (asking for
// MPI_THREAD_MULTIPLE, because DataParallel reduces on its own thread) and
// MPI is finalised when the process exits. Each Mpi works on its own
// duplicate of MPI_COMM_WORLD, so its traffic never mixes with another
// library's. MPI's blocking collectives cannot time out, so a watchdog
// thread watches the collective in progress: past the timeout it prints
// which collective on which rank and calls MPI_Abort, which ends every rank
// of the job. abort() does the same at once. bf16 is summed with a
// user-defined operation over 16-bit words (reduce.hpp).
#pragma once

#include <mpi.h>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "graft/comm/communicator.hpp"
#include "graft/comm/compressed.hpp"
#include "graft/comm/reduce.hpp"

namespace graft::comm {

struct MpiOptions {
  std::chrono::milliseconds timeout = default_timeout;
};

namespace detail {

inline void check_mpi(int rc, std::string_view call) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(rc, text, &length);
  throw CommError(concat("comm::Mpi: ", call, " failed: ", std::string_view(text, static_cast<std::size_t>(length))));
}

// MPI_Init_thread once per process; MPI_Finalize at exit.
class MpiRuntime {
 public:
  static MpiRuntime& instance() {
    static MpiRuntime runtime;
    return runtime;
  }
  MPI_Op bf16_sum() const { return bf16_sum_; }

 private:
  MpiRuntime() {
    int initialised = 0;
    MPI_Initialized(&initialised);
    int provided = MPI_THREAD_SINGLE;
    if (!initialised) {
      check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided), "MPI_Init_thread");
      owns_ = true;
    } else {
      MPI_Query_thread(&provided);
    }
    check(provided >= MPI_THREAD_MULTIPLE, "comm::Mpi: the MPI library gives thread level ", provided,
          ", DataParallel needs MPI_THREAD_MULTIPLE (", MPI_THREAD_MULTIPLE, ") to reduce on its own thread");
    check_mpi(MPI_Op_create(&add_bf16_words, 1, &bf16_sum_), "MPI_Op_create(bf16 sum)");
  }
  ~MpiRuntime() {
    int finalised = 0;
    MPI_Finalized(&finalised);
    if (finalised) return;
    MPI_Op_free(&bf16_sum_);
    if (owns_) MPI_Finalize();
  }
  static void add_bf16_words(void* in, void* inout, int* count, MPI_Datatype*) {
    add_bf16(static_cast<const bf16*>(in), static_cast<bf16*>(inout), static_cast<std::size_t>(*count));
  }

  bool owns_ = false;
  MPI_Op bf16_sum_ = MPI_OP_NULL;
};

// Ends the whole job when one collective takes longer than the timeout.
class MpiWatchdog {
 public:
  MpiWatchdog(MPI_Comm comm, int rank, std::chrono::milliseconds timeout)
      : comm_(comm), rank_(rank), timeout_(timeout), thread_([this] { watch(); }) {}
  ~MpiWatchdog() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  void enter(const char* what, std::uint64_t index) {
    std::lock_guard lock(mutex_);
    what_ = what;
    index_ = index;
    since_ = std::chrono::steady_clock::now();
    busy_ = true;
    wake_.notify_all();
  }
  void leave() {
    std::lock_guard lock(mutex_);
    busy_ = false;
  }

 private:
  void watch() {
    std::unique_lock lock(mutex_);
    while (!stop_) {
      if (!busy_) {
        wake_.wait(lock, [&] { return stop_ || busy_; });
        continue;
      }
      const auto deadline = since_ + timeout_;
      const auto index = index_;
      wake_.wait_until(lock, deadline, [&] { return stop_ || !busy_ || index_ != index; });
      if (!stop_ && busy_ && index_ == index && std::chrono::steady_clock::now() >= deadline) {
        std::fprintf(stderr,
                     "graft: comm::Mpi: rank %d waited %lld ms in %s (collective #%llu) for the other ranks; aborting the job\n",
                     rank_, static_cast<long long>(timeout_.count()), what_, static_cast<unsigned long long>(index));
        std::fflush(stderr);
        MPI_Abort(comm_, 124);
        std::_Exit(124);
      }
    }
  }

  MPI_Comm comm_;
  int rank_;
  std::chrono::milliseconds timeout_;
  std::mutex mutex_;
  std::condition_variable wake_;
  const char* what_ = "";
  std::uint64_t index_ = 0;
  std::chrono::steady_clock::time_point since_{};
  bool busy_ = false, stop_ = false;
  std::thread thread_;
};

}  // namespace detail

class Mpi {
 public:
  static constexpr std::string_view name = "comm::Mpi";

  explicit Mpi(MpiOptions options = {}) : runtime_(detail::MpiRuntime::instance()) {
    detail::check_mpi(MPI_Comm_dup(MPI_COMM_WORLD, &comm_), "MPI_Comm_dup");
    detail::check_mpi(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
    // The ranks that share this machine's memory are the ones on this machine,
    // however the launcher placed them (blocks, round robin, by hand).
    MPI_Comm node = MPI_COMM_NULL;
    detail::check_mpi(MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node),
                      "MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)");
    MPI_Comm_rank(node, &local_rank_);
    MPI_Comm_size(node, &local_size_);
    MPI_Comm_free(&node);
    watchdog_ = std::make_unique<detail::MpiWatchdog>(comm_, rank_, options.timeout);
  }
  Mpi(const Mpi&) = delete;
  Mpi& operator=(const Mpi&) = delete;
  ~Mpi() {
    watchdog_.reset();
    int finalised = 0;
    MPI_Finalized(&finalised);
    if (!finalised) MPI_Comm_free(&comm_);
  }

  // True when this process was started by an MPI launcher (so a program can
  // pick Mpi without asking the user).
  static bool launched_by_mpirun() {
    return std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMI_SIZE") || std::getenv("PMIX_RANK");
  }

  int rank() const { return rank_; }
  int size() const { return size_; }
  int local_rank() const { return local_rank_; }
  int local_size() const { return local_size_; }

  void all_reduce_sum(std::span<float> x) { reduce(x.data(), x.size(), MPI_FLOAT, MPI_SUM, "MPI_Allreduce(f32 sum)"); }
  void all_reduce_sum(std::span<bf16> x) {
    reduce(x.data(), x.size(), MPI_UINT16_T, runtime_.bf16_sum(), "MPI_Allreduce(bf16 sum)");
  }
  void all_reduce_mean(std::span<float> x) {
    all_reduce_sum(x);
    for (float& v : x) v /= static_cast<float>(size_);
  }
  // Rounds twice (the sum, then the quotient); Threads rounds once.
  void all_reduce_mean(std::span<bf16> x) {
    all_reduce_sum(x);
    for (bf16& v : x) v = bf16(static_cast<float>(v) / static_cast<float>(size_));
  }
  void broadcast(std::span<float> x, int root) { broadcast_raw(x.data(), x.size(), MPI_FLOAT, root); }
  void broadcast(std::span<std::byte> x, int root) { broadcast_raw(x.data(), x.size(), MPI_BYTE, root); }
  void barrier() {
    guarded("MPI_Barrier", [&] { return MPI_Barrier(comm_); });
  }
  void all_gather(std::span<const std::byte> mine, std::span<std::byte> out) {
    check_gather_size(name, mine.size(), out.size(), size_);
    guarded("MPI_Allgather", [&] {
      return MPI_Allgather(mine.data(), count_of(mine.size()), MPI_BYTE, out.data(), count_of(mine.size()), MPI_BYTE, comm_);
    });
  }
  // Ends every process of the job (MPI gives no gentler way to stop ranks
  // that are blocked in a collective); the reason goes to stderr first.
  [[noreturn]] void abort(std::string_view why) {
    std::fprintf(stderr, "graft: comm::Mpi: rank %d aborts the job: %.*s\n", rank_, static_cast<int>(why.size()), why.data());
    std::fflush(stderr);
    MPI_Abort(comm_, 1);
    std::_Exit(1);
  }

 private:
  // MPI counts are int: a larger buffer goes in pieces.
  static constexpr std::size_t max_count = std::size_t{1} << 30;
  static int count_of(std::size_t n) {
    check(n <= max_count, "comm::Mpi: ", n, " elements in one call is more than MPI's int count allows");
    return static_cast<int>(n);
  }

  template <class Call>
  void guarded(const char* what, Call&& call) {
    watchdog_->enter(what, ++collectives_);
    const int rc = call();
    watchdog_->leave();
    detail::check_mpi(rc, what);
  }

  void reduce(void* data, std::size_t count, MPI_Datatype type, MPI_Op op, const char* what) {
    int type_size = 0;
    MPI_Type_size(type, &type_size);
    for (std::size_t at = 0; at < count; at += max_count) {
      const int n = count_of(std::min(max_count, count - at));
      auto* piece = static_cast<std::byte*>(data) + at * static_cast<std::size_t>(type_size);
      guarded(what, [&] { return MPI_Allreduce(MPI_IN_PLACE, piece, n, type, op, comm_); });
    }
  }

  void broadcast_raw(void* data, std::size_t count, MPI_Datatype type, int root) {
    check_root(name, root, size_);
    int type_size = 0;
    MPI_Type_size(type, &type_size);
    for (std::size_t at = 0; at < count; at += max_count) {
      const int n = count_of(std::min(max_count, count - at));
      auto* piece = static_cast<std::byte*>(data) + at * static_cast<std::size_t>(type_size);
      guarded("MPI_Bcast", [&] { return MPI_Bcast(piece, n, type, root, comm_); });
    }
  }

  detail::MpiRuntime& runtime_;
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
  std::uint64_t collectives_ = 0;
  std::unique_ptr<detail::MpiWatchdog> watchdog_;
};

static_assert(Communicator<Mpi>);
static_assert(Communicator<Compressed<Mpi>>);

}  // namespace graft::comm
