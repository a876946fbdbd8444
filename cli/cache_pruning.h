#pragma once
// Bounds on the CLI's cache files (~/.cache/receta): each kind grows by one
// file per new key (a DAG's text, a workspace's place), so without a bound
// the directory fills with files of edits and checkouts long gone. The
// least recently used go: a file's modification time says when it was last
// written or used (the readers touch what they use).

#include <cstddef>
#include <string>
#include <string_view>

namespace receta::cli {

/// Removes the least recently modified files of `kind` in `directory`
/// (named "`kind`-...", as CliCacheFile makes them) beyond the `keep`
/// newest. Temporary files of a save in flight (".tmp." in the name) are
/// not counted nor removed. Never fails: what cannot be listed or removed
/// stays (a cache).
void PruneLeastRecentlyUsed(const std::string& directory, std::string_view kind, size_t keep);

/// Marks the file at `path` used now (its modification time); a failure is
/// harmless.
void MarkUsed(const std::string& path);

}  // namespace receta::cli
