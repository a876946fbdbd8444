#include "common/hash/background_sha256.h"

#include <string>
#include <utility>

namespace receta {

BackgroundSha256::BackgroundSha256(uint64_t total_bytes)
    : thread_(total_bytes >= kWorthAThreadBytes ? std::thread([this] { Serve(); })
                                                : std::thread()) {}

BackgroundSha256::~BackgroundSha256() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void BackgroundSha256::Update(std::shared_ptr<const void> owner, std::string_view bytes) {
  if (bytes.empty()) return;
  if (!thread_.joinable()) {
    hasher_.Update(bytes);
    return;
  }
  std::unique_lock<std::mutex> lock(mu_);
  // One piece always goes in, however big: else a piece over the bound
  // would wait forever.
  changed_.wait(
      lock, [&] { return queued_bytes_ == 0 || queued_bytes_ + bytes.size() <= kMaxQueuedBytes; });
  queue_.push_back({std::move(owner), bytes});
  queued_bytes_ += bytes.size();
  changed_.notify_all();
}

void BackgroundSha256::UpdateCopy(std::string_view bytes) {
  if (!thread_.joinable()) return Update(nullptr, bytes);
  auto copy = std::make_shared<const std::string>(bytes);
  Update(copy, *copy);
}

Digest BackgroundSha256::Finish() {
  if (!thread_.joinable()) return hasher_.Finish();
  std::unique_lock<std::mutex> lock(mu_);
  finishing_ = true;
  changed_.notify_all();
  changed_.wait(lock, [this] { return queued_bytes_ == 0; });
  lock.unlock();
  thread_.join();  // the hasher is this thread's again
  return hasher_.Finish();
}

void BackgroundSha256::Serve() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    changed_.wait(lock, [this] { return stopping_ || finishing_ || !queue_.empty(); });
    if (stopping_) return;
    if (queue_.empty()) return;  // finishing, all hashed
    Piece piece = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    hasher_.Update(piece.bytes);
    piece.owner.reset();  // the bytes go back before the bound is freed
    lock.lock();
    queued_bytes_ -= piece.bytes.size();
    changed_.notify_all();
  }
}

}  // namespace receta
