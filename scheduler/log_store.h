#pragma once
// LogStore: each attempt's stdout and stderr, interleaved as they arrived, in
// one file per attempt under <data-dir>/logs/<run id>/<attempt id>.log. Kept
// on disk, never in memory; an attempt's log is capped at `cap_bytes`, after
// which one marker line is written and further output is counted, not
// stored.
//
// The cut, exactly: the first cap_bytes bytes are kept (the cut may fall
// inside a line); then, preceded by "\n" when the kept bytes do not end in
// one, a marker line of fixed length for a given cap:
//
//   "[receta: log cut at N bytes; M more bytes dropped]" + padding + "\n"
//
// N = cap_bytes, M = every byte dropped so far, padding = spaces so that M
// and the padding take 20 characters. The marker is written once; later
// drops rewrite M in place, so the file's size never changes after the cut
// and offsets stay valid: a reader that re-reads the marker sees the current
// M. After a restart M is recovered from the marker.
//
// Ids used in paths (run ids, attempt ids) must be 1..255 characters of
// [A-Za-z0-9._-], not "." and without "..": anything else is refused, so no
// id can name a file outside logs_dir. At most kMaxOpenFiles attempt files
// are open at once (least recently appended closed first). Thread-safe.

#include <cstdint>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace receta::scheduler {

class LogStore {
 public:
  /// Open append handles kept at once.
  static constexpr size_t kMaxOpenFiles = 64;
  /// Most bytes one Read returns.
  static constexpr uint64_t kMaxReadBytes = 8u << 20;

  /// Creates `logs_dir` if needed. cap_bytes = 0 stores nothing but the marker.
  static Result<std::unique_ptr<LogStore>> Open(const std::string& logs_dir, uint64_t cap_bytes);
  virtual ~LogStore() = default;

  /// Adds `bytes`, which start at `offset` of everything the attempt
  /// printed, to the attempt's log (creating its file). Idempotent, because
  /// workers send chunks at least once: only the bytes past Received() are
  /// kept. When `offset` is past Received() the bytes between were lost (a
  /// worker keeps only a bounded tail to resend): a note line saying how
  /// many is written where they were, then `bytes`.
  virtual Status Append(const std::string& run_id, const std::string& attempt_id,
                        uint64_t offset, std::string_view bytes) = 0;
  /// How far into the attempt's output the log reaches: bytes received,
  /// whether kept or dropped past the cap, lost bytes included (0 when none
  /// or when an id is invalid). After a restart it is recovered from the
  /// file: its size, or the cap plus the marker's count once cut (so a
  /// lost-bytes note then counts as its own length, not the bytes it names).
  virtual uint64_t Received(const std::string& run_id, const std::string& attempt_id) = 0;
  /// Bytes stored so far for the attempt, the marker included (0 when none
  /// or when an id is invalid).
  virtual uint64_t Size(const std::string& run_id, const std::string& attempt_id) const = 0;
  /// Up to min(max_bytes, kMaxReadBytes) from `offset`; empty at or past the
  /// end or when no log exists. Error for an invalid id or a failed read.
  virtual Result<std::string> Read(const std::string& run_id, const std::string& attempt_id,
                                   uint64_t offset, uint64_t max_bytes) const = 0;
  /// Closes the attempt's file handle and forgets its state (the attempt
  /// ended). A later Append reopens the file and recovers its state.
  virtual void Close(const std::string& attempt_id) = 0;
};

/// The last `max_lines` lines of an attempt's log (read from its last
/// `max_bytes`; the first, cut line is dropped), for alerts. Empty when
/// there is no log or it cannot be read.
std::vector<std::string> LastLogLines(const LogStore& logs, const std::string& run_id,
                                      const std::string& attempt_id, size_t max_lines, uint64_t max_bytes);

}  // namespace receta::scheduler
