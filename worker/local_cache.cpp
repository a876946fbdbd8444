#include "worker/local_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <random>

#include <spdlog/spdlog.h>

#include "common/fs/fd_io.h"
#include "common/protocol/validate.h"

namespace receta::worker {
namespace {

std::string RandomSuffix() {
  static std::atomic<uint64_t> counter{0};
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::to_string(getpid()) + "-" + std::to_string(counter++) + "-" +
         std::to_string(rng() & 0xffffff);
}

// Makes the directory unless it is there; false (errno set) on failure.
bool MakeDirectory(const std::string& dir) {
  return mkdir(dir.c_str(), 0755) == 0 || errno == EEXIST;
}

// Runs `place` (a link or rename to `blob_path`, true on success); when it
// fails for a missing shard directory (removed by hand: LocalCache::Open
// made them all), makes it and runs `place` again.
template <typename Place>
bool IntoShard(const std::string& blob_path, Place place) {
  if (place()) return true;
  return errno == ENOENT && MakeDirectory(blob_path.substr(0, blob_path.rfind('/'))) && place();
}

}  // namespace

Status CopyFile(const std::string& from, const std::string& to, unsigned mode) {
  UniqueFd in(open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in.valid()) return Status::Error(ErrnoText("cannot read", from));
  UniqueFd out(open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!out.valid()) return Status::Error(ErrnoText("cannot create", to));
  Status status;
  char buffer[1 << 16];
  while (status.ok()) {
    ssize_t n = read(in.get(), buffer, sizeof(buffer));
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      status = Status::Error(ErrnoText("cannot read", from));
      break;
    }
    status = WriteAll(out.get(), std::string_view(buffer, static_cast<size_t>(n)), to);
  }
  if (status.ok() && fchmod(out.get(), mode) != 0) {
    status = Status::Error(ErrnoText("cannot set the mode of", to));
  }
  if (Status closed = out.Close(to); status.ok()) status = closed;
  if (!status.ok()) unlink(to.c_str());
  return status;
}

Result<LocalCache> LocalCache::Open(const std::string& root) {
  std::error_code ec;
  std::filesystem::create_directories(root + "/tmp", ec);
  if (ec) {
    return Result<LocalCache>::Error("cannot create the worker's cache directory " + root +
                                     "/tmp: " + ec.message() + " (check --work-dir)");
  }
  // Why every shard now: making one allocates an inode, and on ext4 that
  // scans past every inode freed in the last minute; on the path of a
  // step's first outputs of each prefix it cost ~0.1 ms a step for the
  // first few hundred steps a worker ran. A missing one (removed by hand)
  // is made again when needed.
  static constexpr char kHex[] = "0123456789abcdef";
  for (char high : std::string_view(kHex, 16)) {
    for (char low : std::string_view(kHex, 16)) {
      const std::string shard = root + "/" + high + low;
      if (!MakeDirectory(shard)) {
        return Result<LocalCache>::Error("cannot create the worker's cache directory " + shard +
                                         ": " + ErrnoText() + " (check --work-dir)");
      }
    }
  }
  return LocalCache(root);
}

std::string LocalCache::BlobPath(const std::string& digest) const {
  return root_ + "/" + digest.substr(0, 2) + "/" + digest;
}

bool LocalCache::Contains(const std::string& digest) const {
  struct stat st;
  return stat(BlobPath(digest).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string LocalCache::TempPath() const { return root_ + "/tmp/blob-" + RandomSuffix(); }

Status LocalCache::Adopt(const std::string& temp_path, const std::string& digest) {
  if (Status s = protocol::ValidateDigest(digest); !s.ok()) return s;
  std::string dest = BlobPath(digest);
  if (chmod(temp_path.c_str(), 0444) != 0 ||
      !IntoShard(dest, [&] { return rename(temp_path.c_str(), dest.c_str()) == 0; })) {
    Status s = Status::Error("cannot store blob " + digest + " in the worker cache " + root_ +
                             ": " + ErrnoText());
    unlink(temp_path.c_str());
    return s;
  }
  return Status::Ok();
}

Status LocalCache::InsertCopyOf(const std::string& source, const std::string& digest) {
  if (Status s = protocol::ValidateDigest(digest); !s.ok()) return s;
  struct stat st;
  if (lstat(source.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return Status::Error("cannot store " + source + " in the worker cache: not a regular file");
  }
  // Why only single-link files are linked: chmod on a link changes every
  // name of the inode, and a step may have hard-linked a file it does not
  // own. Why straight to its name, not through tmp/ and a rename: the file
  // is whole and read-only before the name appears, so the link is as
  // atomic as the rename, and it is one directory change instead of three
  // (link, rename out of tmp/, rename in) on the path of every step. A
  // racing insert of the same digest put the same bytes there (EEXIST).
  // Why no check for the blob first: the link fails the same (EEXIST) when
  // it is there, and this is on the path of every step's outputs; the
  // source's mode changed for nothing then is that of a file about to go.
  if (st.st_nlink == 1 && chmod(source.c_str(), 0444) == 0) {
    const std::string dest = BlobPath(digest);
    if (IntoShard(dest, [&] { return link(source.c_str(), dest.c_str()) == 0 || errno == EEXIST; }))
      return Status::Ok();
    // Else (another file system, a link limit): a copy, unless it is there.
  }
  if (Contains(digest)) return Status::Ok();
  std::string temp = TempPath();
  if (Status s = CopyFile(source, temp, 0444); !s.ok()) return s;
  return Adopt(temp, digest);
}

Status LocalCache::EnsureExecutableVariant(const std::string& digest) const {
  std::string exec_path = BlobPath(digest) + ".x";
  if (access(exec_path.c_str(), F_OK) == 0) return Status::Ok();
  std::string temp = TempPath();
  if (Status s = CopyFile(BlobPath(digest), temp, 0555); !s.ok()) return s;
  if (rename(temp.c_str(), exec_path.c_str()) != 0) {
    Status s = Status::Error("cannot store " + exec_path + ": " + ErrnoText());
    unlink(temp.c_str());
    return s;
  }
  return Status::Ok();
}

Status LocalCache::Materialize(const std::string& digest, const std::string& dest,
                               bool executable) const {
  if (Status s = protocol::ValidateDigest(digest); !s.ok()) return s;
  auto absent = [&] {
    return Status::Error("blob " + digest + " is not in the worker cache " + root_);
  };
  // Why no existence check first (but for the executable variant, copied
  // from the blob): the link fails the same without one, and a join places
  // a thousand inputs on its path to start.
  if (executable) {
    if (!Contains(digest)) return absent();
    if (Status s = EnsureExecutableVariant(digest); !s.ok()) return s;
  }
  std::string source = BlobPath(digest) + (executable ? ".x" : "");
  if (link(source.c_str(), dest.c_str()) == 0) return Status::Ok();
  if (errno == EEXIST) return Status::Error("'" + dest + "' already exists");
  if (errno == ENOENT) {
    int first_errno = errno;
    if (access(source.c_str(), F_OK) != 0) return absent();
    // Why a second try: a rare ENOENT was seen in CI with two attempts
    // fetching the same blob at once (cause not found yet). Say whether the
    // destination's directory was missing, recreate it, and link again.
    std::string parent = dest.substr(0, dest.rfind('/'));
    bool parent_there = access(parent.c_str(), F_OK) == 0;
    spdlog::warn(
        "linking blob {} to {} failed ({}); source present, destination directory {}; retrying",
        digest, dest, strerror(first_errno), parent_there ? "present" : "missing");
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (link(source.c_str(), dest.c_str()) == 0) return Status::Ok();
  }
  // EXDEV: sandbox on another file system; EMLINK: too many links to one
  // popular blob; EPERM: file systems without hard links.
  if (errno != EXDEV && errno != EMLINK && errno != EPERM) {
    return Status::Error("cannot place blob " + digest + " at " + dest + ": " + ErrnoText());
  }
  return CopyFile(source, dest, executable ? 0555 : 0444);
}

}  // namespace receta::worker
