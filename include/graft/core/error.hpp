// graft::Error: the one exception type of the library.
//
// Every failure a user can cause (a bad file, shape, flag or configuration)
// throws graft::Error with a message that names what failed and where, so
// that a program can print e.what() and exit non-zero. `fail(...)` formats
// its arguments with operator<< so call sites stay one line.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace graft {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

template <class... Parts>
std::string concat(Parts&&... parts) {
  std::ostringstream os;
  (os << ... << std::forward<Parts>(parts));
  return os.str();
}

template <class... Parts>
[[noreturn]] void fail(Parts&&... parts) {
  throw Error(concat(std::forward<Parts>(parts)...));
}

template <class... Parts>
void check(bool condition, Parts&&... parts) {
  if (!condition) fail(std::forward<Parts>(parts)...);
}

}  // namespace graft
