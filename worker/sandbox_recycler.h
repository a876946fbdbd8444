#pragma once
// SandboxRecycler: keeps the emptied directory skeletons of sandboxes whose
// attempts succeeded, for later attempts to start from.
//
// Why: on ext4, making a directory allocates an inode, and removing one
// frees an inode that the allocator then skips while scanning for a free
// one (recently_deleted, for a while after the delete). A fresh sandbox per
// attempt made and removed at least two directories per step (the sandbox
// and its output directory), so at a few hundred steps a second every
// inode allocation on the disk slowed down, the steps' own included.
// Reused skeletons make and free almost none.
//
// A reused sandbox must look exactly like a fresh one to its step:
// Give empties it of everything but directories (files, links, sockets,
// whatever the step left); after its inputs and output parents are placed,
// Sandbox::DropLeftoverDirs removes every directory the new attempt did not
// ask for. Kept skeletons live in the sandboxes directory under names no
// attempt id can take (".free-N"), so a worker restart removes them with
// the sandboxes. Thread-safe.
//
// Spare files, for the same reason: a small input the scheduler sent inline
// is written into the sandbox, and writing it into a new file allocated an
// inode per step (on the benchmark's disk that create cost ~0.3-0.5 ms, as
// much as the step's own output file). Give keeps the files the worker
// itself wrote there (`own_files`) as spares (".spares/K/N", K = N mod
// kSpareShards) when nothing else links to them (one link, ours); the next
// inline input is renamed from a spare, truncated and rewritten. Never a
// file the step made, and never an inode the worker cache or an output
// shares, so no other name ever sees the rewrite.
//
// A worker keeps its spare files across restarts (Reopen: everything else in
// the sandboxes directory goes) and fills the pool with empty files in the
// background when it starts (FillSparesInBackground): a join's hundreds of
// inline inputs from other workers then take no new inode on its way to
// start. Freeing them at every restart and making them again would put
// the cost right back: ext4 skips the inodes it freed in the last minute
// while looking for a free one.
//
// Why spares in shards of their own, not beside the skeletons: every step
// renames a skeleton in and out of the sandboxes directory and a spare in
// and out of the pool, and a rename looks both names up and scans a
// directory block for room. On the benchmark's disk a spare's round trip
// cost 14-15 us per rename in one directory of 1,024 spares and 8.5 us
// with them spread over 32 shards; the skeletons' renames now happen in a
// directory of a few entries.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/status.h"

namespace receta::worker {

class SandboxRecycler {
 public:
  static constexpr size_t kMaxKept = 8;
  /// Spare files kept at most (each holds its last contents, a small input).
  /// Enough for a join's inline inputs from the other workers.
  static constexpr size_t kMaxSpareFiles = 1024;
  /// Directories the spares are spread over (a few dozen files each).
  static constexpr size_t kSpareShards = 32;

  /// Where spare number `number` lives under `sandboxes_root`.
  static std::string SpareFilePath(const std::string& sandboxes_root, size_t number);

  explicit SandboxRecycler(std::string sandboxes_root) : root_(std::move(sandboxes_root)) {}
  ~SandboxRecycler();  // stops the background filling
  SandboxRecycler(const SandboxRecycler&) = delete;
  SandboxRecycler& operator=(const SandboxRecycler&) = delete;

  /// For a worker starting: makes the root if needed and removes
  /// everything in it but the spare files an earlier run kept, which are
  /// kept again (sandboxes left there belong to attempts no process runs
  /// any more; the scheduler runs them again). Call before anything else.
  Status Reopen();
  /// Makes empty spare files, in a thread of their own, until `target` are
  /// kept (at most kMaxSpareFiles); stops early with the recycler.
  void FillSparesInBackground(size_t target);

  struct Skeleton {
    std::string path;
    /// Every directory in it, relative, parents before children: what the
    /// next attempt finds there without listing it again.
    std::vector<std::string> dirs;
  };
  /// A kept skeleton (now the caller's to rename), or nullopt.
  std::optional<Skeleton> Take();
  /// Empties the sandbox at `path` and keeps it; false when it could not
  /// (emptying failed, or kMaxKept are kept): the caller removes it.
  /// First keeps those of `own_files` (files in it the worker wrote) that
  /// are still regular files with one link and owned by this user as
  /// spares.
  bool Give(const std::string& path, const std::vector<std::string>& own_files = {});
  /// A spare file (mode 0600, now the caller's to rename and rewrite).
  struct SpareFile {
    std::string path;
    /// Its length when kept: new contents at least this long need no cut.
    uint64_t size_bytes = 0;
  };
  /// A spare file, or nullopt.
  std::optional<SpareFile> TakeSpareFile();

 private:
  /// Moves `file` out of its sandbox into the spares when it qualifies.
  void KeepSpare(const std::string& file);

  /// A fresh name in the root for a skeleton (".free-N").
  std::string NewSkeletonName();
  /// A fresh path for a spare (SpareFilePath).
  std::string NewSparePath();
  void FillSpares(size_t target);
  /// Adopts the spares in shard `shard` (Reopen), removing anything else.
  Status ReopenSpareShard(size_t shard, std::vector<SpareFile>& adopted, size_t& next);

  const std::string root_;
  std::atomic<bool> stop_filling_{false};
  std::thread filler_;
  std::mutex mu_;
  std::vector<Skeleton> kept_;     // guarded by mu_
  std::vector<SpareFile> spares_;  // guarded by mu_
  std::atomic<size_t> next_{0};      // for new skeleton and spare names
};

/// Removes everything under `path` that is not a directory, and gives each
/// directory (`path` too) a mode a fresh one could have: the owner's full
/// access, nobody else's write, no set-id or sticky bit. `path` itself stays.
/// Fills `dirs` with the directories under it, relative, parents before
/// children. False when something could not be opened, listed or removed.
bool EmptyKeepingDirectories(const std::string& path, std::vector<std::string>* dirs);

}  // namespace receta::worker
