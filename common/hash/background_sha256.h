#pragma once
// BackgroundSha256: SHA-256 of a stream of pieces, computed on a thread of
// its own while the caller goes on with them (writing them to disk,
// receiving the next) when the stream is long enough to be worth it, else
// at once on the caller's thread. The callers say how long it will be and
// need not tell the two ways apart.
//
// Why: moving a big blob hashes every byte once more at the receiving end,
// and on the receiver's one thread that pass came on top of the write of
// the same bytes (1 GiB here: ~0.55 s of hashing after ~1.5 s of writing
// into the page cache). On a thread of its own it overlaps the write.
// Worth a thread only for blobs of many megabytes (kWorthAThreadBytes).

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>

#include "common/hash/sha256.h"

namespace receta {

class BackgroundSha256 {
 public:
  /// How many bytes may wait to be hashed before Update blocks: bounds the
  /// memory the pieces' owners hold when hashing is the slower side.
  static constexpr uint64_t kMaxQueuedBytes = 16u << 20;
  /// From this size on a blob is hashed on a thread: several transfer
  /// windows of chunks, where the thread's start (~50 us) is lost in the
  /// ~5 ms of hashing.
  static constexpr uint64_t kWorthAThreadBytes = 8u << 20;

  /// `total_bytes`: how much will be hashed. From kWorthAThreadBytes on the
  /// hashing runs on a thread started here; below, Update hashes at once.
  explicit BackgroundSha256(uint64_t total_bytes);
  /// Joins the thread, if any (what is still queued is dropped unhashed).
  ~BackgroundSha256();
  BackgroundSha256(const BackgroundSha256&) = delete;
  BackgroundSha256& operator=(const BackgroundSha256&) = delete;

  /// Hashes `bytes` after everything before them. On the thread they are
  /// queued, and `owner` keeps them alive until hashed (e.g. the message
  /// they are a view of); Update blocks while more than kMaxQueuedBytes wait.
  void Update(std::shared_ptr<const void> owner, std::string_view bytes);
  /// Update for bytes the caller keeps only until this returns: copied
  /// when they go to the thread, hashed in place otherwise.
  void UpdateCopy(std::string_view bytes);
  /// Waits until everything queued is hashed; the digest of it all. Once.
  Digest Finish();

 private:
  struct Piece {
    std::shared_ptr<const void> owner;
    std::string_view bytes;
  };
  void Serve();

  std::mutex mu_;
  std::condition_variable changed_;
  std::deque<Piece> queue_;    // guarded by mu_
  uint64_t queued_bytes_ = 0;  // guarded by mu_: in queue_ or being hashed
  bool finishing_ = false;     // guarded by mu_
  bool stopping_ = false;      // guarded by mu_
  Sha256 hasher_;              // the thread's until it ends, if there is one
  std::thread thread_;         // last: starts once the rest is made; none for a short stream
};

}  // namespace receta
