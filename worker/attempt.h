#pragma once
// Attempt: one Dispatch carried out from start to end on its own thread:
// fetch missing inputs into the local cache, build the sandbox, run the
// command while streaming its output, list and hash the declared outputs,
// store them in the local cache, upload those the scheduler lacks, keep or
// remove the sandbox, and report AttemptFinished exactly once.
//
// Sockets and the scheduler stay behind two small interfaces (BlobRemote for
// blob transfer, AttemptSink for the messages) so tests drive a whole attempt
// with fakes.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/protocol/messages.h"
#include "common/status.h"
#include "worker/failed_sandboxes.h"
#include "worker/local_cache.h"
#include "worker/process.h"

namespace receta::worker {

/// Blob transfer with the scheduler's CAS for one attempt. Used from the
/// attempt's thread only.
class BlobRemote {
 public:
  virtual ~BlobRemote() = default;
  /// Writes blob `digest` (verified) to `dest_path`.
  virtual Status Download(const std::string& digest, uint64_t size_bytes,
                          const std::string& dest_path) = 0;
  /// The digests among `digests` the scheduler lacks.
  virtual Result<std::vector<std::string>> Missing(const std::vector<std::string>& digests) = 0;
  virtual Status Upload(const std::string& path, const std::string& digest,
                        uint64_t size_bytes) = 0;
};

/// Makes a BlobRemote when the attempt first needs one (most attempts with
/// cached inputs and no outputs never do).
using BlobRemoteFactory = std::function<Result<std::unique_ptr<BlobRemote>>()>;

/// Receives an attempt's messages, on the attempt's thread, in order:
/// Started (only if the process started), Logs, ProcessEnded (only if it
/// started), then Finished once.
class AttemptSink {
 public:
  virtual ~AttemptSink() = default;
  virtual void Started(protocol::AttemptStarted started) = 0;
  virtual void Log(protocol::LogChunk chunk) = 0;
  /// The process exited and its output was read: what is left (hashing,
  /// uploading, removing the sandbox) uses no slot.
  virtual void ProcessEnded() {}
  virtual void Finished(protocol::AttemptFinished finished) = 0;
};

/// Where attempts keep their files.
struct AttemptDirs {
  std::string sandboxes;  // <work-dir>/sandboxes
  std::string failed;     // <work-dir>/failed
  RetentionLimits retention;
};

class Attempt {
 public:
  Attempt(protocol::Dispatch dispatch, LocalCache& cache, AttemptDirs dirs,
          BlobRemoteFactory remote_factory, std::map<std::string, std::string> worker_env);

  /// Carries the attempt out on the calling thread and reports to `sink`.
  void Run(AttemptSink& sink);

  /// Stops the attempt: TERM to its process group, KILL after `grace_ms`.
  /// Before the process starts, it never starts. Thread-safe.
  void Kill(uint32_t grace_ms, const std::string& reason);

  const protocol::Dispatch& dispatch() const { return dispatch_; }

 private:
  // Fetches the inputs the local cache lacks. Error names the input.
  Status FetchInputs();
  // Hashes outputs into the cache and uploads what the scheduler lacks.
  Status StoreOutputs(const std::string& sandbox, const std::vector<protocol::FileEntry>& outputs);
  Result<BlobRemote*> Remote();

  protocol::Dispatch dispatch_;
  LocalCache& cache_;
  AttemptDirs dirs_;
  BlobRemoteFactory remote_factory_;
  std::unique_ptr<BlobRemote> remote_;
  std::map<std::string, std::string> worker_env_;

  std::mutex mu_;
  bool kill_requested_ = false;  // Guarded by mu_
  std::string kill_reason_;      // Guarded by mu_
  Process* process_ = nullptr;   // Guarded by mu_; set while the command runs
};

}  // namespace receta::worker
