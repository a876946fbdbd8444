#include "worker/sandbox_recycler.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string_view>
#include <vector>

#include "common/fs/fd_io.h"

namespace receta::worker {

namespace {

template <typename T>
std::optional<T> PopLast(std::vector<T>& items) {
  if (items.empty()) return std::nullopt;
  T item = std::move(items.back());
  items.pop_back();
  return item;
}

// The owner's full access to the directory open at `fd`, when a step took
// some of it away.
bool GiveOwnerAccess(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) return false;
  if ((st.st_mode & S_IRWXU) == S_IRWXU) return true;
  return fchmod(fd, (st.st_mode & 07777) | S_IRWXU) == 0;
}

// Opens directory `name` in `parent_fd`, making it accessible first if a
// step made it unreadable.
UniqueFd OpenDirectory(int parent_fd, const char* name) {
  const int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
  UniqueFd fd(openat(parent_fd, name, flags));
  if (!fd.valid() && errno == EACCES && fchmodat(parent_fd, name, S_IRWXU, 0) == 0) {
    fd = UniqueFd(openat(parent_fd, name, flags));
  }
  return fd;
}

// Deeper trees are not kept: the caller removes them (RemoveTree), which
// needs neither a file descriptor nor a stack frame per level.
constexpr int kMaxKeptDepth = 32;

// Why the *at calls on raw directory entries, not std::filesystem: this
// runs after every successful step, and the iterator's per-entry stat and
// per-directory stat, chmod and fcntl calls were a third of the system
// calls an attempt made. `buffer` is shared by every level: a directory is
// listed whole before any of its subdirectories.
bool EmptyDirectory(int fd, const std::string& relative, int depth, std::vector<char>& buffer,
                    std::vector<std::string>* dirs) {
  if (depth > kMaxKeptDepth || !GiveOwnerAccess(fd)) return false;
  std::vector<std::string> subdirs;
  while (true) {
    ssize_t n = getdents64(fd, buffer.data(), buffer.size());
    if (n < 0) return false;
    if (n == 0) break;
    for (ssize_t offset = 0; offset < n;) {
      auto* entry = reinterpret_cast<struct dirent64*>(buffer.data() + offset);
      offset += entry->d_reclen;
      std::string_view name = entry->d_name;
      if (name == "." || name == "..") continue;
      unsigned char type = entry->d_type;
      if (type == DT_UNKNOWN) {
        struct stat st;
        if (fstatat(fd, entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) return false;
        type = S_ISDIR(st.st_mode) ? DT_DIR : DT_REG;
      }
      // A link to a directory is a file here, never followed (d_type says LNK).
      if (type == DT_DIR) {
        subdirs.emplace_back(name);
      } else if (unlinkat(fd, entry->d_name, 0) != 0) {
        return false;
      }
    }
  }
  for (const std::string& name : subdirs) {
    std::string child = relative.empty() ? name : relative + "/" + name;
    dirs->push_back(child);
    UniqueFd child_fd = OpenDirectory(fd, name.c_str());
    if (!child_fd.valid() || !EmptyDirectory(child_fd.get(), child, depth + 1, buffer, dirs)) {
      return false;
    }
  }
  return true;
}

}  // namespace

bool EmptyKeepingDirectories(const std::string& path, std::vector<std::string>* dirs) {
  dirs->clear();
  UniqueFd fd = OpenDirectory(AT_FDCWD, path.c_str());
  std::vector<char> buffer(16 << 10);
  return fd.valid() && EmptyDirectory(fd.get(), "", 0, buffer, dirs);
}

std::optional<SandboxRecycler::Skeleton> SandboxRecycler::Take() {
  std::lock_guard<std::mutex> lock(mu_);
  return PopLast(kept_);
}

std::optional<SandboxRecycler::SpareFile> SandboxRecycler::TakeSpareFile() {
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
  if (::rename(file.c_str(), spare.c_str()) == 0) {
    spares_.push_back({std::move(spare), static_cast<uint64_t>(st.st_size)});
  }
}

bool SandboxRecycler::Give(const std::string& path, const std::vector<std::string>& own_files) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (kept_.size() >= kMaxKept) return false;
  }
  for (const std::string& file : own_files) KeepSpare(file);
  Skeleton skeleton;
  if (!EmptyKeepingDirectories(path, &skeleton.dirs)) return false;
  std::lock_guard<std::mutex> lock(mu_);
  if (kept_.size() >= kMaxKept) return false;
  skeleton.path = root_ + "/.free-" + std::to_string(next_++);
  if (::rename(path.c_str(), skeleton.path.c_str()) != 0) return false;
  kept_.push_back(std::move(skeleton));
  return true;
}

}  // namespace receta::worker
