#pragma once
// Content digests of files, symlinks and directory trees. These digests are
// persisted and compared across machines and versions (cache keys, the CAS,
// run records), so the encoding below is a format: change it only together
// with its version string.
//
// Tree digest format, version 1. The digest of a node is:
//   regular file  SHA-256 of its contents (the same as `sha256sum`).
//   symlink       SHA-256 of "receta symlink v1\0" followed by the link's
//                 target exactly as readlink(2) returns it. A link is never
//                 followed, so nothing outside the tree is read.
//   directory     SHA-256 of "receta tree v1\0" followed by one record per
//                 entry ("." and ".." excluded), sorted by name bytewise:
//                   u32 LE    name_size_bytes
//                   bytes     name
//                   u8        kind: 'f' file, 'd' directory, 'l' symlink
//                   u8        executable: 1 if a file's owner-execute bit is
//                             set, else 0; always 0 for directories and links
//                   32 bytes  the entry's digest
// Nothing else enters a digest: not mtime, ctime, owner, group, the other
// permission bits, inode numbers, creation order or the root's own name. A
// fifo, socket or device anywhere in the tree is an error.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/hash/sha256.h"
#include "common/status.h"

namespace receta {

class StatCache;

enum class EntryKind : uint8_t { kFile = 'f', kDirectory = 'd', kSymlink = 'l' };

/// One entry of a directory, as it enters the directory's digest.
struct DirectoryEntry {
  std::string name;
  EntryKind kind = EntryKind::kFile;
  bool executable = false;
  Digest digest;
};

/// One node met while hashing a path, for per-file manifests.
struct TreeEntry {
  std::string relative_path;  // '/'-separated below the root; "" for the root
  EntryKind kind = EntryKind::kFile;
  bool executable = false;
  uint64_t size_bytes = 0;  // file size; target length for links; 0 for directories
  Digest digest;
};

/// What one HashPath call met and did.
struct TreeHashReport {
  /// Every node, root first, depth-first, each directory before its entries,
  /// siblings in name order.
  std::vector<TreeEntry> entries;
  uint64_t files_read = 0;  // files whose contents were hashed
  uint64_t bytes_read = 0;
  uint64_t cache_hits = 0;  // files whose digest came from the stat cache
};

/// The digest of a directory holding `entries` (any order; names unique). Pure.
Digest DirectoryDigest(std::vector<DirectoryEntry> entries);

/// The digest of a symlink whose target is `target`. Pure.
Digest SymlinkDigest(std::string_view target);

/// The digest of the file, symlink or directory at `path` (a symlink at
/// `path` itself is hashed as a link too). With a cache, a file whose stat
/// shows it unchanged is not read, and every file read is recorded; the cache
/// is keyed by `path` + "/" + relative path, so pass one canonical spelling
/// (e.g. absolute) of `path`. Fills `*report_or_null` when given (partly, on
/// error). Errors name the offending path and the errno text. Thread-safe as
/// long as no other thread uses the same cache or report.
Result<Digest> HashPath(const std::string& path, StatCache* cache_or_null,
                        TreeHashReport* report_or_null = nullptr);

}  // namespace receta
