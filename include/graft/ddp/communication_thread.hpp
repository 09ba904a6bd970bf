// CommunicationThread: runs collectives in submission order on its own thread.
//
// On the CPU, overlapping a bucket's all-reduce with the rest of backward
// needs a second thread: the rank's own thread keeps computing while this one
// communicates. Tasks run strictly in the order they were queued, which is
// what keeps the collectives of every rank in the same order. After a task
// fails the remaining ones are skipped, and wait() rethrows the failure.
#pragma once

#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

namespace graft::ddp {

class CommunicationThread {
 public:
  CommunicationThread() : thread_([this] { run(); }) {}
  CommunicationThread(const CommunicationThread&) = delete;
  CommunicationThread& operator=(const CommunicationThread&) = delete;
  ~CommunicationThread() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    changed_.notify_all();
    thread_.join();
  }

  void submit(std::function<void()> task) {
    {
      std::lock_guard lock(mutex_);
      tasks_.push_back(std::move(task));
      ++submitted_;
    }
    changed_.notify_all();
  }

  // Blocks until every submitted task has run (or been skipped after a
  // failure), then rethrows the first failure, once.
  void wait() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return finished_ == submitted_; });
    if (auto error = std::exchange(error_, nullptr)) std::rethrow_exception(error);
  }

 private:
  void run() {
    std::unique_lock lock(mutex_);
    for (;;) {
      changed_.wait(lock, [&] { return stop_ || !tasks_.empty(); });
      if (tasks_.empty()) return;  // stop_ and nothing left
      auto task = std::move(tasks_.front());
      tasks_.pop_front();
      const bool skip = error_ != nullptr;
      lock.unlock();
      std::exception_ptr failure;
      if (!skip) {
        try {
          task();
        } catch (...) {
          failure = std::current_exception();
        }
      }
      lock.lock();
      if (failure && !error_) error_ = failure;
      ++finished_;
      changed_.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::function<void()>> tasks_;
  std::uint64_t submitted_ = 0, finished_ = 0;
  std::exception_ptr error_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace graft::ddp
