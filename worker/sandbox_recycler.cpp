#include "worker/sandbox_recycler.h"

#include <stdio.h>

#include <filesystem>
#include <system_error>

namespace receta::worker {
namespace fs = std::filesystem;

bool EmptyKeepingDirectories(const std::string& path) {
  std::error_code ec;
  fs::permissions(path, fs::perms::owner_all, fs::perm_options::add, ec);
  if (ec) return false;
  std::vector<fs::path> files;
  for (fs::recursive_directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
    // Why symlink_status: a link to a directory is a file here, never followed.
    fs::file_status status = it->symlink_status(ec);
    if (ec) return false;
    if (fs::is_directory(status)) {
      fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
      if (ec) return false;
    } else {
      files.push_back(it->path());
    }
  }
  if (ec) return false;
  for (const fs::path& file : files) {
    if (!fs::remove(file, ec) || ec) return false;
  }
  return true;
}

std::optional<std::string> SandboxRecycler::Take() {
  std::lock_guard<std::mutex> lock(mu_);
  if (kept_.empty()) return std::nullopt;
  std::string path = std::move(kept_.back());
  kept_.pop_back();
  return path;
}

bool SandboxRecycler::Give(const std::string& path) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (kept_.size() >= kMaxKept) return false;
  }
  if (!EmptyKeepingDirectories(path)) return false;
  std::lock_guard<std::mutex> lock(mu_);
  if (kept_.size() >= kMaxKept) return false;
  std::string kept = root_ + "/.free-" + std::to_string(next_++);
  if (::rename(path.c_str(), kept.c_str()) != 0) return false;
  kept_.push_back(std::move(kept));
  return true;
}

}  // namespace receta::worker
