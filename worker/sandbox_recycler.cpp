#include "worker/sandbox_recycler.h"

#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

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

namespace {

std::optional<std::string> PopLast(std::vector<std::string>& paths) {
  if (paths.empty()) return std::nullopt;
  std::string path = std::move(paths.back());
  paths.pop_back();
  return path;
}

}  // namespace

std::optional<std::string> SandboxRecycler::Take() {
  std::lock_guard<std::mutex> lock(mu_);
  return PopLast(kept_);
}

std::optional<std::string> SandboxRecycler::TakeSpareFile() {
  std::lock_guard<std::mutex> lock(mu_);
  return PopLast(spares_);
}

void SandboxRecycler::KeepSpare(const std::string& file) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (spares_.size() >= kMaxSpareFiles) return;  // full: no syscalls for nothing
  }
  struct stat st;
  // Why each test: a step may have replaced the file (not ours, a link, a
  // directory), hard-linked it (an output of one link more: the worker
  // cache may hold that inode), or changed its mode.
  if (lstat(file.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 ||
      st.st_uid != geteuid() || chmod(file.c_str(), 0600) != 0) {
    return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (spares_.size() >= kMaxSpareFiles) return;
  std::string spare = root_ + "/.spare-" + std::to_string(next_++);
  if (::rename(file.c_str(), spare.c_str()) == 0) spares_.push_back(std::move(spare));
}

bool SandboxRecycler::Give(const std::string& path, const std::vector<std::string>& own_files) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (kept_.size() >= kMaxKept) return false;
  }
  for (const std::string& file : own_files) KeepSpare(file);
  if (!EmptyKeepingDirectories(path)) return false;
  std::lock_guard<std::mutex> lock(mu_);
  if (kept_.size() >= kMaxKept) return false;
  std::string kept = root_ + "/.free-" + std::to_string(next_++);
  if (::rename(path.c_str(), kept.c_str()) != 0) return false;
  kept_.push_back(std::move(kept));
  return true;
}

}  // namespace receta::worker
