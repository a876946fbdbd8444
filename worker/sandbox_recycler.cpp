#include "worker/sandbox_recycler.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string_view>
#include <vector>

#include "common/fs/fd_io.h"
#include "worker/sandbox.h"

namespace receta::worker {
namespace fs = std::filesystem;

namespace {

template <typename T>
std::optional<T> PopLast(std::vector<T>& items) {
  if (items.empty()) return std::nullopt;
  T item = std::move(items.back());
  items.pop_back();
  return item;
}

// Whether `file` may serve as a spare (and, if so, makes it 0600). Why each
// test: a step may have replaced the file (not ours, a link, a directory),
// hard-linked it (an output of one link more: the worker cache may hold that
// inode), or changed its mode. Its length when it may, else nullopt.
std::optional<uint64_t> UsableAsSpare(const std::string& file) {
  struct stat st;
  if (lstat(file.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1 &&
      st.st_uid == geteuid() && chmod(file.c_str(), 0600) == 0) {
    return static_cast<uint64_t>(st.st_size);
  }
  return std::nullopt;
}

constexpr std::string_view kSparesDir = ".spares";

// N of a spare's name "N", or nullopt for any other name.
std::optional<size_t> SpareNumber(std::string_view name) {
  if (name.empty() || name.size() > 18 ||
      name.find_first_not_of("0123456789") != std::string_view::npos) {
    return std::nullopt;
  }
  return std::stoull(std::string(name));
}

// The names in `dir`, or an error naming it.
Result<std::vector<std::string>> ListNames(const std::string& dir, std::string_view what) {
  std::error_code ec;
  std::vector<std::string> names = DirectoryNames(dir, ec);
  if (ec)
    return Result<std::vector<std::string>>::Error("cannot list the " + std::string(what) + " " +
                                                   dir + ": " + ec.message());
  return names;
}

// Makes `dir` a directory unless it is one: something else there goes first.
Status EnsureDirectory(const std::string& dir) {
  if (mkdir(dir.c_str(), 0700) == 0) return Status::Ok();
  struct stat st;
  if (errno == EEXIST && lstat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return Status::Ok();
  if (Status s = RemoveTree(dir); !s.ok()) return s;
  if (mkdir(dir.c_str(), 0700) == 0) return Status::Ok();
  return Status::Error(ErrnoText("cannot create directory", dir));
}

// A kept directory's mode as a fresh one's could be: the owner's full
// access, nobody else's write, no set-id or sticky bit. A step may have
// opened one to everybody (a world-writable out/ would let anyone add to
// the next step's outputs) or taken the owner's write away.
bool MakeModeFresh(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) return false;
  mode_t mode = st.st_mode & 07777;
  mode_t fresh = (mode | S_IRWXU) & ~(S_IWGRP | S_IWOTH | S_ISUID | S_ISGID | S_ISVTX);
  return mode == fresh || fchmod(fd, fresh) == 0;
}

// Deeper trees are not kept: the caller removes them (RemoveTree).
constexpr int kMaxKeptDepth = 32;

// Why the *at calls on raw directory entries, not std::filesystem: this
// runs after every successful step, and the iterator's per-entry stat and
// per-directory stat, chmod and fcntl calls were a third of the system
// calls an attempt made. A directory is listed whole before anything in it
// is removed (removing while listing can skip entries on network file
// systems) and before any of its subdirectories, so `buffer` serves every
// level. A directory the worker cannot open (a step made it unreadable)
// fails the whole sandbox, which the caller then removes.
bool EmptyDirectory(int fd, const std::string& relative, int depth, std::vector<char>& buffer,
                    std::vector<std::string>* dirs) {
  if (depth > kMaxKeptDepth || !MakeModeFresh(fd)) return false;
  std::vector<std::string> files;
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
      (type == DT_DIR ? subdirs : files).emplace_back(name);
    }
  }
  for (const std::string& name : files) {
    if (unlinkat(fd, name.c_str(), 0) != 0) return false;
  }
  for (const std::string& name : subdirs) {
    std::string child = relative.empty() ? name : relative + "/" + name;
    dirs->push_back(child);
    UniqueFd child_fd(openat(fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!child_fd.valid() || !EmptyDirectory(child_fd.get(), child, depth + 1, buffer, dirs)) {
      return false;
    }
  }
  return true;
}

}  // namespace

bool EmptyKeepingDirectories(const std::string& path, std::vector<std::string>* dirs) {
  dirs->clear();
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  // Why per thread: this runs after every step, on the attempt threads.
  thread_local std::vector<char> buffer(16 << 10);
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

SandboxRecycler::~SandboxRecycler() {
  stop_filling_ = true;
  if (filler_.joinable()) filler_.join();
}

namespace {

std::string SpareShardDir(const std::string& sandboxes_root, size_t shard) {
  return sandboxes_root + "/" + std::string(kSparesDir) + "/" + std::to_string(shard);
}

}  // namespace

std::string SandboxRecycler::SpareFilePath(const std::string& sandboxes_root, size_t number) {
  return SpareShardDir(sandboxes_root, number % kSpareShards) + "/" + std::to_string(number);
}

std::string SandboxRecycler::NewSkeletonName() {
  return root_ + "/.free-" + std::to_string(next_++);
}

std::string SandboxRecycler::NewSparePath() { return SpareFilePath(root_, next_++); }

Status SandboxRecycler::ReopenSpareShard(size_t shard, std::vector<SpareFile>& adopted,
                                         size_t& next) {
  const std::string dir = SpareShardDir(root_, shard);
  if (Status s = EnsureDirectory(dir); !s.ok()) return s;
  Result<std::vector<std::string>> names = ListNames(dir, "spare files directory");
  if (!names.ok()) return names.status();
  for (const std::string& name : *names) {
    const std::string path = dir + "/" + name;
    std::optional<size_t> number = SpareNumber(name);
    // A spare in the wrong shard (kSpareShards changed) is not adopted:
    // its number's path is elsewhere.
    std::optional<uint64_t> size;
    if (number && *number % kSpareShards == shard && adopted.size() < kMaxSpareFiles &&
        (size = UsableAsSpare(path))) {
      adopted.push_back({path, *size});
      next = std::max(next, *number + 1);
      continue;
    }
    if (Status s = RemoveTree(path); !s.ok()) return s;
  }
  return Status::Ok();
}

Status SandboxRecycler::Reopen() {
  std::error_code ec;
  fs::create_directories(root_, ec);
  if (ec)
    return Status::Error("cannot create the sandboxes directory " + root_ + ": " + ec.message());
  Result<std::vector<std::string>> names = ListNames(root_, "sandboxes directory");
  if (!names.ok()) return names.status();
  for (const std::string& name : *names) {
    if (name == kSparesDir) continue;
    if (Status s = RemoveTree(root_ + "/" + name); !s.ok()) return s;
  }
  const std::string spares_dir = root_ + "/" + std::string(kSparesDir);
  if (Status s = EnsureDirectory(spares_dir); !s.ok()) return s;
  // Anything in it but the shards goes (say, shards of a version that
  // spread its spares wider).
  Result<std::vector<std::string>> shard_names = ListNames(spares_dir, "spare files directory");
  if (!shard_names.ok()) return shard_names.status();
  for (const std::string& name : *shard_names) {
    std::optional<size_t> shard = SpareNumber(name);
    if (shard && *shard < kSpareShards && std::to_string(*shard) == name) continue;
    if (Status s = RemoveTree(spares_dir + "/" + name); !s.ok()) return s;
  }
  std::vector<SpareFile> adopted;
  size_t next = 0;
  for (size_t shard = 0; shard < kSpareShards; ++shard) {
    if (Status s = ReopenSpareShard(shard, adopted, next); !s.ok()) return s;
  }
  next_ = next;
  std::lock_guard<std::mutex> lock(mu_);
  kept_.clear();
  spares_ = std::move(adopted);
  return Status::Ok();
}

void SandboxRecycler::FillSparesInBackground(size_t target) {
  if (filler_.joinable()) return;
  filler_ = std::thread([this, target] { FillSpares(std::min(target, kMaxSpareFiles)); });
}

void SandboxRecycler::FillSpares(size_t target) {
  while (!stop_filling_) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (spares_.size() >= target) return;
    }
    std::string path = NewSparePath();
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd.valid()) return;  // a full disk, say: the pool stays as it is
    std::lock_guard<std::mutex> lock(mu_);
    if (spares_.size() >= kMaxSpareFiles) {  // filled by Give meanwhile
      ::unlink(path.c_str());
      return;
    }
    spares_.push_back({std::move(path), 0});
  }
}

void SandboxRecycler::KeepSpare(const std::string& file) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (spares_.size() >= kMaxSpareFiles) return;  // full: no syscalls for nothing
  }
  std::optional<uint64_t> size = UsableAsSpare(file);
  if (!size) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (spares_.size() >= kMaxSpareFiles) return;
  std::string spare = NewSparePath();
  if (::rename(file.c_str(), spare.c_str()) == 0) spares_.push_back({std::move(spare), *size});
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
  skeleton.path = NewSkeletonName();
  if (::rename(path.c_str(), skeleton.path.c_str()) != 0) return false;
  kept_.push_back(std::move(skeleton));
  return true;
}

}  // namespace receta::worker
