#pragma once
// TieredBlobStore: the scheduler's CAS as the server uses it. Blobs up to
// kSmallBlobBytes live in RocksDB (Store "blob_bytes"), larger ones are files
// (BlobStore::Open, blob_store.h).
//
// Why two tiers: most steps of a pipeline read and write files of a few
// bytes to a few KB (configs, metrics, markers), and a file per blob cost
// more than the step: creating an inode, writing, chmod, rename and a stat
// per check, on the path of every step. A small blob instead goes into the
// same RocksDB batch as the step result that refers to it: one write, one
// fsync for both, and atomic with it (a crash keeps both or neither).
//
// A small blob is pending from its writer's Finish until the server's next
// commit: visible to every read here at once, durable only once
// TakePending's bytes are committed (Server::CommitTurn). So an answer that
// promises a small blob is stored (BlobPutDone) must wait for that commit.
// Reads verify as the file tier does: VerifyBlob re-hashes and drops a
// corrupt blob. Only the scheduler's loop thread uses it (as the Store).

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "scheduler/blob_store.h"
#include "scheduler/store.h"

namespace receta::scheduler {

class TieredBlobStore final : public BlobStore {
 public:
  /// Blobs of at most this many bytes are kept in RocksDB.
  static constexpr uint64_t kSmallBlobBytes = 64u << 10;

  TieredBlobStore(std::unique_ptr<BlobStore> files, Store& store)
      : files_(std::move(files)), store_(store) {}

  bool Has(const std::string& digest, uint64_t size_bytes = 0) const override;
  Result<uint64_t> Size(const std::string& digest) const override;
  /// The file tier's path: "" for a small blob's digest too (it has none).
  std::string PathOf(const std::string& digest) const override { return files_->PathOf(digest); }
  Result<std::unique_ptr<BlobWriter>> BeginWrite(const std::string& digest,
                                                 uint64_t size_bytes) override;
  /// Into the file tier, whatever its size (a local file, not a step's).
  Result<std::string> PutFile(const std::string& path) override { return files_->PutFile(path); }
  Result<std::string> ReadChunk(const std::string& digest, uint64_t offset,
                                uint64_t length) const override;
  Status VerifyBlob(const std::string& digest) override;
  /// Removes the blob from both tiers (a small one with its own synced commit).
  Status Remove(const std::string& digest) override;

  /// Small blobs finished since the last call, to commit (digest -> bytes).
  std::map<std::string, std::string> TakePending() { return std::exchange(pending_, {}); }
  bool HasPending() const { return !pending_.empty(); }
  /// True when `size_bytes` goes to RocksDB.
  static bool IsSmall(uint64_t size_bytes) { return size_bytes <= kSmallBlobBytes; }

 private:
  friend class SmallBlobWriter;
  /// A small blob's bytes: pending, or from RocksDB; nullopt when it is not
  /// a small blob here (or the read failed, which is logged).
  std::optional<std::string> SmallBytes(const std::string& digest) const;

  std::unique_ptr<BlobStore> files_;
  Store& store_;
  std::map<std::string, std::string> pending_;
};

}  // namespace receta::scheduler
