#pragma once
// Small POSIX file helpers for the scheduler's on-disk stores (blob_store,
// log_store): an owning fd and full writes and positional reads that retry
// on EINTR and short counts. Errors name the path and the errno text.

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace receta::scheduler {

/// Owns one file descriptor; closes it on destruction. -1 = none.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { Reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = other.Release();
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void Reset();

 private:
  int fd_ = -1;
};

/// Writes all of `bytes` at the fd's current offset.
Status WriteAll(int fd, std::string_view bytes, const std::string& path_for_errors);

/// Writes all of `bytes` at `offset` with pwrite (the fd must not be
/// O_APPEND: Linux's pwrite ignores the offset then).
Status PwriteAll(int fd, uint64_t offset, std::string_view bytes,
                 const std::string& path_for_errors);

/// Reads up to `length` bytes at `offset` with pread; fewer only at end of
/// file. Does not move the fd's offset.
Result<std::string> PreadUpTo(int fd, uint64_t offset, uint64_t length,
                              const std::string& path_for_errors);

/// strerror(errno) as a string.
std::string ErrnoText();

}  // namespace receta::scheduler
