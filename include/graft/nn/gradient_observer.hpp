// GradientObserver: lets a caller see gradients become final during backward.
//
// Data parallelism wants to send a slice of the gradient buffer as soon as no
// later part of backward will add to it, to overlap communication with the
// rest of backward. nn knows nothing of communication, so it only reports:
// a Module tells the observer when it runs forward (its gradients will be
// added to once more) and when its backward starts and ends, and Seq reports
// each child's slice right after the child's backward has added to it.
// Reports may nest (a Seq inside a Seq reports the same slice twice); the
// observer counts a slice once per Module backward. The observer is per
// thread, so ranks that are threads of one process each see their own.
#pragma once

#include <cstdint>

namespace graft::nn {

class GradientObserver {
 public:
  virtual ~GradientObserver() = default;
  // A module over gradients [g, g + span) ran forward.
  virtual void forward_ran(const float* g, std::int64_t span) = 0;
  virtual void backward_began(const float* g, std::int64_t span) = 0;
  // The backward in progress has added its share to [g, g + span).
  virtual void gradients_added(const float* g, std::int64_t span) = 0;
  virtual void backward_ended(const float* g, std::int64_t span) = 0;
};

namespace detail {
inline thread_local GradientObserver* gradient_observer = nullptr;
}  // namespace detail

inline GradientObserver* gradient_observer() { return detail::gradient_observer; }

// Installs an observer on this thread for the scope's lifetime.
class ObserveGradients {
 public:
  explicit ObserveGradients(GradientObserver* observer) : previous_(detail::gradient_observer) {
    detail::gradient_observer = observer;
  }
  ObserveGradients(const ObserveGradients&) = delete;
  ObserveGradients& operator=(const ObserveGradients&) = delete;
  ~ObserveGradients() { detail::gradient_observer = previous_; }

 private:
  GradientObserver* previous_;
};

// What Seq calls after a child's backward.
inline void report_gradients_added(const float* g, std::int64_t span) {
  if (span > 0)
    if (auto* o = detail::gradient_observer) o->gradients_added(g, span);
}

}  // namespace graft::nn
