#pragma once
// Small POSIX file helpers for blob transfer: whole reads and writes at an
// offset, retried on EINTR and short transfers, and an fd that closes itself.

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace receta::net {

/// Owns a file descriptor; closes it on destruction. -1 means none.
class ScopedFd {
 public:
  explicit ScopedFd(int fd = -1) : fd_(fd) {}
  ~ScopedFd();
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  int get() const { return fd_; }
  /// Closes now; an error (e.g. a delayed write failure) names `path`.
  Status Close(const std::string& path);

 private:
  int fd_;
};

/// Reads exactly `length` bytes at `offset` into `*out` (resized). Fewer
/// bytes (the file shrank) or a read error is an error naming `path`.
Status ReadAt(int fd, uint64_t offset, uint64_t length, const std::string& path, std::string* out);

/// Writes all of `data` at `offset`. The error names `path`.
Status WriteAt(int fd, uint64_t offset, std::string_view data, const std::string& path);

/// "what PATH: strerror(errno)" for the current errno.
std::string ErrnoText(const std::string& what, const std::string& path);

}  // namespace receta::net
