#include "common/fs/direct_appender.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "common/fs/fd_io.h"

namespace receta {

DirectAppender::DirectAppender(int fd, std::string path, bool try_direct)
    : fd_(fd), path_(std::move(path)) {
  if (!try_direct) return;  // no staging buffer: ordinary writes go straight through
  buffer_.reset(static_cast<char*>(std::aligned_alloc(kAlignment, kBufferBytes)));
  int flags = ::fcntl(fd_, F_GETFL);
  // Why F_SETFL and not open(O_DIRECT): the caller made the file (mkostemp);
  // a file system without O_DIRECT refuses here, and then it is not used.
  direct_ = buffer_ != nullptr && flags >= 0 && ::fcntl(fd_, F_SETFL, flags | O_DIRECT) == 0;
}

DirectAppender::~DirectAppender() = default;

void DirectAppender::StopDirect() {
  if (!direct_) return;
  direct_ = false;
  int flags = ::fcntl(fd_, F_GETFL);
  if (flags >= 0) (void)::fcntl(fd_, F_SETFL, flags & ~O_DIRECT);
}

Status DirectAppender::WriteBuffer(size_t length) {
  size_t done = 0;
  while (done < length) {
    ssize_t n =
        ::pwrite(fd_, buffer_.get() + done, length - done, static_cast<off_t>(written_ + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      // Why go on without O_DIRECT: some file systems accept the flag but
      // want other alignments; the bytes matter more than the path they take.
      if (errno == EINVAL && direct_) {
        StopDirect();
        continue;
      }
      return Status::Error(ErrnoText("cannot write", path_));
    }
    done += static_cast<size_t>(n);
  }
  written_ += length;
  return Status::Ok();
}

Status DirectAppender::Append(std::string_view bytes) {
  if (!direct_) {
    // Ordinary writes need no staging (nothing is ever left buffered when
    // direct_ is off: a fallback happens while the whole buffer is written).
    if (Status s = PwriteAll(fd_, written_, bytes, path_); !s.ok()) return s;
    written_ += bytes.size();
    return Status::Ok();
  }
  while (!bytes.empty()) {
    size_t take = std::min(kBufferBytes - buffered_, bytes.size());
    std::memcpy(buffer_.get() + buffered_, bytes.data(), take);
    buffered_ += take;
    bytes.remove_prefix(take);
    if (buffered_ == kBufferBytes) {
      if (Status s = WriteBuffer(kBufferBytes); !s.ok()) return s;
      buffered_ = 0;
      if (!direct_) return Append(bytes);  // fell back: the rest goes straight
    }
  }
  return Status::Ok();
}

Status DirectAppender::Finish() {
  const uint64_t length = written_ + buffered_;
  if (buffered_ > 0) {
    size_t padded = buffered_;
    if (direct_) {
      padded = (buffered_ + kAlignment - 1) / kAlignment * kAlignment;
      std::memset(buffer_.get() + buffered_, 0, padded - buffered_);
    }
    if (Status s = WriteBuffer(padded); !s.ok()) return s;
    buffered_ = 0;
    if (written_ != length && ::ftruncate(fd_, static_cast<off_t>(length)) != 0) {
      return Status::Error(ErrnoText("cannot cut to length", path_));
    }
    written_ = length;
  }
  StopDirect();
  return Status::Ok();
}

}  // namespace receta
