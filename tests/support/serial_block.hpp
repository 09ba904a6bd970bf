// A GPU thread block's threads, run on the CPU one at a time, so that CI
// (which has no GPU) checks the barriers of code written for a block: code
// that takes its thread's rank, the block's size and a barrier, as
// graft/loss/dssim_tiles.hpp does for the fused loss kernels.
//
// Each thread is a fiber (ucontext) with its own stack (with a guard page,
// so that an overflow faults). Between two barriers
// the threads run one after another in a fixed order, ascending or
// descending rank; a barrier hands over to the next thread. Run in both
// orders, a read of something another thread writes in the same phase (a
// missing barrier) sees the value from before the write in one of them,
// every time: a race becomes a deterministic wrong result. Threads that reach
// different numbers of barriers (a barrier inside a branch, undefined on a
// GPU) are an error here.
#pragma once

#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "graft/core/error.hpp"

namespace graft::testing {

enum class ThreadOrder { ascending, descending };

class SerialBlock {
 public:
  // What a thread calls where a kernel calls __syncthreads().
  class Barrier {
   public:
    void operator()() const { block_->arrive(); }

   private:
    friend class SerialBlock;
    explicit Barrier(SerialBlock* block) : block_(block) {}
    SerialBlock* block_;
  };
  using Body = std::function<void(int rank, Barrier barrier)>;

  SerialBlock(int threads, ThreadOrder order, std::size_t stack_bytes = 256 * 1024)
      : order_(order), stack_bytes_(stack_bytes), fibers_(std::size_t(threads)) {
    check(threads >= 1, "SerialBlock: ", threads, " threads");
    for (Fiber& f : fibers_) f.stack = Stack(stack_bytes);
  }
  SerialBlock(const SerialBlock&) = delete;
  SerialBlock& operator=(const SerialBlock&) = delete;

  int threads() const { return int(fibers_.size()); }
  // How many barriers every thread reached in the last run.
  int barriers() const { return barriers_; }

  // body(rank, barrier) for every rank < threads(), as one block would.
  // Rethrows the exception of the lowest rank that threw; throws graft::Error
  // when the threads reach different numbers of barriers.
  void run(const Body& body) {
    body_ = &body;
    for (Fiber& f : fibers_) {
      check(getcontext(&f.context) == 0, "SerialBlock: getcontext");
      f.context.uc_stack.ss_sp = f.stack.bottom();
      f.context.uc_stack.ss_size = stack_bytes_;
      f.context.uc_link = &scheduler_;
      f.finished = false, f.error = nullptr;
      const auto self = reinterpret_cast<std::uintptr_t>(this);
      makecontext(&f.context, reinterpret_cast<void (*)()>(&SerialBlock::entry), 2, unsigned(self >> 32), unsigned(self));
    }
    abort_ = false;
    std::string divergence;
    for (int phase = 0;; ++phase) {
      for (int k = 0; k < threads(); ++k) resume(order_ == ThreadOrder::ascending ? k : threads() - 1 - k);
      int finished = 0;
      for (const Fiber& f : fibers_) finished += f.finished ? 1 : 0;
      barriers_ = phase;
      if (finished == threads()) break;
      if (any_error()) {
        abort_ = true;  // the others unwind from their barrier; the error is rethrown below
      } else if (finished > 0 && divergence.empty()) {
        divergence = "SerialBlock: threads reach different numbers of barriers (" + std::to_string(finished) + " of " +
                     std::to_string(threads()) + " returned after " + std::to_string(phase) + " barriers, the others wait at barrier " +
                     std::to_string(phase + 1) + ")";
        abort_ = true;  // the waiting threads unwind from their barrier
      }
    }
    body_ = nullptr;
    for (const Fiber& f : fibers_)
      if (f.error) std::rethrow_exception(f.error);
    check(divergence.empty(), divergence);
  }

 private:
  // A fiber's stack with an inaccessible page below it: an overflow faults
  // instead of writing over whatever the heap has there.
  class Stack {
   public:
    Stack() = default;
    explicit Stack(std::size_t bytes) : mapped_(bytes + page()) {
      void* p = mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      check(p != MAP_FAILED, "SerialBlock: mmap of a ", bytes, "-byte stack");
      base_ = static_cast<char*>(p);
      check(mprotect(base_, page(), PROT_NONE) == 0, "SerialBlock: mprotect of a stack's guard page");
    }
    Stack(Stack&& other) noexcept : base_(std::exchange(other.base_, nullptr)), mapped_(other.mapped_) {}
    Stack& operator=(Stack&& other) noexcept {
      std::swap(base_, other.base_);
      std::swap(mapped_, other.mapped_);
      return *this;
    }
    ~Stack() {
      if (base_) munmap(base_, mapped_);
    }
    void* bottom() const { return base_ + page(); }

   private:
    static std::size_t page() { return std::size_t(sysconf(_SC_PAGESIZE)); }
    char* base_ = nullptr;
    std::size_t mapped_ = 0;
  };

  struct Fiber {
    ucontext_t context{};
    Stack stack;
    bool finished = false;
    std::exception_ptr error;
  };
  // Thrown at a barrier to unwind a thread whose block has failed; not an error of its own.
  struct Unwind {};

  static void entry(unsigned high, unsigned low) {
    auto* block = reinterpret_cast<SerialBlock*>((std::uintptr_t(high) << 32) | std::uintptr_t(low));
    Fiber& f = block->fibers_[std::size_t(block->current_)];
    const int rank = block->current_;
    try {
      (*block->body_)(rank, Barrier(block));
    } catch (const Unwind&) {
    } catch (...) {
      f.error = std::current_exception();
    }
    f.finished = true;  // returning resumes the scheduler (uc_link)
  }

  void resume(int rank) {
    Fiber& f = fibers_[std::size_t(rank)];
    if (f.finished) return;
    current_ = rank;
    check(swapcontext(&scheduler_, &f.context) == 0, "SerialBlock: swapcontext");
  }

  void arrive() {
    Fiber& f = fibers_[std::size_t(current_)];
    check(swapcontext(&f.context, &scheduler_) == 0, "SerialBlock: swapcontext");
    if (abort_) throw Unwind{};
  }

  bool any_error() const {
    for (const Fiber& f : fibers_)
      if (f.error) return true;
    return false;
  }

  ThreadOrder order_;
  std::size_t stack_bytes_;
  std::vector<Fiber> fibers_;
  ucontext_t scheduler_{};
  const Body* body_ = nullptr;
  int current_ = 0, barriers_ = 0;
  bool abort_ = false;
};

}  // namespace graft::testing
