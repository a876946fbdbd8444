#pragma once
// Attempt: one Dispatch carried out from start to end on its own thread:
// fetch missing inputs into the local cache, build the sandbox, run the
// command while streaming its output, list and hash the declared outputs,
// store them in the local cache, upload those the scheduler lacks, keep or
// remove the sandbox, and report AttemptFinished exactly once.
//
// A speculative Dispatch (after_attempt, a chain's next step) builds its
// sandbox at once, all but the inputs its upstream attempt makes, then
// waits for that attempt's success (UpstreamHandoff): it is then placed
// and started, or dropped unstarted and unreported when the step may be a
// cache hit (Settlement::kDrop; only the scheduler can tell).
//
// Each failure is classified for AttemptFinished.system_failure: the
// worker's (sandbox, inputs, storing or uploading outputs, spawning, a full
// disk, a kill by the worker or the scheduler) or the step's own (exit code,
// a signal it got, its timeout, a declared output it did not make).
//
// Sockets and the scheduler stay behind two small interfaces (BlobRemote for
// blob transfer, AttemptSink for the messages) so tests drive a whole attempt
// with fakes.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/protocol/messages.h"
#include "common/status.h"
#include "net/upload_item.h"
#include "worker/failed_sandboxes.h"
#include "worker/local_cache.h"
#include "worker/process.h"
#include "worker/sandbox.h"
#include "worker/sandbox_recycler.h"
#include "worker/slot_gate.h"
#include "worker/upstream_handoff.h"

namespace receta::worker {

/// Blob transfer with the scheduler's CAS for one attempt. Used from the
/// attempt's thread only.
class BlobRemote {
 public:
  virtual ~BlobRemote() = default;
  /// Writes blob `digest` (verified) to `dest_path`.
  virtual Status Download(const std::string& digest, uint64_t size_bytes,
                          const std::string& dest_path) = 0;
  /// Sends these read-only worker cache blobs, already hashed (not hashed
  /// again here: the scheduler verifies).
  virtual Status Upload(const std::vector<net::UploadItem>& blobs) = 0;
};

/// Makes a BlobRemote when the attempt first needs one (most attempts with
/// cached inputs and no outputs never do).
using BlobRemoteFactory = std::function<Result<std::unique_ptr<BlobRemote>>()>;

/// Receives an attempt's messages, on the attempt's thread, in order:
/// Started (only if the process started), Logs, ProcessEnded (only if it
/// started), then Finished once, or else Dropped once.
class AttemptSink {
 public:
  virtual ~AttemptSink() = default;
  virtual void Started(protocol::AttemptStarted started) = 0;
  virtual void Log(protocol::LogChunk chunk) = 0;
  /// The process exited and its output was read: what is left (hashing,
  /// uploading, removing the sandbox) uses no slot.
  virtual void ProcessEnded() {}
  virtual void Finished(protocol::AttemptFinished finished) = 0;
  /// Instead of Finished: a speculative attempt dropped unstarted, with
  /// nothing to report (the scheduler decides; see the top of this file).
  virtual void Dropped(const std::string& why) = 0;
};

/// Where attempts keep their files.
struct AttemptDirs {
  std::string sandboxes;  // <work-dir>/sandboxes
  std::string failed;     // <work-dir>/failed
  RetentionLimits retention;
  SandboxRecycler* recycler = nullptr;  // optional; outlives the attempt
};

class Attempt {
 public:
  const std::string& attempt_id() const { return dispatch_.attempt_id; }
  /// `tracker` (optional; the agent's process group guard) and `slots`
  /// (optional; the worker's SlotGate, taken from the end of preparation to
  /// the end of the process; none: no limit) and `handoff` (where a
  /// speculative attempt waits for its upstream's result and where this
  /// one's result goes; none: a speculative attempt ends at once, its
  /// upstream unknown) must outlive Run().
  Attempt(protocol::Dispatch dispatch, LocalCache& cache, AttemptDirs dirs,
          BlobRemoteFactory remote_factory, std::map<std::string, std::string> worker_env,
          ProcessGroupTracker* tracker = nullptr, SlotGate* slots = nullptr,
          UpstreamHandoff* handoff = nullptr);

  /// Carries the attempt out on the calling thread and reports to `sink`.
  void Run(AttemptSink& sink);

  /// Stops the attempt: TERM to its process group, KILL after `grace_ms`.
  /// Before the process starts, it never starts. Either way its
  /// AttemptFinished says "killed: `reason`" (or "killed before it started:
  /// `reason`") and counts as a system failure: only the worker and the
  /// scheduler kill attempts. Thread-safe.
  void Kill(uint32_t grace_ms, const std::string& reason);
  /// Kill's first half: the process never starts (an attempt waiting for a
  /// slot gives up), but one already running is left alone. Thread-safe.
  void MarkKilled(const std::string& reason);

  const protocol::Dispatch& dispatch() const { return dispatch_; }

 private:
  // Why a failure is the step's or the worker's, with its text.
  struct Failure {
    std::string error;
    bool system = false;
    // False for an attempt killed before its process started: its sandbox
    // has nothing to debug, and keeping it would push out one that has
    // (a chain's failed step, whose next step was withdrawn).
    bool keep_sandbox = true;
  };

  // Fetches into the local cache the `inputs` it lacks, but for those sent
  // inline in the Dispatch: their bytes, checked against their digests,
  // go to `inline_bytes` (the sandbox writes them in place). Error names
  // the input.
  Status FetchInputs(const std::vector<protocol::InputFile>& inputs,
                     Sandbox::VerifiedBytes& inline_bytes);
  // Fetches `inputs` and places them in the sandbox.
  std::optional<Failure> PlaceInputs(Sandbox& sandbox,
                                     const std::vector<protocol::InputFile>& inputs);
  // Places the inputs (but those an upstream attempt makes) and makes the
  // outputs' directories.
  std::optional<Failure> Prepare(Sandbox& sandbox);
  // For a speculative dispatch: waits for the upstream's success, then
  // places what it made. Sets `dropped_why` instead when the attempt is
  // dropped (Settlement::kDrop).
  std::optional<Failure> AwaitUpstream(Sandbox& sandbox, std::string* dropped_why);
  // Gives a sandbox whose attempt succeeded (or never started) back for
  // reuse, or removes it.
  void ReturnSandbox(const Sandbox& sandbox);
  // Spawns the command unless a kill came first.
  Result<std::unique_ptr<Process>> StartProcess(const std::string& root, bool* killed_first);
  // Runs the started process to its end, streaming its output to `sink`;
  // fills the process fields of `finished`.
  std::optional<Failure> RunProcess(Process& process, AttemptSink& sink,
                                    protocol::AttemptFinished& finished);
  // Lists and hashes the outputs of a step that exited 0, keeps them in the
  // local cache and gets them to the scheduler (SendOutputs), handing the
  // result to a step waiting on it on the way.
  std::optional<Failure> Collect(const Sandbox& sandbox, protocol::AttemptFinished& finished);
  // Puts the outputs into the local cache.
  Status KeepOutputs(const std::string& sandbox, const std::vector<protocol::FileEntry>& outputs);
  // Gets the outputs to the scheduler: inline in `finished` when small
  // (protocol::kMaxInlineBlobBytes), else uploads what it lacks; hands the
  // result over (HandOver) once they are as safe as its report makes them.
  Status SendOutputs(const std::vector<protocol::FileEntry>& outputs,
                     protocol::AttemptFinished& finished);
  // Gives a successful result to the step waiting on it (UpstreamHandoff).
  void HandOver(const protocol::AttemptFinished& finished);
  // Puts the bytes of each output (one per digest) into finished.inline_blobs.
  Status InlineOutputs(const std::vector<const protocol::FileEntry*>& distinct,
                       protocol::AttemptFinished& finished);
  Result<BlobRemote*> Remote();
  bool KillRequested();

  protocol::Dispatch dispatch_;
  LocalCache& cache_;
  AttemptDirs dirs_;
  BlobRemoteFactory remote_factory_;
  std::unique_ptr<BlobRemote> remote_;
  std::map<std::string, std::string> worker_env_;
  ProcessGroupTracker* tracker_;
  SlotGate* slots_;
  UpstreamHandoff* handoff_;

  std::mutex mu_;
  bool kill_requested_ = false;  // Guarded by mu_
  std::string kill_reason_;      // Guarded by mu_
  Process* process_ = nullptr;   // Guarded by mu_; set while the command runs
};

}  // namespace receta::worker
