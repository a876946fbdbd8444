#pragma once
// Failed sandboxes are kept for debugging under <work-dir>/failed/<attempt_id>
// (moved there from sandboxes/, so a kept one is never mistaken for a
// running one), within a cap on their number and their total size; the
// oldest go first.

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace receta::worker {

struct RetentionLimits {
  size_t max_count = 20;
  uint64_t max_bytes = uint64_t{2} << 30;
};

/// One kept sandbox as found on disk.
struct KeptSandbox {
  std::string name;
  int64_t mtime_ns = 0;     // when it was kept
  uint64_t size_bytes = 0;  // files only the sandbox holds (not cache links)
};

/// Pure: the names to remove so that what is left fits `limits`. Keeps the
/// newest first and stops at the first that would pass a limit; everything
/// older goes too.
std::vector<std::string> SandboxesToRemove(std::vector<KeptSandbox> kept,
                                           const RetentionLimits& limits);

/// Moves `sandbox_path` to `failed_root`/<its name>, then removes the oldest
/// kept sandboxes beyond `limits`. Returns where it was kept ("" if it was
/// removed at once for being over the limits).
Result<std::string> KeepFailedSandbox(const std::string& sandbox_path,
                                      const std::string& failed_root,
                                      const RetentionLimits& limits);

/// Bytes of the regular files under `path` that have one link (hard-linked
/// inputs share the cache's blob and cost nothing).
uint64_t SandboxSizeBytes(const std::string& path);

}  // namespace receta::worker
