#include "net/file_io.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace receta::net {

ScopedFd::~ScopedFd() {
  if (fd_ >= 0) ::close(fd_);
}

Status ScopedFd::Close(const std::string& path) {
  int fd = fd_;
  fd_ = -1;
  if (fd >= 0 && ::close(fd) != 0) return Status::Error(ErrnoText("cannot close", path));
  return Status::Ok();
}

std::string ErrnoText(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

Status ReadAt(int fd, uint64_t offset, uint64_t length, const std::string& path, std::string* out) {
  out->resize(length);
  uint64_t done = 0;
  while (done < length) {
    ssize_t n = ::pread(fd, out->data() + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::Error(ErrnoText("cannot read", path));
    }
    if (n == 0) {
      return Status::Error(path + " shrank while it was being sent (ended at byte " +
                           std::to_string(offset + done) + "): it changed after it was hashed; " +
                           "try again once nothing is writing to it");
    }
    done += static_cast<uint64_t>(n);
  }
  return Status::Ok();
}

Status WriteAt(int fd, uint64_t offset, std::string_view data, const std::string& path) {
  uint64_t done = 0;
  while (done < data.size()) {
    ssize_t n =
        ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::Error(ErrnoText("cannot write", path));
    }
    done += static_cast<uint64_t>(n);
  }
  return Status::Ok();
}

}  // namespace receta::net
