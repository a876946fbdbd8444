#include "worker/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <set>

#include "common/fs/fd_io.h"
#include "common/hash/sha256.h"
#include "common/protocol/validate.h"
#include "worker/attempt_env.h"

namespace receta::worker {
namespace fs = std::filesystem;
namespace {

// Makes every directory between `root` and the parent of `relative`. A
// component that exists as a non-directory is an error naming it.
// `made` holds the directories already made or checked (relative), which
// are skipped: a join's thousand inputs in out/ cost one mkdir, not 1,000.
Status MakeParents(const std::string& root, const std::string& relative,
                   std::set<std::string>& made) {
  for (size_t slash = relative.find('/'); slash != std::string::npos;
       slash = relative.find('/', slash + 1)) {
    std::string parent = relative.substr(0, slash);
    if (made.count(parent)) continue;
    std::string dir = root + "/" + parent;
    if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      return Status::Error("cannot create directory '" + parent + "' in the sandbox: " +
                           strerror(errno));
    }
    struct stat st;
    if (lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return Status::Error("'" + parent + "' is a file in the sandbox, so it cannot hold '" +
                           relative + "'");
    }
    made.insert(std::move(parent));
  }
  return Status::Ok();
}

Result<protocol::FileEntry> HashEntry(const std::string& root, const std::string& relative,
                                      const struct stat& st) {
  Result<Digest> digest = HashFile(root + "/" + relative);
  if (!digest.ok()) return Result<protocol::FileEntry>::Error(digest.error());
  protocol::FileEntry entry;
  entry.path = relative;
  entry.digest = digest->ToHex();
  entry.size_bytes = static_cast<uint64_t>(st.st_size);
  entry.executable = (st.st_mode & S_IXUSR) != 0;
  return entry;
}

// Adds every regular file under `relative` (a directory) to `out`.
Status WalkOutputDir(const std::string& root, const std::string& relative,
                     std::vector<protocol::FileEntry>& out) {
  std::error_code ec;
  std::vector<std::string> names = DirectoryNames(root + "/" + relative, ec);
  if (ec) return Status::Error("cannot list output '" + relative + "': " + ec.message());
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    std::string child = relative + "/" + name;
    struct stat st;
    if (lstat((root + "/" + child).c_str(), &st) != 0) {
      return Status::Error("cannot read output '" + child + "': " + strerror(errno));
    }
    if (S_ISDIR(st.st_mode)) {
      if (Status s = WalkOutputDir(root, child, out); !s.ok()) return s;
    } else if (S_ISREG(st.st_mode)) {
      Result<protocol::FileEntry> entry = HashEntry(root, child, st);
      if (!entry.ok()) return entry.status();
      out.push_back(std::move(*entry));
    } else {
      return Status::Error("output '" + child +
                           "' is a symbolic link or special file; steps must write regular files");
    }
  }
  return Status::Ok();
}

}  // namespace

Result<Sandbox> Sandbox::Create(const std::string& sandboxes_root, const std::string& attempt_id,
                                SandboxRecycler* recycler) {
  if (Status s = ValidateAttemptId(attempt_id); !s.ok()) return Result<Sandbox>::Error(s.message());
  std::string path = sandboxes_root + "/" + attempt_id;
  // Why the skeleton's rename first: it fails when something is at `path`
  // (a sandbox an earlier worker left under this attempt id, not empty),
  // which is rare, and the removal's check was a system call per step.
  std::optional<SandboxRecycler::Skeleton> kept = recycler ? recycler->Take() : std::nullopt;
  auto take_kept = [&] { return kept && ::rename(kept->path.c_str(), path.c_str()) == 0; };
  bool recycled = take_kept();
  if (!recycled) {
    if (Status s = RemoveTree(path); !s.ok()) return Result<Sandbox>::Error(s.message());
    recycled = take_kept();
    if (kept && !recycled) RemoveTree(kept->path);  // then a fresh one
  }
  if (recycled) return Sandbox(path, true, recycler, std::move(kept->dirs));
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) {
    return Result<Sandbox>::Error("cannot create sandbox " + path + ": " + ec.message());
  }
  return Sandbox(path, false, recycler);
}

namespace {

// "a" and "a/b" for "a/b/c".
void AddParents(const std::string& path, std::set<std::string>& parents) {
  for (size_t slash = path.find('/'); slash != std::string::npos; slash = path.find('/', slash + 1)) {
    parents.insert(path.substr(0, slash));
  }
}

}  // namespace

Status Sandbox::DropLeftoverDirs(const std::vector<protocol::InputFile>& inputs,
                                 const std::vector<std::string>& outputs) {
  if (!recycled_) return Status::Ok();
  std::set<std::string> wanted;
  for (const protocol::InputFile& input : inputs) AddParents(input.path, wanted);
  for (const std::string& output : outputs) AddParents(output, wanted);
  // Why from the skeleton's list, not a listing: the recycler saw every
  // directory when it emptied the sandbox, and nothing has run in it since.
  // The list is depth first: what lies under a dropped directory follows it.
  std::string dropped;
  for (const std::string& dir : skeleton_dirs_) {
    bool gone = !dropped.empty() && dir.size() > dropped.size() &&
                dir.compare(0, dropped.size(), dropped) == 0 && dir[dropped.size()] == '/';
    if (gone) continue;
    if (wanted.count(dir)) {
      made_dirs_.insert(dir);  // already there: MakeParents skips it
      continue;
    }
    if (Status s = RemoveTree(path_ + "/" + dir); !s.ok()) {
      return Status::Error("cannot empty the reused sandbox " + path_ + ": " + s.message());
    }
    dropped = dir;
  }
  return Status::Ok();
}

Status Sandbox::PlaceInputs(const std::vector<protocol::InputFile>& inputs, const LocalCache& cache,
                            const std::vector<bool>& executable,
                            const VerifiedBytes& inline_bytes) {
  for (size_t i = 0; i < inputs.size(); ++i) {
    const protocol::InputFile& input = inputs[i];
    auto fail = [&](const std::string& why) {
      return Status::Error("cannot place input '" + input.path + "': " + why);
    };
    if (Status s = protocol::ValidateRelativePath(input.path); !s.ok()) return fail(s.message());
    if (input.kind != protocol::kInputKindFile) {
      return fail("kind '" + input.kind + "' is not supported by this worker (only files)");
    }
    if (Status s = MakeParents(path_, input.path, made_dirs_); !s.ok()) return fail(s.message());
    std::string dest = path_ + "/" + input.path;
    bool exec = i < executable.size() && executable[i];
    auto sent = inline_bytes.find(input.digest);
    // Why no check that `dest` is free first: both ways of placing fail
    // when it is taken (EEXIST), and the check was a system call per input.
    Status placed = sent != inline_bytes.end() ? WriteInput(dest, sent->second, exec)
                                               : cache.Materialize(input.digest, dest, exec);
    if (!placed.ok()) {
      struct stat st;
      bool taken =
          lstat(dest.c_str(), &st) == 0 &&
          std::find(written_files_.begin(), written_files_.end(), dest) == written_files_.end();
      return fail(taken ? "another input or directory is already there" : placed.message());
    }
  }
  return Status::Ok();
}

namespace {

// Moves the spare file to `dest` unless something is there already. Why
// NOREPLACE: an input or directory at `dest` is an error, not something to
// overwrite; on a file system without it, a check first.
bool MoveSpareTo(const std::string& spare, const std::string& dest) {
  if (::renameat2(AT_FDCWD, spare.c_str(), AT_FDCWD, dest.c_str(), RENAME_NOREPLACE) == 0)
    return true;
  if (errno != EINVAL && errno != ENOSYS) return false;
  return access(dest.c_str(), F_OK) != 0 && ::rename(spare.c_str(), dest.c_str()) == 0;
}

}  // namespace

Status Sandbox::WriteInput(const std::string& dest, std::string_view bytes, bool executable) {
  UniqueFd fd;
  // Bytes past the new end when the file held longer contents before.
  bool cut = false;
  // A spare that cannot be moved stays where it is: the worker's next start
  // keeps it (SandboxRecycler::Reopen).
  if (std::optional<SandboxRecycler::SpareFile> spare =
          recycler_ ? recycler_->TakeSpareFile() : std::nullopt;
      spare && MoveSpareTo(spare->path, dest)) {
    // Why no O_TRUNC: freeing the old blocks costs as much as a new inode
    // on ext4; overwriting, then cutting to length (below) only when the
    // old contents were longer, frees none when they fit the same blocks.
    fd = UniqueFd(::open(dest.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY));
    if (!fd.valid()) ::unlink(dest.c_str());
    cut = fd.valid() && spare->size_bytes > bytes.size();
  }
  if (!fd.valid()) {
    fd = UniqueFd(::open(dest.c_str(),
                         O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600));
  }
  if (!fd.valid()) return Status::Error(ErrnoText("cannot create", dest));
  written_files_.push_back(dest);
  Status written = WriteAll(fd.get(), bytes, dest);
  if (written.ok() && cut && ftruncate(fd.get(), static_cast<off_t>(bytes.size())) != 0) {
    written = Status::Error(ErrnoText("cannot cut to length", dest));
  }
  if (written.ok() && fchmod(fd.get(), executable ? 0555 : 0444) != 0) {
    written = Status::Error(ErrnoText("cannot make read-only", dest));
  }
  if (written.ok()) written = fd.Close(dest);
  return written;
}

Status Sandbox::PrepareOutputs(const std::vector<std::string>& outputs) {
  for (const std::string& output : outputs) {
    if (Status s = protocol::ValidateRelativePath(output); !s.ok()) {
      return Status::Error("declared output '" + output + "': " + s.message());
    }
    if (Status s = MakeParents(path_, output, made_dirs_); !s.ok()) {
      return Status::Error("declared output '" + output + "': " + s.message());
    }
  }
  return Status::Ok();
}

Result<std::vector<protocol::FileEntry>> Sandbox::CollectOutputs(
    const std::vector<std::string>& outputs) const {
  using R = Result<std::vector<protocol::FileEntry>>;
  std::vector<protocol::FileEntry> entries;
  for (const std::string& output : outputs) {
    if (Status s = protocol::ValidateRelativePath(output); !s.ok()) {
      return R::Error("declared output '" + output + "': " + s.message());
    }
    // Why check each parent: a step could replace a parent directory with a
    // symlink that leads out of the sandbox.
    for (size_t slash = output.find('/'); slash != std::string::npos;
         slash = output.find('/', slash + 1)) {
      struct stat st;
      if (lstat((path_ + "/" + output.substr(0, slash)).c_str(), &st) == 0 &&
          !S_ISDIR(st.st_mode)) {
        return R::Error("declared output '" + output + "': '" + output.substr(0, slash) +
                        "' is not a directory in the sandbox");
      }
    }
    struct stat st;
    if (lstat((path_ + "/" + output).c_str(), &st) != 0) {
      return R::Error("declared output '" + output + "' was not created by the step");
    }
    if (S_ISREG(st.st_mode)) {
      Result<protocol::FileEntry> entry = HashEntry(path_, output, st);
      if (!entry.ok()) return R::Error(entry.error());
      entries.push_back(std::move(*entry));
    } else if (S_ISDIR(st.st_mode)) {
      if (Status s = WalkOutputDir(path_, output, entries); !s.ok()) return R::Error(s.message());
    } else {
      return R::Error("declared output '" + output +
                      "' is a symbolic link or special file; steps must write regular files");
    }
  }
  // Declared outputs may nest ("model" and "model/best.pkl"): one entry each.
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.path < b.path; });
  entries.erase(std::unique(entries.begin(), entries.end(),
                            [](const auto& a, const auto& b) { return a.path == b.path; }),
                entries.end());
  return entries;
}

std::vector<std::string> DirectoryNames(const std::string& dir, std::error_code& ec) {
  std::vector<std::string> names;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    names.push_back(it->path().filename().string());
  }
  return names;
}

Status RemoveTree(const std::string& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (!ec) return Status::Ok();
  // A step may leave directories without write permission: open them up.
  for (fs::recursive_directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec)) {
      fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
    }
  }
  fs::permissions(path, fs::perms::owner_all, fs::perm_options::add, ec);
  ec.clear();
  fs::remove_all(path, ec);
  if (ec) return Status::Error("cannot remove " + path + ": " + ec.message());
  return Status::Ok();
}

}  // namespace receta::worker
