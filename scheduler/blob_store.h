#pragma once
// BlobStore: the scheduler's content-addressed store of artifact blobs, in
// <data-dir>/cas/<first two hex digits>/<digest>. A blob is written to a temp
// file under <data-dir>/cas/tmp/, its SHA-256 checked against the digest it
// claims, then renamed into place: a reader never sees a partial blob, and a
// crash mid-write leaves only a temp file (removed on Open). Reads verify:
// ReadChunk checks sizes; VerifyBlob re-hashes (a corrupted blob is removed).
// Blobs of 8 MiB and more are written with O_DIRECT, leaving no dirty pages
// (common/fs/direct_appender.h).
// Nothing here holds a whole blob in memory.
//
// Every digest is checked with protocol::ValidateDigest (64 lowercase hex)
// before it becomes a path: a bad digest is an error (Has: false, PathOf:
// ""). A stored blob is mode 0444; it is not fdatasync'ed (why: blob_store.cpp
// Install).
// Two writers of one digest may run at once: each has its own temp file and
// both succeed (the second rename replaces identical bytes). Thread-safe:
// the store keeps no state but the directory; one BlobWriter is used by one
// thread at a time.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/hash/background_sha256.h"
#include "common/hash/sha256.h"
#include "common/status.h"

namespace receta::scheduler {

/// The checks every BlobWriter makes on what arrives, shared by the file and
/// the small-blob writers: chunks in order and never past the declared
/// size; at the end exactly that size, hashing to the declared digest.
/// Errors name the blob.
///
/// A big blob is hashed on a thread of its own (BackgroundSha256), off the
/// scheduler's loop: each chunk is copied for it (~0.06 ms per MiB) instead
/// of hashed there (~0.55 ms per MiB), so the loop can take the next chunk
/// and serve everyone else meanwhile.
class BlobWriteCheck {
 public:
  BlobWriteCheck(std::string digest, uint64_t size_bytes)
      : digest_(std::move(digest)), size_bytes_(size_bytes), hasher_(size_bytes) {}
  /// Ok when `bytes` may be stored at `offset` (then counted and hashed).
  Status Accept(uint64_t offset, std::string_view bytes);
  /// Ok when everything arrived and hashes to the digest.
  Status Complete();
  uint64_t written() const { return written_; }
  const std::string& digest() const { return digest_; }
  std::string Name() const { return "blob " + digest_; }

 private:
  std::string digest_;
  uint64_t size_bytes_;
  uint64_t written_ = 0;
  BackgroundSha256 hasher_;
};

class BlobWriter {
 public:
  virtual ~BlobWriter() = default;
  /// Appends at `offset`, which must equal bytes_written() (chunks in order).
  virtual Status Write(uint64_t offset, std::string_view bytes) = 0;
  virtual uint64_t bytes_written() const = 0;
  /// Checks size and digest, then renames into place. On a mismatch the temp
  /// file is removed and the error says what was expected and what arrived.
  virtual Status Finish() = 0;
  /// Removes the temp file (also done by the destructor if not finished).
  virtual void Abort() = 0;
};

class BlobStore {
 public:
  /// Creates the directories, removes temp files left by a crash.
  static Result<std::unique_ptr<BlobStore>> Open(const std::string& cas_dir);
  virtual ~BlobStore() = default;

  /// True when the blob file exists with this size (size 0 = any). One stat.
  virtual bool Has(const std::string& digest, uint64_t size_bytes = 0) const = 0;
  /// Size of a stored blob, or an error when absent.
  virtual Result<uint64_t> Size(const std::string& digest) const = 0;
  /// <cas_dir>/<aa>/<digest>, or "" when `digest` is not a valid digest.
  virtual std::string PathOf(const std::string& digest) const = 0;
  /// Starts writing a blob of `size_bytes` that must hash to `digest`.
  virtual Result<std::unique_ptr<BlobWriter>> BeginWrite(const std::string& digest,
                                                         uint64_t size_bytes) = 0;
  /// Copies a local file into the store (hashing it); returns its digest.
  virtual Result<std::string> PutFile(const std::string& path) = 0;
  /// Up to `length` bytes from `offset` (fewer at the end, empty at the
  /// end). Error when absent, when offset is past the end, or when length is
  /// over 64 MiB (read in chunks).
  virtual Result<std::string> ReadChunk(const std::string& digest, uint64_t offset,
                                        uint64_t length) const = 0;
  /// Re-hashes the blob; a blob whose bytes do not match is removed and the
  /// error says so.
  virtual Status VerifyBlob(const std::string& digest) = 0;
  /// Removes the blob; Ok when it was not there.
  virtual Status Remove(const std::string& digest) = 0;
};

}  // namespace receta::scheduler
