#pragma once
// What `receta submit` sends besides the DAG: every workspace file a step
// reads that no step produces, hashed (through the persistent stat cache, so
// an unchanged workspace costs one lstat per file) into FileEntries.
//
// Symlinks are followed: a link (at an input path or inside an input
// directory) contributes the files it points to, under the link's own path,
// because workers materialise plain files and the cache key must change when
// the target's bytes change. A dangling link or a loop is an error naming it.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/dag/dag.h"
#include "common/dag/dag_graph.h"
#include "common/hash/stat_cache.h"
#include "common/protocol/messages.h"
#include "common/status.h"

namespace receta::cli {

/// One file to send: its manifest entry and where it is on disk.
struct WorkspaceFile {
  protocol::FileEntry entry;  // path relative to the workspace root
  std::string disk_path;      // absolute; the link's target for followed links
};

struct WorkspaceInputs {
  std::vector<WorkspaceFile> files;  // sorted by entry.path, unique
  uint64_t files_read = 0;           // hashed from their bytes
  uint64_t bytes_read = 0;
  uint64_t cache_hits = 0;  // digest taken from the stat cache
};

/// The workspace-relative input paths that no step of `dag` produces
/// (graph.input_producers empty), sorted and unique. Pure.
std::vector<std::string> WorkspaceInputPaths(const Dag& dag, const DagGraph& graph);

/// Hashes `paths` (relative to `workspace_root`) into one FileEntry per
/// file; directories expand to their files. `cache` may be null.
Result<WorkspaceInputs> HashWorkspaceInputs(const std::string& workspace_root,
                                            const std::vector<std::string>& paths,
                                            StatCache* cache);

/// $XDG_CACHE_HOME/receta, else ~/.cache/receta: where the CLI keeps what
/// it can compute again (stat caches, DAG plans); "" when neither variable
/// is set.
std::string CliCacheDirectory();

/// `kind`-`id` in CliCacheDirectory(); "" without one. Every CLI cache file
/// is named so: the files of one kind share the prefix "`kind`-"
/// (cache_pruning.h bounds them by it).
std::string CliCacheFile(std::string_view kind, std::string_view id);

/// CliCacheFile(`kind`, <16 hex of the sha256 of `path` made absolute and
/// normal>). One cache file per workspace.
std::string CliCacheFileFor(std::string_view kind, const std::string& path);

/// CliCacheDirectory()/stat-cache; "" without a cache directory.
std::string DefaultStatCachePath();

/// The stat cache file of one workspace: DefaultStatCachePath()-<16 hex of
/// the sha256 of its absolute path>. Why one per workspace: a single shared
/// file grows with every workspace ever submitted and is read whole on every
/// submit; per workspace it holds only what that workspace's DAG reads.
std::string StatCachePathFor(const std::string& workspace_root);

/// Workspace stat cache files kept at most (cache_pruning.h): a checkout
/// submitted from leaves one behind when it is gone.
constexpr size_t kMaxWorkspaceStatCaches = 64;
/// The kind (CliCacheFile) of the workspaces' stat cache files.
constexpr std::string_view kStatCacheKind = "stat-cache";

}  // namespace receta::cli
