#include "worker/log_batcher.h"

namespace receta::worker {

void LogBatcher::Add(OutputStream stream, std::string_view bytes, int64_t now_ms) {
  if (bytes.empty()) return;
  if (!pending_.empty() && stream != stream_) Flush();
  if (pending_.empty()) {
    stream_ = stream;
    first_byte_ms_ = now_ms;
  }
  // Why split: a single read may exceed the chunk size (kReadBytes = 64 KiB
  // today, but the batcher must not depend on it).
  while (!bytes.empty()) {
    size_t room = kFlushBytes - pending_.size();
    size_t take = std::min(room, bytes.size());
    pending_.append(bytes.substr(0, take));
    bytes.remove_prefix(take);
    if (pending_.size() >= kFlushBytes) {
      Flush();
      if (!bytes.empty()) {
        stream_ = stream;
        first_byte_ms_ = now_ms;
      }
    }
  }
  Tick(now_ms);
}

void LogBatcher::Tick(int64_t now_ms) {
  if (!pending_.empty() && now_ms - first_byte_ms_ >= kFlushAfterMs) Flush();
}

void LogBatcher::Flush() {
  if (pending_.empty()) return;
  protocol::LogChunk chunk;
  chunk.attempt_id = attempt_id_;
  chunk.stream = std::string(stream_ == OutputStream::kStdout ? protocol::kStdout
                                                              : protocol::kStderr);
  chunk.seq = next_seq_++;
  chunk.offset = next_offset_;
  next_offset_ += pending_.size();
  chunk.data = std::move(pending_);
  pending_.clear();
  emit_(std::move(chunk));
}

}  // namespace receta::worker
