#pragma once
// The tree digest (tree_hash.h, format v1) of a directory known only by its
// file manifest: the scheduler never sees the files of an input, only the
// FileEntry list a worker or `receta submit` reported, yet a directory input
// needs one digest for the cache key. Pure.
//
// Agrees with HashPath on any tree of regular files. It cannot see what a
// manifest does not list: empty directories and symlinks (neither is
// transferred as an artifact) do not enter the digest.

#include <string>
#include <string_view>
#include <vector>

#include "common/hash/sha256.h"
#include "common/protocol/messages.h"
#include "common/status.h"

namespace receta {

/// The digest of the input at `root` given `files`, every file at or under
/// `root` (other entries are ignored): the file's own digest when one entry
/// is exactly `root`, else the directory digest of the files below it.
/// An error when nothing is at or under `root`, or a digest is not hex.
Result<Digest> ManifestDigest(std::string_view root, const std::vector<protocol::FileEntry>& files);

/// True when `path` is `root` or lies below it ("data" covers "data/a.csv",
/// not "database.csv").
bool PathIsAtOrUnder(std::string_view path, std::string_view root);

}  // namespace receta
