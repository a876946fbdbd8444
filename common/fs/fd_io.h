#pragma once
// Small POSIX file-descriptor helpers shared by every on-disk piece (the
// scheduler's blob and log stores, blob transfer in net/, the worker's
// cache): an owning fd, and whole reads and writes that retry on EINTR and
// short counts. Every error names the path and the errno text.

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace receta {

/// Owns one file descriptor; closes it on destruction. -1 = none. Movable,
/// not copyable.
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
  /// Gives up ownership: returns the fd (or -1) and holds none after.
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  /// Closes the fd, if any, ignoring errors (use Close to see them).
  void Reset();
  /// Closes now and reports a failed close (e.g. a delayed write error,
  /// which matters before a rename into place); the error names `path`.
  Status Close(const std::string& path);

 private:
  int fd_ = -1;
};

/// strerror(errno) for the current errno.
std::string ErrnoText();

/// "WHAT PATH: strerror(errno)" for the current errno, e.g.
/// ErrnoText("cannot open", "/x") = "cannot open /x: No such file ...".
std::string ErrnoText(const std::string& what, const std::string& path);

/// Writes all of `bytes` at the fd's current offset.
Status WriteAll(int fd, std::string_view bytes, const std::string& path_for_errors);

/// Writes all of `bytes` at `offset` with pwrite (the fd must not be
/// O_APPEND: Linux's pwrite ignores the offset then). Does not move the
/// fd's offset.
Status PwriteAll(int fd, uint64_t offset, std::string_view bytes,
                 const std::string& path_for_errors);

/// Reads up to `length` bytes at `offset` with pread; fewer only at end of
/// file. Does not move the fd's offset.
Result<std::string> PreadUpTo(int fd, uint64_t offset, uint64_t length,
                              const std::string& path_for_errors);

/// Reads exactly `length` bytes at `offset` into `*out` (resized). A file
/// that ends sooner (it shrank while being read) is an error naming the
/// path and the byte where it ended.
Status PreadExact(int fd, uint64_t offset, uint64_t length, const std::string& path_for_errors,
                  std::string* out);

/// Reads the first `length` bytes of the file at `path` (PreadExact; an
/// open failure names the path).
Status ReadFileExact(const std::string& path, uint64_t length, std::string* out);

}  // namespace receta
