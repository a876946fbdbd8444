#pragma once
// LocalCache: the worker's content-addressed store of blobs it has fetched or
// produced, so a step's inputs are hard-linked into its sandbox instead of
// fetched again.
//
// Layout under the root (<work-dir>/cas):
//   <2 hex>/<digest>     the blob, mode 0444
//   <2 hex>/<digest>.x   the same bytes, mode 0555, made on first need
//   tmp/                 files being written; renamed into place when whole
//
// Why two variants: hard links share the inode and so its mode; a step that
// needs an executable input gets a link to the .x copy, and no chmod ever
// touches a blob that other sandboxes may link to.
//
// Blobs are read-only so a step cannot change them through its sandbox link
// by accident; a step that chmods its inputs can still corrupt them (as in
// Bazel's sandboxes): the worker trusts steps that far. Nothing is evicted
// yet: the cache grows with the distinct blobs the worker has seen.
//
// Thread-safe: every operation is a single rename/link, so concurrent
// attempts may insert the same digest (the last rename wins, same bytes).

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace receta::worker {

class LocalCache {
 public:
  /// Creates `root`, root/tmp and the 256 shard directories if needed.
  static Result<LocalCache> Open(const std::string& root);

  /// Path of the 0444 blob `digest`, present or not.
  std::string BlobPath(const std::string& digest) const;
  /// True when the blob is present.
  bool Contains(const std::string& digest) const;

  /// A fresh path in tmp/ to write a blob to before Adopt().
  std::string TempPath() const;
  /// Moves the file at `temp_path` (written by the caller, already verified
  /// to hash to `digest`) into the cache, read-only.
  Status Adopt(const std::string& temp_path, const std::string& digest);
  /// Stores `source` (which hashes to `digest`) unless present. A file with
  /// one link on the same file system is hard-linked and so becomes 0444
  /// itself (meant for outputs of a finished step, whose sandbox goes
  /// next); anything else is copied.
  Status InsertCopyOf(const std::string& source, const std::string& digest);

  /// Places blob `digest` at `dest` (which must not exist; its parent must):
  /// a hard link, or a copy when the sandbox is on another file system.
  /// An absent blob is an error naming the digest.
  Status Materialize(const std::string& digest, const std::string& dest, bool executable) const;

  const std::string& root() const { return root_; }

 private:
  explicit LocalCache(std::string root) : root_(std::move(root)) {}
  Status EnsureExecutableVariant(const std::string& digest) const;
  std::string root_;
};

/// Copies the file `from` to `to` (created with `mode`, must not exist).
Status CopyFile(const std::string& from, const std::string& to, unsigned mode);

}  // namespace receta::worker
