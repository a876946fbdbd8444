#pragma once
// Sandbox: the fresh directory one attempt runs in,
// <work-dir>/sandboxes/<attempt_id>. Inputs are placed from the local cache
// (read-only hard links) or, when the scheduler sent their bytes inline and
// the cache lacks them, written in place (read-only; into a spare file of
// the recycler when it has one: sandbox_recycler.h), parent directories of
// declared outputs are made,
// and after the command exits the declared outputs are listed and hashed
// into the manifest the worker reports.
//
// Every path comes from the scheduler and is checked before use: relative,
// no '..' or empty parts (protocol::ValidateRelativePath), so nothing is
// placed or read outside the sandbox. Only files the worker made exist in it
// before the step runs, so no symlink can redirect a placement; outputs that
// are symlinks are refused (they could point anywhere on the machine).

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "common/protocol/messages.h"
#include "common/status.h"
#include "worker/local_cache.h"
#include "worker/sandbox_recycler.h"

namespace receta::worker {

class Sandbox {
 public:
  /// Creates `sandboxes_root`/`attempt_id`, removing a leftover of the same
  /// name first, from a skeleton `recycler` kept when it has one. The
  /// attempt id must pass ValidateAttemptId.
  static Result<Sandbox> Create(const std::string& sandboxes_root, const std::string& attempt_id,
                                SandboxRecycler* recycler = nullptr);

  const std::string& path() const { return path_; }
  bool recycled() const { return recycled_; }

  /// For a recycled sandbox, before anything is placed: removes every
  /// directory that is not a parent of one of `inputs` or `outputs`, so the
  /// step sees what a fresh sandbox would hold (sandbox_recycler.h).
  Status DropLeftoverDirs(const std::vector<protocol::InputFile>& inputs,
                          const std::vector<std::string>& outputs);

  /// Bytes of inputs by digest, already checked to hash to it.
  using VerifiedBytes = std::map<std::string, std::string_view>;

  /// Places every input (kind "file") from `inline_bytes` when its digest
  /// is there (the caller's: bytes the cache lacked), else from `cache`,
  /// making parent directories. Errors
  /// name the input: a bad path, a kind other than "file", a blob missing
  /// from both, two inputs at one path.
  Status PlaceInputs(const std::vector<protocol::InputFile>& inputs, const LocalCache& cache,
                     const std::vector<bool>& executable = {},
                     const VerifiedBytes& inline_bytes = {});
  /// The files PlaceInputs wrote (not linked): the recycler may keep them.
  const std::vector<std::string>& written_files() const { return written_files_; }

  /// Makes the parent directories of each declared output. A bad path, or
  /// an output whose parent is an input file, is an error naming it.
  Status PrepareOutputs(const std::vector<std::string>& outputs);

  /// The manifest after the step: one entry per regular file under each
  /// declared output (a file, or a directory walked recursively), paths
  /// relative to the sandbox root with '/', sorted, each hashed. A missing
  /// output is the error "declared output 'PATH' was not created by the
  /// step"; a symlink or special file is refused with its path.
  Result<std::vector<protocol::FileEntry>> CollectOutputs(
      const std::vector<std::string>& outputs) const;

 private:
  Sandbox(std::string path, bool recycled, SandboxRecycler* recycler,
          std::vector<std::string> skeleton_dirs = {})
      : path_(std::move(path)),
        recycled_(recycled),
        recycler_(recycler),
        skeleton_dirs_(std::move(skeleton_dirs)) {}
  /// Writes `bytes` as a new read-only file `dest` (which must not exist).
  Status WriteInput(const std::string& dest, std::string_view bytes, bool executable);

  std::string path_;
  bool recycled_ = false;
  SandboxRecycler* recycler_ = nullptr;
  std::vector<std::string> skeleton_dirs_;  // a recycled one's directories, as kept
  std::vector<std::string> written_files_;
  std::set<std::string> made_dirs_;  // parents made or checked (relative), see MakeParents
};

/// Removes `path` and everything under it, also when the step made
/// read-only directories in it. Missing is fine.
Status RemoveTree(const std::string& path);

/// The names in directory `dir` (not "." or ".."), unsorted; on failure
/// what was listed so far, and `ec` says why.
std::vector<std::string> DirectoryNames(const std::string& dir, std::error_code& ec);

}  // namespace receta::worker
