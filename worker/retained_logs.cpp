#include "worker/retained_logs.h"

namespace receta::worker {

size_t RetainedLogs::Add(const std::string& attempt_id, std::string encoded_chunk) {
  Attempt& attempt = by_attempt_[attempt_id];
  attempt.bytes += encoded_chunk.size();
  total_bytes_ += encoded_chunk.size();
  attempt.chunks.push_back(std::move(encoded_chunk));
  size_t dropped = 0;
  while (attempt.bytes > kMaxBytesPerAttempt && attempt.chunks.size() > 1) {
    attempt.bytes -= attempt.chunks.front().size();
    total_bytes_ -= attempt.chunks.front().size();
    attempt.chunks.pop_front();
    ++dropped;
  }
  return dropped;
}

void RetainedLogs::Forget(const std::string& attempt_id) {
  auto it = by_attempt_.find(attempt_id);
  if (it == by_attempt_.end()) return;
  total_bytes_ -= it->second.bytes;
  by_attempt_.erase(it);
}

void RetainedLogs::ForEach(const std::function<void(const std::string&)>& send) const {
  for (const auto& [id, attempt] : by_attempt_) {
    for (const std::string& chunk : attempt.chunks) send(chunk);
  }
}

}  // namespace receta::worker
