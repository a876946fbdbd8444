#pragma once
// LogBatcher: turns the small reads of a step's stdout and stderr into
// LogChunk messages: one chunk per stream run, flushed when it reaches
// kFlushBytes or when its first byte is kFlushAfterMs old. Pure: the caller
// passes the time, so tests need no clock.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/protocol/messages.h"
#include "worker/process.h"

namespace receta::worker {

class LogBatcher {
 public:
  static constexpr size_t kFlushBytes = 64 * 1024;
  static constexpr int64_t kFlushAfterMs = 50;

  /// `emit` receives each finished chunk (seq counts from 0 across streams).
  LogBatcher(std::string attempt_id, std::function<void(protocol::LogChunk)> emit)
      : attempt_id_(std::move(attempt_id)), emit_(std::move(emit)) {}

  /// Adds bytes read at `now_ms`. A change of stream flushes what was
  /// batched first, so chunks keep the order the bytes were read in.
  void Add(OutputStream stream, std::string_view bytes, int64_t now_ms);
  /// Flushes when the batch is old enough.
  void Tick(int64_t now_ms);
  /// Flushes whatever is batched (end of the attempt).
  void Flush();

  uint64_t chunks_emitted() const { return next_seq_; }
  /// Bytes in the chunks emitted so far: the next chunk's offset.
  uint64_t bytes_emitted() const { return next_offset_; }

 private:
  std::string attempt_id_;
  std::function<void(protocol::LogChunk)> emit_;
  OutputStream stream_ = OutputStream::kStdout;
  std::string pending_;
  int64_t first_byte_ms_ = 0;
  uint64_t next_seq_ = 0;
  uint64_t next_offset_ = 0;
};

}  // namespace receta::worker
