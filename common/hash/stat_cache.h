#pragma once
// StatCache: remembers the SHA-256 of files by path together with the stat
// fields that change whenever a file's contents can have changed, so that
// re-hashing an unchanged dataset costs one lstat per file (as in DVC, Bazel
// and git's index).
//
// Trust rule. Lookup() returns the remembered digest only when
//  1. size_bytes, mtime_ns, ctime_ns and inode all equal a fresh lstat, and
//  2. the entry is not "racy": both mtime_ns and ctime_ns are strictly older
//     than recorded_at_ns - kRacyMarginNs.
// Why 2 (git's "racy git" problem): file systems stamp times with a coarse
// clock (a jiffy on ext4, 1 s on some network file systems, 2 s on FAT). A file
// rewritten with the same size in the same tick in which it was hashed keeps
// an identical stat, so an entry is only trusted once the file's last change is
// safely older than the moment its contents were read. A racy entry is
// re-hashed and re-recorded on the next use, after which it is trusted.
// ctime is checked as well as mtime because tools such as `cp -p` and `touch`
// put an old mtime back; the kernel always sets ctime to "now".
// The device number is deliberately not compared: it is not stable across
// remounts of NFS, btrfs subvolumes or overlay file systems, and comparing it
// would re-hash whole datasets after a reboot. A clock skew between this host
// and a network file server larger than kRacyMarginNs defeats rule 2.
//
// File format, version 1 (all integers little-endian):
//   header   20 bytes  signature "# receta stat cache\n"
//             u32      format version (1)
//   records, repeated to the end of the file:
//             u32      path_size_bytes, 1..kMaxPathBytes
//             bytes    path (as given to Record; not NUL-terminated)
//             u64      size_bytes
//             i64      mtime_ns   (since the Unix epoch)
//             i64      ctime_ns
//             u64      inode
//             i64      recorded_at_ns (wall clock before the contents were read)
//             32 bytes SHA-256 of the file's contents
//             u64      checksum: FNV-1a 64 of every preceding byte of the record
// A later record for the same path replaces an earlier one. Loading never
// fails on bad contents: a wrong signature or version discards the whole file,
// and a truncated or corrupt record discards it and everything after it.
// Save() rewrites the whole file through a temp file, fsync and rename, so a
// crash leaves the old file or the new one.
//
// Thread-compatible: const methods may run concurrently; anything else needs
// external synchronisation.

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/hash/sha256.h"
#include "common/status.h"

struct stat;

namespace receta {

/// The stat fields that identify one version of a file's contents.
struct FileStat {
  uint64_t size_bytes = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
  uint64_t inode = 0;

  friend bool operator==(const FileStat&, const FileStat&) = default;
};

/// Extracts the FileStat fields from an lstat/fstat result.
FileStat FileStatFromStat(const struct stat& st);

class StatCache {
 public:
  static constexpr std::string_view kSignature = "# receta stat cache\n";
  static constexpr uint32_t kFormatVersion = 1;
  static constexpr uint32_t kMaxPathBytes = 4096;
  static constexpr int64_t kRacyMarginNs = 2'000'000'000;

  struct Entry {
    FileStat stat;
    int64_t recorded_at_ns = 0;
    Digest digest;

    friend bool operator==(const Entry&, const Entry&) = default;
  };

  /// Reads the cache saved at `cache_path`. A missing file gives an empty
  /// cache; bad contents are dropped as described in the file comment, and
  /// their size is stored in `*discarded_bytes_or_null` when given. Fails only
  /// when the file exists but cannot be read (the error names the path).
  static Result<StatCache> Load(const std::string& cache_path,
                                size_t* discarded_bytes_or_null = nullptr);

  /// Writes every entry to `cache_path` atomically (temp file in the same
  /// directory, fsync, rename, fsync of the directory). Clears dirty().
  Status Save(const std::string& cache_path);

  /// The file format above, as bytes. Pure.
  std::string Encode() const;
  /// Parses the file format; never fails. Pure.
  static StatCache Decode(std::string_view bytes, size_t* discarded_bytes_or_null = nullptr);

  /// The remembered digest of `path` if `fresh` (from a new lstat) shows the
  /// contents cannot have changed since it was recorded; see the trust rule.
  std::optional<Digest> Lookup(const std::string& path, const FileStat& fresh) const;

  /// Remembers that the file at `path`, when it had `stat`, had `digest`.
  /// `stat` must be taken before its contents were read and `recorded_at_ns`
  /// must be a wall-clock reading (CLOCK_REALTIME, ns) taken no later than
  /// that stat. Paths are keys as given: use one canonical spelling per file.
  void Record(const std::string& path, const FileStat& stat, const Digest& digest,
              int64_t recorded_at_ns);

  void Erase(const std::string& path);

  /// The entry for `path` whether trusted or not, or null. Valid until the
  /// next non-const call.
  const Entry* Find(const std::string& path) const;

  size_t size() const { return entries_.size(); }
  /// True after a Record or Erase that changed something since construction,
  /// Load or the last successful Save.
  bool dirty() const { return dirty_; }

  /// True if an entry with `stat` recorded at `recorded_at_ns` must not be
  /// trusted (rule 2 above). Pure.
  static bool IsRacy(const FileStat& stat, int64_t recorded_at_ns);

 private:
  std::unordered_map<std::string, Entry> entries_;
  bool dirty_ = false;
};

}  // namespace receta
