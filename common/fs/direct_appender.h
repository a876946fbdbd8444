#pragma once
// DirectAppender: writes a big file front to back with O_DIRECT, past the
// page cache, through an aligned staging buffer.
//
// Why: a write-once blob of gigabytes (the scheduler's copy of a model or a
// dataset) written through the page cache leaves that many dirty pages.
// Past vm.dirty_background_ratio (10% of memory by default) every writer on
// the machine is held to the speed of writeback, the workers downloading
// the same blob included: on the 24 GiB benchmark machine a 1 GiB artifact
// moved in 4.7-5.9 s when it stayed under that budget and in 12.3 s when it
// did not. Direct writes leave no dirty pages, and take no page-cache
// memory from the steps (object stores such as MinIO write big objects so).
//
// O_DIRECT wants the buffer, the offset and the length aligned (4096 bytes
// covers every common device); bytes are gathered into an aligned buffer
// and written a whole buffer at a time; Finish writes the last partial
// block padded with zeros and cuts the file to its exact length. Where the
// file system refuses O_DIRECT (tmpfs) or a direct write fails with EINVAL,
// the appender falls back to ordinary writes for the rest of the file.
// One thread at a time.

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace receta {

class DirectAppender {
 public:
  static constexpr size_t kAlignment = 4096;
  static constexpr size_t kBufferBytes = 4u << 20;

  /// Appends to `fd` (open for writing, empty, not owned) from offset 0.
  /// `path` names it in errors. `try_direct` false: ordinary writes only,
  /// with no staging buffer (so small files cost nothing extra).
  DirectAppender(int fd, std::string path, bool try_direct = true);
  ~DirectAppender();
  DirectAppender(const DirectAppender&) = delete;
  DirectAppender& operator=(const DirectAppender&) = delete;

  Status Append(std::string_view bytes);
  /// Writes what is buffered, leaves the file exactly as long as what was
  /// appended, and turns O_DIRECT off again (the fd stays open).
  Status Finish();
  /// True while writes go past the page cache.
  bool direct() const { return direct_; }

 private:
  struct FreeAligned {
    void operator()(char* p) const { std::free(p); }
  };
  /// Writes buffer_[0, length) at written_ (length a multiple of
  /// kAlignment when direct), falling back once on EINVAL.
  Status WriteBuffer(size_t length);
  void StopDirect();

  int fd_;
  std::string path_;
  bool direct_ = false;
  std::unique_ptr<char, FreeAligned> buffer_;
  size_t buffered_ = 0;   // bytes in buffer_ not yet written
  uint64_t written_ = 0;  // bytes written to the file (a multiple of kAlignment while direct)
};

}  // namespace receta
