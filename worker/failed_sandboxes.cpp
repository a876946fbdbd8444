#include "worker/failed_sandboxes.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>

#include "worker/sandbox.h"

namespace receta::worker {
namespace fs = std::filesystem;

std::vector<std::string> SandboxesToRemove(std::vector<KeptSandbox> kept,
                                           const RetentionLimits& limits) {
  std::sort(kept.begin(), kept.end(), [](const KeptSandbox& a, const KeptSandbox& b) {
    return a.mtime_ns != b.mtime_ns ? a.mtime_ns > b.mtime_ns : a.name > b.name;
  });
  std::vector<std::string> remove;
  uint64_t bytes = 0;
  size_t count = 0;
  bool full = false;
  for (const KeptSandbox& sandbox : kept) {
    if (!full && count + 1 <= limits.max_count && bytes + sandbox.size_bytes <= limits.max_bytes) {
      ++count;
      bytes += sandbox.size_bytes;
      continue;
    }
    full = true;
    remove.push_back(sandbox.name);
  }
  return remove;
}

uint64_t SandboxSizeBytes(const std::string& path) {
  uint64_t total = 0;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
    struct stat st;
    if (lstat(it->path().c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1) {
      total += static_cast<uint64_t>(st.st_size);
    }
  }
  return total;
}

Result<std::string> KeepFailedSandbox(const std::string& sandbox_path,
                                      const std::string& failed_root,
                                      const RetentionLimits& limits) {
  std::error_code ec;
  fs::create_directories(failed_root, ec);
  if (ec) return Result<std::string>::Error("cannot create " + failed_root + ": " + ec.message());
  std::string name = fs::path(sandbox_path).filename().string();
  std::string kept_path = failed_root + "/" + name;
  if (Status s = RemoveTree(kept_path); !s.ok()) return Result<std::string>::Error(s.message());
  if (rename(sandbox_path.c_str(), kept_path.c_str()) != 0) {
    return Result<std::string>::Error("cannot move " + sandbox_path + " to " + kept_path + ": " +
                                      strerror(errno));
  }
  // Why touch: the mtime orders kept sandboxes by when they failed.
  utimensat(AT_FDCWD, kept_path.c_str(), nullptr, 0);

  std::vector<KeptSandbox> kept;
  for (fs::directory_iterator it(failed_root, ec), end; !ec && it != end; it.increment(ec)) {
    struct stat st;
    if (lstat(it->path().c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
    kept.push_back({it->path().filename().string(),
                    int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec,
                    SandboxSizeBytes(it->path().string())});
  }
  bool removed_self = false;
  for (const std::string& old : SandboxesToRemove(std::move(kept), limits)) {
    RemoveTree(failed_root + "/" + old);
    removed_self = removed_self || old == name;
  }
  return removed_self ? std::string() : kept_path;
}

}  // namespace receta::worker
