// Writing a file so that a crash never leaves half of it behind.
//
// A training run is killed at any moment: by the scheduler, the OOM killer,
// a power cut. If it dies while overwriting its checkpoint, the run is lost.
// AtomicFile writes to "<path>.tmp-<pid>-<n>" in the destination's directory,
// fsyncs it, renames it over the destination (atomic within one file system)
// and fsyncs the directory so that the rename itself is durable. Readers see
// the old file or the new one, never a mix. On any failure the temporary
// file is removed and graft::Error names the path and the system's reason.
// POSIX only, as is the rest of graft's host code.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "graft/core/error.hpp"

namespace graft::io {

namespace detail {

// strerror without its thread-safety problem.
inline std::string system_message(int error) { return std::generic_category().message(error); }

// A POSIX file descriptor that closes itself.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  // Closes now and returns close()'s errno (0 on success): on NFS, a
  // failed close is where a failed write shows up.
  int close() {
    if (fd_ < 0) return 0;
    const int result = ::close(std::exchange(fd_, -1));
    return result == 0 ? 0 : errno;
  }
  void reset() { close(); }

 private:
  int fd_ = -1;
};

inline std::filesystem::path directory_of(const std::filesystem::path& path) {
  const auto parent = path.parent_path();
  return parent.empty() ? std::filesystem::path(".") : parent;
}

}  // namespace detail

// A file written in pieces and published all at once by commit(). Destroyed
// without commit() (an exception while writing), it removes its temporary
// file and leaves the destination as it was.
class AtomicFile {
 public:
  // The temporary file is created exclusively (O_EXCL) under a name unique
  // to this process and this AtomicFile, so two saves to one destination
  // (from two threads, or two processes) never write into the same file; a
  // name left behind by a crashed run is skipped. The mode is 0666 less the
  // umask, as for any new file.
  explicit AtomicFile(std::filesystem::path destination) : destination_(std::move(destination)) {
    static std::atomic<std::uint64_t> counter{0};
    for (int attempt = 0; attempt < 100 && !fd_; ++attempt) {
      temporary_ = destination_.string() + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
      fd_ = detail::UniqueFd(::open(temporary_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666));
      if (!fd_ && errno != EEXIST) break;
    }
    if (!fd_) {
      const int error = errno;
      fail(destination_.string(), ": cannot create the temporary file '", temporary_.string(),
           "': ", detail::system_message(error));
    }
  }
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile() { abandon(); }

  const std::filesystem::path& destination() const { return destination_; }
  const std::filesystem::path& temporary() const { return temporary_; }

  void write(std::span<const std::byte> bytes) {
    check(fd_ && !committed_, destination_.string(), ": AtomicFile::write after commit or failure");
    while (!bytes.empty()) {
      const ssize_t written = ::write(fd_.get(), bytes.data(), bytes.size());
      if (written < 0 && errno == EINTR) continue;
      if (written < 0) fail_with("cannot write '" + temporary_.string() + "'", errno);
      bytes = bytes.subspan(static_cast<std::size_t>(written));
    }
  }

  // Makes the written bytes the destination's contents, durably.
  void commit() {
    check(fd_ && !committed_, destination_.string(), ": AtomicFile::commit after commit or failure");
    if (::fsync(fd_.get()) != 0) fail_with("cannot flush '" + temporary_.string() + "' to disk", errno);
    if (const int error = fd_.close()) fail_with("cannot close '" + temporary_.string() + "'", error);
    if (::rename(temporary_.c_str(), destination_.c_str()) != 0)
      fail_with("cannot rename '" + temporary_.string() + "' over it", errno);
    committed_ = true;
    sync_directory();
  }

 private:
  // The rename is durable only once the directory entry is on disk. Some
  // file systems cannot fsync a directory (EINVAL); there is nothing more to do.
  void sync_directory() const {
    const auto directory = detail::directory_of(destination_);
    detail::UniqueFd dir(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir && ::fsync(dir.get()) == 0) return;
    const int error = errno;
    if (error == EINVAL) return;
    fail(destination_.string(), ": written, but cannot flush its directory '", directory.string(),
         "' to disk: ", detail::system_message(error));
  }

  void abandon() noexcept {
    if (committed_) return;
    fd_.reset();
    ::unlink(temporary_.c_str());
  }

  [[noreturn]] void fail_with(const std::string& what, int error) {
    abandon();
    fail(destination_.string(), ": ", what, ": ", detail::system_message(error));
  }

  std::filesystem::path destination_, temporary_;
  detail::UniqueFd fd_;
  bool committed_ = false;
};

// Replaces `path` with `contents` atomically.
inline void write_file_atomically(const std::filesystem::path& path, std::span<const std::byte> contents) {
  AtomicFile file(path);
  file.write(contents);
  file.commit();
}

}  // namespace graft::io
