#pragma once
// RetainedLogs: the worker's copy of each unfinished attempt's log chunks,
// so delivery is at least once. A chunk sent just before the scheduler was
// killed may sit unread in the dead process's socket; the agent sends every
// retained chunk again after each RegisterAck, and the scheduler's log store
// keeps each byte once (by LogChunk.offset). An attempt's chunks are
// forgotten when its AttemptFinishedAck arrives: the scheduler read the
// chunks before the result they preceded.
//
// Bounded: per attempt only the newest kMaxBytesPerAttempt are kept (a
// training step may print gigabytes); older chunks were sent while the
// scheduler was up, so only a restart at the wrong moment loses them, and
// the scheduler then writes a note saying how many bytes are missing. Pure:
// no I/O, no clock.

#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <string>

namespace receta::worker {

class RetainedLogs {
 public:
  static constexpr size_t kMaxBytesPerAttempt = 8u << 20;

  /// Keeps one encoded LogChunk header of the attempt, newest last; drops
  /// the attempt's oldest chunks beyond kMaxBytesPerAttempt (never the one
  /// just added). Returns how many were dropped.
  size_t Add(const std::string& attempt_id, std::string encoded_chunk);
  /// Forgets the attempt's chunks (its result was acknowledged).
  void Forget(const std::string& attempt_id);
  /// Calls `send` with every retained chunk: attempt by attempt, each
  /// attempt's chunks oldest first (the order they were printed in).
  void ForEach(const std::function<void(const std::string& encoded_chunk)>& send) const;

  size_t bytes() const { return total_bytes_; }
  size_t attempts() const { return by_attempt_.size(); }

 private:
  struct Attempt {
    std::deque<std::string> chunks;
    size_t bytes = 0;
  };
  std::map<std::string, Attempt> by_attempt_;
  size_t total_bytes_ = 0;
};

}  // namespace receta::worker
