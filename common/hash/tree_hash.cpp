#include "common/hash/tree_hash.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "common/hash/stat_cache.h"

namespace receta {
namespace {

constexpr std::string_view kTreePrefix{"receta tree v1\0", 15};
constexpr std::string_view kSymlinkPrefix{"receta symlink v1\0", 18};

std::string ErrnoError(const std::string& path, const char* what) {
  return path + ": " + what + ": " + std::strerror(errno);
}

int64_t WallClockNs() {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  return static_cast<int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

struct DirCloser {
  void operator()(DIR* dir) const { closedir(dir); }
};
using DirHandle = std::unique_ptr<DIR, DirCloser>;

// Walks one tree. Every node is addressed as (directory fd, name) so that a
// directory swapped for a symlink mid-walk cannot lead outside the tree.
class TreeWalker {
 public:
  TreeWalker(StatCache* cache, TreeHashReport* report) : cache_(cache), report_(report) {}

  // Hashes `name` in `dir_fd`, whose lstat is `st`. `path` is its full path
  // (for errors and cache keys), `relative_path` its path below the root.
  Result<TreeEntry> HashNode(int dir_fd, const char* name, const std::string& path,
                             const std::string& relative_path, const struct stat& st) {
    size_t report_index = 0;
    if (report_ != nullptr) {
      // Why: reserve the slot now so a directory precedes its entries.
      report_index = report_->entries.size();
      report_->entries.emplace_back();
    }
    TreeEntry entry;
    entry.relative_path = relative_path;
    Result<Digest> digest = Digest();
    if (S_ISREG(st.st_mode)) {
      entry.kind = EntryKind::kFile;
      entry.executable = (st.st_mode & S_IXUSR) != 0;
      entry.size_bytes = static_cast<uint64_t>(st.st_size);
      digest = HashFileAt(dir_fd, name, path, st);
    } else if (S_ISDIR(st.st_mode)) {
      entry.kind = EntryKind::kDirectory;
      digest = HashDirectoryAt(dir_fd, name, path, relative_path);
    } else if (S_ISLNK(st.st_mode)) {
      entry.kind = EntryKind::kSymlink;
      Result<std::string> target = ReadLinkAt(dir_fd, name, path, st);
      if (!target.ok()) return target.status();
      entry.size_bytes = target->size();
      digest = SymlinkDigest(*target);
    } else {
      return Result<TreeEntry>::Error(
          path + ": cannot hash a fifo, socket or device file; remove it from the tree");
    }
    if (!digest.ok()) return digest.status();
    entry.digest = *digest;
    if (report_ != nullptr) report_->entries[report_index] = entry;
    return entry;
  }

 private:
  Result<Digest> HashFileAt(int dir_fd, const char* name, const std::string& path,
                            const struct stat& st) {
    if (cache_ != nullptr) {
      if (std::optional<Digest> cached = cache_->Lookup(path, FileStatFromStat(st))) {
        if (report_ != nullptr) ++report_->cache_hits;
        return *cached;
      }
    }
    int64_t recorded_at_ns = WallClockNs();
    // Why O_NONBLOCK: if the file was replaced by a fifo since the lstat, the
    // open must not hang; fstat below then rejects it.
    int fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return Result<Digest>::Error(ErrnoError(path, "cannot open for hashing"));
    struct stat opened;
    if (fstat(fd, &opened) != 0) {
      Result<Digest> error = Result<Digest>::Error(ErrnoError(path, "cannot stat"));
      close(fd);
      return error;
    }
    if (!S_ISREG(opened.st_mode)) {
      close(fd);
      return Result<Digest>::Error(path + ": changed while being hashed; try again");
    }
    Result<Digest> digest = HashOpenFile(fd, path);
    close(fd);
    if (!digest.ok()) return digest;
    if (report_ != nullptr) {
      ++report_->files_read;
      report_->bytes_read += static_cast<uint64_t>(opened.st_size);
    }
    if (cache_ != nullptr) cache_->Record(path, FileStatFromStat(opened), *digest, recorded_at_ns);
    return digest;
  }

  Result<Digest> HashDirectoryAt(int dir_fd, const char* name, const std::string& path,
                                 const std::string& relative_path) {
    int fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return Result<Digest>::Error(ErrnoError(path, "cannot open directory"));
    DirHandle dir(fdopendir(fd));
    if (dir == nullptr) {
      Result<Digest> error = Result<Digest>::Error(ErrnoError(path, "cannot read directory"));
      close(fd);
      return error;
    }
    std::vector<std::string> names;
    for (;;) {
      errno = 0;
      const struct dirent* dirent = readdir(dir.get());
      if (dirent == nullptr) {
        if (errno != 0) return Result<Digest>::Error(ErrnoError(path, "cannot read directory"));
        break;
      }
      std::string_view child(dirent->d_name);
      if (child != "." && child != "..") names.emplace_back(child);
    }
    // Why: sorting here (as DirectoryDigest does) makes the report's order
    // match the digest's order.
    std::sort(names.begin(), names.end());

    std::vector<DirectoryEntry> entries;
    entries.reserve(names.size());
    for (const std::string& child : names) {
      std::string child_path = path.back() == '/' ? path + child : path + "/" + child;
      struct stat st;
      if (fstatat(dirfd(dir.get()), child.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        return Result<Digest>::Error(ErrnoError(child_path, "cannot stat"));
      }
      std::string child_relative = relative_path.empty() ? child : relative_path + "/" + child;
      Result<TreeEntry> node =
          HashNode(dirfd(dir.get()), child.c_str(), child_path, child_relative, st);
      if (!node.ok()) return node.status();
      entries.push_back({child, node->kind, node->executable, node->digest});
    }
    return DirectoryDigest(std::move(entries));
  }

  static Result<std::string> ReadLinkAt(int dir_fd, const char* name, const std::string& path,
                                        const struct stat& st) {
    // Why: st_size is the target length on most file systems but 0 on some
    // (procfs), so grow until the target fits with room to spare.
    std::string target(std::max<size_t>(static_cast<size_t>(st.st_size) + 1, 256), '\0');
    for (;;) {
      ssize_t got = readlinkat(dir_fd, name, target.data(), target.size());
      if (got < 0) return Result<std::string>::Error(ErrnoError(path, "cannot read symlink"));
      if (static_cast<size_t>(got) < target.size()) {
        target.resize(static_cast<size_t>(got));
        return target;
      }
      target.resize(target.size() * 2);
    }
  }

  StatCache* cache_;
  TreeHashReport* report_;
};

}  // namespace

Digest DirectoryDigest(std::vector<DirectoryEntry> entries) {
  std::sort(entries.begin(), entries.end(),
            [](const DirectoryEntry& a, const DirectoryEntry& b) { return a.name < b.name; });
  Sha256 hasher;
  hasher.Update(kTreePrefix);
  std::string record;
  for (const DirectoryEntry& entry : entries) {
    record.clear();
    uint32_t name_size_bytes = static_cast<uint32_t>(entry.name.size());
    for (int i = 0; i < 4; ++i) record.push_back(static_cast<char>(name_size_bytes >> (8 * i)));
    record.append(entry.name);
    record.push_back(static_cast<char>(entry.kind));
    bool executable = entry.kind == EntryKind::kFile && entry.executable;
    record.push_back(executable ? 1 : 0);
    record.append(reinterpret_cast<const char*>(entry.digest.bytes.data()), Digest::kSizeBytes);
    hasher.Update(record);
  }
  return hasher.Finish();
}

Digest SymlinkDigest(std::string_view target) {
  Sha256 hasher;
  hasher.Update(kSymlinkPrefix);
  hasher.Update(target);
  return hasher.Finish();
}

Result<Digest> HashPath(const std::string& path, StatCache* cache_or_null,
                        TreeHashReport* report_or_null) {
  if (path.empty()) return Result<Digest>::Error("cannot hash an empty path");
  // Why: "dir/" would make lstat follow a symlink and spell cache keys "dir//x".
  std::string root = path;
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  struct stat st;
  if (fstatat(AT_FDCWD, root.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return Result<Digest>::Error(ErrnoError(root, "cannot hash"));
  }
  TreeWalker walker(cache_or_null, report_or_null);
  Result<TreeEntry> entry = walker.HashNode(AT_FDCWD, root.c_str(), root, "", st);
  if (!entry.ok()) return entry.status();
  return entry->digest;
}

}  // namespace receta
