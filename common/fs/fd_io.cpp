#include "common/fs/fd_io.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

namespace receta {

void UniqueFd::Reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Status UniqueFd::Close(const std::string& path) {
  int fd = Release();
  if (fd >= 0 && ::close(fd) != 0) return Status::Error(ErrnoText("cannot close", path));
  return Status::Ok();
}

std::string ErrnoText() { return ::strerror(errno); }

std::string ErrnoText(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + ErrnoText();
}

Status WriteAll(int fd, std::string_view bytes, const std::string& path_for_errors) {
  while (!bytes.empty()) {
    ssize_t wrote = ::write(fd, bytes.data(), bytes.size());
    if (wrote < 0) {
      if (errno == EINTR) continue;
      return Status::Error(path_for_errors + ": write failed: " + ErrnoText());
    }
    bytes.remove_prefix(static_cast<size_t>(wrote));
  }
  return Status::Ok();
}

Status PwriteAll(int fd, uint64_t offset, std::string_view bytes,
                 const std::string& path_for_errors) {
  while (!bytes.empty()) {
    ssize_t wrote = ::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset));
    if (wrote < 0) {
      if (errno == EINTR) continue;
      return Status::Error(path_for_errors + ": write at offset " + std::to_string(offset) +
                           " failed: " + ErrnoText());
    }
    bytes.remove_prefix(static_cast<size_t>(wrote));
    offset += static_cast<uint64_t>(wrote);
  }
  return Status::Ok();
}

Result<std::string> PreadUpTo(int fd, uint64_t offset, uint64_t length,
                              const std::string& path_for_errors) {
  std::string out(length, '\0');
  size_t got = 0;
  while (got < length) {
    ssize_t n = ::pread(fd, out.data() + got, length - got, static_cast<off_t>(offset + got));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::Error(path_for_errors + ": read at offset " + std::to_string(offset + got) +
                           " failed: " + ErrnoText());
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  out.resize(got);
  return out;
}

Status PreadExact(int fd, uint64_t offset, uint64_t length, const std::string& path_for_errors,
                  std::string* out) {
  Result<std::string> got = PreadUpTo(fd, offset, length, path_for_errors);
  if (!got.ok()) return got.status();
  if (got->size() != length) {
    return Status::Error(path_for_errors + " shrank while it was being read (ended at byte " +
                         std::to_string(offset + got->size()) + ", " + std::to_string(length) +
                         " bytes from offset " + std::to_string(offset) +
                         " were expected); try again once nothing is writing to it");
  }
  *out = std::move(*got);
  return Status::Ok();
}

Status ReadFileExact(const std::string& path, uint64_t length, std::string* out) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd.valid()) return Status::Error(ErrnoText("cannot open", path));
  return PreadExact(fd.get(), 0, length, path, out);
}

}  // namespace receta
