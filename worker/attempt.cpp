#include "worker/attempt.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <string_view>

#include "common/fs/fd_io.h"
#include "common/hash/sha256.h"
#include "worker/attempt_env.h"
#include "worker/disk_full.h"
#include "worker/log_batcher.h"
#include "worker/upstream_inputs.h"

namespace receta::worker {
namespace {

// Bytes sent inline up to this size are written into the sandbox without
// asking the worker cache for a copy to link (FetchInputs): one block.
constexpr size_t kWriteInlineWithoutLookupBytes = 4096;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Attempt::Attempt(protocol::Dispatch dispatch, LocalCache& cache, AttemptDirs dirs,
                 BlobRemoteFactory remote_factory, std::map<std::string, std::string> worker_env,
                 ProcessGroupTracker* tracker, SlotGate* slots, UpstreamHandoff* handoff)
    : dispatch_(std::move(dispatch)),
      cache_(cache),
      dirs_(std::move(dirs)),
      remote_factory_(std::move(remote_factory)),
      worker_env_(std::move(worker_env)),
      tracker_(tracker),
      slots_(slots),
      handoff_(handoff) {}

void Attempt::MarkKilled(const std::string& reason) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!kill_requested_) kill_reason_ = reason;
    kill_requested_ = true;
  }
  // Outside mu_: the gate and the handoff ask KillRequested under their
  // own locks.
  if (slots_ != nullptr) slots_->Wake();
  if (handoff_ != nullptr) handoff_->Wake();
}

void Attempt::Kill(uint32_t grace_ms, const std::string& reason) {
  MarkKilled(reason);
  std::lock_guard<std::mutex> lock(mu_);
  if (process_ != nullptr) process_->Kill(grace_ms);
}

bool Attempt::KillRequested() {
  std::lock_guard<std::mutex> lock(mu_);
  return kill_requested_;
}

Result<BlobRemote*> Attempt::Remote() {
  if (!remote_) {
    Result<std::unique_ptr<BlobRemote>> made = remote_factory_();
    if (!made.ok()) return Result<BlobRemote*>::Error(made.error());
    remote_ = std::move(*made);
  }
  return remote_.get();
}

Status Attempt::FetchInputs(const std::vector<protocol::InputFile>& inputs,
                            Sandbox::VerifiedBytes& inline_bytes) {
  std::map<std::string_view, std::string_view> sent;  // digest -> bytes, unchecked
  if (dispatch_.inline_blobs) {
    for (const protocol::InlineBlob& blob : *dispatch_.inline_blobs)
      sent.emplace(blob.digest, blob.data);
  }
  std::set<std::string> fetched;
  for (const protocol::InputFile& input : inputs) {
    if (fetched.count(input.digest) || inline_bytes.count(input.digest)) continue;
    auto bytes = sent.find(input.digest);
    // Why no cache lookup for small bytes sent inline: writing a block
    // costs what linking the cached copy would, and the lookup (a stat,
    // nearly always missing: the scheduler sends workspace files inline,
    // which this cache rarely holds) was one system call per input more.
    const bool small =
        bytes != sent.end() && bytes->second.size() <= kWriteInlineWithoutLookupBytes;
    if (!small && cache_.Contains(input.digest)) continue;
    auto fail = [&](const std::string& why) {
      return Status::Error("could not fetch input '" + input.path + "' (sha256 " + input.digest +
                           "): " + why);
    };
    if (bytes != sent.end()) {
      std::string actual = HashBytes(bytes->second).ToHex();
      if (actual != input.digest) {
        return fail("the " + std::to_string(bytes->second.size()) + " bytes sent inline hash to " +
                    actual);
      }
      inline_bytes.emplace(input.digest, bytes->second);
      continue;
    }
    Result<BlobRemote*> remote = Remote();
    if (!remote.ok()) return fail(remote.error());
    std::string temp = cache_.TempPath();
    if (Status s = (*remote)->Download(input.digest, input.size_bytes, temp); !s.ok()) {
      return fail(s.message());
    }
    if (Status s = cache_.Adopt(temp, input.digest); !s.ok()) return fail(s.message());
    fetched.insert(input.digest);
  }
  return Status::Ok();
}

Status Attempt::KeepOutputs(const std::string& sandbox,
                            const std::vector<protocol::FileEntry>& outputs) {
  for (const protocol::FileEntry& entry : outputs) {
    // Why first into the local cache: a later step on this worker reads it
    // from there, and the upload reads a file no one can change any more.
    if (Status s = cache_.InsertCopyOf(sandbox + "/" + entry.path, entry.digest); !s.ok()) {
      return Status::Error("could not store output '" + entry.path + "': " + s.message());
    }
  }
  return Status::Ok();
}

Status Attempt::SendOutputs(const std::vector<protocol::FileEntry>& outputs,
                            protocol::AttemptFinished& finished) {
  std::vector<const protocol::FileEntry*> distinct;  // the first output of each digest
  std::set<std::string> seen;
  uint64_t distinct_bytes = 0;
  for (const protocol::FileEntry& entry : outputs) {
    if (!seen.insert(entry.digest).second) continue;
    distinct.push_back(&entry);
    distinct_bytes += entry.size_bytes;
  }
  // Why hand the result over before the inline bytes are read back, but
  // after an upload: a step started on it (a chain's next) reads the
  // outputs from the local cache and need not wait for the report's trip
  // through the agent's main thread; but it must not run on outputs the
  // scheduler may never get (a worker killed mid-upload would leave it
  // having run, side effects and all, on a result nobody recorded).
  if (distinct_bytes <= protocol::kMaxInlineBlobBytes) {
    HandOver(finished);
    return distinct.empty() ? Status::Ok() : InlineOutputs(distinct, finished);
  }
  Result<BlobRemote*> remote = Remote();
  if (!remote.ok()) return Status::Error("could not upload outputs: " + remote.error());
  // No BlobQuery first: the scheduler answers the BlobPutBegin of a blob it
  // holds with BlobPutDone, and UploadBlobs keeps many Begins in flight.
  std::vector<net::UploadItem> uploads;
  for (const protocol::FileEntry* entry : distinct) {
    uploads.push_back({cache_.BlobPath(entry->digest), entry->digest, entry->size_bytes});
  }
  if (Status s = (*remote)->Upload(uploads); !s.ok()) {
    std::string which = distinct.size() == 1
                            ? "output '" + distinct[0]->path + "' (sha256 " + distinct[0]->digest + ")"
                            : "outputs '" + distinct[0]->path + "', '" + distinct[1]->path + "'" +
                                  (distinct.size() > 2 ? " and " + std::to_string(distinct.size() - 2) + " more" : "");
    return Status::Error("could not upload " + which + ": " + s.message());
  }
  HandOver(finished);
  return Status::Ok();
}

void Attempt::HandOver(const protocol::AttemptFinished& finished) {
  if (handoff_ != nullptr) handoff_->Deliver(finished);
}

Status Attempt::InlineOutputs(const std::vector<const protocol::FileEntry*>& distinct,
                              protocol::AttemptFinished& finished) {
  std::vector<protocol::InlineBlob> blobs;
  for (const protocol::FileEntry* entry : distinct) {
    // From the cache: the 0444 copy the step's processes no longer write.
    protocol::InlineBlob blob{entry->digest, {}};
    Status read = ReadFileExact(cache_.BlobPath(entry->digest), entry->size_bytes, &blob.data);
    if (!read.ok()) {
      return Status::Error("could not read output '" + entry->path + "' back: " + read.message());
    }
    blobs.push_back(std::move(blob));
  }
  finished.inline_blobs = std::move(blobs);
  return Status::Ok();
}

std::optional<Attempt::Failure> Attempt::PlaceInputs(
    Sandbox& sandbox, const std::vector<protocol::InputFile>& inputs) {
  // Why the worker's: the inputs sit in the scheduler's CAS, verified; not
  // getting them into this sandbox is this machine's or the network's fault.
  Sandbox::VerifiedBytes inline_bytes;
  Status ready = FetchInputs(inputs, inline_bytes);
  if (ready.ok()) {
    std::vector<bool> executable;
    for (const protocol::InputFile& input : inputs) {
      executable.push_back(input.executable.value_or(false));
    }
    ready = sandbox.PlaceInputs(inputs, cache_, executable, inline_bytes);
  }
  if (!ready.ok()) return Failure{ready.message(), true};
  return std::nullopt;
}

std::optional<Attempt::Failure> Attempt::Prepare(Sandbox& sandbox) {
  if (Status s = sandbox.DropLeftoverDirs(dispatch_.inputs, dispatch_.outputs); !s.ok()) {
    return Failure{s.message(), true};
  }
  // A speculative dispatch's upstream inputs do not exist yet (AwaitUpstream).
  const bool speculative = dispatch_.after_attempt.has_value();
  std::vector<protocol::InputFile> known_inputs;
  if (speculative) {
    for (const protocol::InputFile& input : dispatch_.inputs) {
      if (input.kind != protocol::kInputKindUpstream) known_inputs.push_back(input);
    }
  }
  if (std::optional<Failure> failure =
          PlaceInputs(sandbox, speculative ? known_inputs : dispatch_.inputs)) {
    return failure;
  }
  // Why the step's unless the disk is full: an output declared inside an
  // input file fails the same on every worker.
  if (Status s = sandbox.PrepareOutputs(dispatch_.outputs); !s.ok()) {
    return Failure{s.message(), SaysDiskFull(s.message())};
  }
  return std::nullopt;
}

std::optional<Attempt::Failure> Attempt::AwaitUpstream(Sandbox& sandbox, std::string* dropped_why) {
  const std::string upstream_id = *dispatch_.after_attempt;
  std::optional<protocol::AttemptFinished> upstream;
  if (handoff_ != nullptr) {
    upstream = handoff_->AwaitSuccess(dispatch_.attempt_id, [this] { return KillRequested(); });
    handoff_->Forget(dispatch_.attempt_id);
  }
  if (!upstream) {
    std::lock_guard<std::mutex> lock(mu_);
    if (kill_requested_) return Failure{"killed before it started: " + kill_reason_, true, false};
    return Failure{"its upstream attempt " + upstream_id + " is not known to this worker", true};
  }
  std::set<std::string> placed;
  for (const protocol::InputFile& input : dispatch_.inputs) {
    if (input.kind != protocol::kInputKindUpstream) placed.insert(input.path);
  }
  Settlement settled = Settle(dispatch_, *upstream);
  switch (settled.kind) {
    case Settlement::kDrop:
      *dropped_why = settled.why;
      return std::nullopt;
    case Settlement::kFail:
      return Failure{settled.why, false};
    case Settlement::kKeepWaiting:  // AwaitSuccess gives successes only
      return Failure{"its upstream attempt " + upstream_id + " did not succeed", true};
    case Settlement::kStart:
      break;
  }
  std::vector<protocol::InputFile> made;
  for (const protocol::InputFile& input : dispatch_.inputs) {
    if (!placed.count(input.path)) made.push_back(input);
  }
  return PlaceInputs(sandbox, made);
}

void Attempt::ReturnSandbox(const Sandbox& sandbox) {
  if (dirs_.recycler != nullptr && dirs_.recycler->Give(sandbox.path(), sandbox.written_files())) {
    return;
  }
  if (Status s = RemoveTree(sandbox.path()); !s.ok()) spdlog::warn("{}", s.message());
}

Result<std::unique_ptr<Process>> Attempt::StartProcess(const std::string& root,
                                                       bool* killed_first) {
  ProcessSpec spec;
  spec.command = dispatch_.command;
  spec.cwd = root;
  spec.env = BuildAttemptEnv(dispatch_, worker_env_);
  spec.timeout_ms = dispatch_.timeout_ms;
  std::lock_guard<std::mutex> lock(mu_);
  if (kill_requested_) {
    *killed_first = true;
    return Result<std::unique_ptr<Process>>::Error("killed before it started: " + kill_reason_);
  }
  Result<std::unique_ptr<Process>> started = Process::Start(spec, tracker_);
  if (started.ok()) process_ = started->get();
  return started;
}

std::optional<Attempt::Failure> Attempt::RunProcess(Process& process, AttemptSink& sink,
                                                    protocol::AttemptFinished& finished) {
  // Started waits for the first output or kStartedAfterMs (messages.h).
  const int64_t spawned_ms = NowMs();
  bool started_sent = false;
  auto send_started = [&] {
    if (started_sent) return;
    started_sent = true;
    sink.Started({dispatch_.attempt_id, static_cast<uint32_t>(process.pid())});
  };
  LogBatcher batcher(dispatch_.attempt_id, [&](protocol::LogChunk c) {
    send_started();  // a log never comes before its attempt's start
    sink.Log(std::move(c));
  });
  ProcessResult result = process.Wait(
      [&](OutputStream stream, std::string_view bytes) { batcher.Add(stream, bytes, NowMs()); },
      static_cast<int>(protocol::kStartedAfterMs), [&] {
        int64_t now = NowMs();
        if (now - spawned_ms >= protocol::kStartedAfterMs) send_started();
        batcher.Tick(now);
      });
  batcher.Flush();
  finished.log_bytes = batcher.bytes_emitted();
  std::string kill_reason;
  {
    std::lock_guard<std::mutex> lock(mu_);
    process_ = nullptr;
    kill_reason = kill_reason_;
  }
  finished.exit_code = result.exit_code;
  finished.signal = result.signal;
  finished.timed_out = result.timed_out;
  finished.duration_ms = result.duration_ms;
  finished.cpu_ms = result.cpu_ms;
  finished.max_rss_bytes = result.max_rss_bytes;
  // Why the timeout first: once it fired the step had failed on its own,
  // whatever kill came during its grace.
  if (result.timed_out) {
    return Failure{"timed out after " + std::to_string(dispatch_.timeout_ms) +
                       " ms; the process group was killed",
                   false};
  }
  if (result.killed) return Failure{"killed: " + kill_reason, true};
  if (result.exit_code != 0) return Failure{"", false};  // the exit code says it
  return std::nullopt;
}

std::optional<Attempt::Failure> Attempt::Collect(const Sandbox& sandbox,
                                                 protocol::AttemptFinished& finished) {
  Result<std::vector<protocol::FileEntry>> outputs = sandbox.CollectOutputs(dispatch_.outputs);
  if (!outputs.ok()) return Failure{outputs.error(), SaysDiskFull(outputs.error())};
  if (Status s = KeepOutputs(sandbox.path(), *outputs); !s.ok()) return Failure{s.message(), true};
  finished.outputs = std::move(*outputs);
  if (Status s = SendOutputs(finished.outputs, finished); !s.ok()) {
    return Failure{s.message(), true};
  }
  return std::nullopt;
}

void Attempt::Run(AttemptSink& sink) {
  protocol::AttemptFinished finished;
  finished.attempt_id = dispatch_.attempt_id;
  finished.exit_code = -1;

  Result<Sandbox> sandbox = Sandbox::Create(dirs_.sandboxes, dispatch_.attempt_id, dirs_.recycler);
  if (!sandbox.ok()) {
    finished.error = sandbox.error();
    finished.system_failure = true;
    sink.Finished(std::move(finished));
    return;
  }
  const std::string& root = sandbox->path();
  std::optional<Failure> failure = Prepare(*sandbox);
  if (!failure && dispatch_.after_attempt) {
    std::string dropped_why;
    failure = AwaitUpstream(*sandbox, &dropped_why);
    if (!dropped_why.empty()) {
      ReturnSandbox(*sandbox);
      sink.Dropped(dropped_why);
      return;
    }
  }
  if (!failure) {
    // Not holding a slot (killed while waiting) means StartProcess refuses.
    bool holds_slot = slots_ != nullptr && slots_->Acquire([this] { return KillRequested(); });
    bool killed_first = false;
    Result<std::unique_ptr<Process>> process = StartProcess(root, &killed_first);
    if (!process.ok()) {
      // Why the worker's: the sandbox and /bin/sh are the worker's, and a
      // kill comes from the worker or the scheduler.
      failure = killed_first ? Failure{process.error(), true, false}
                             : Failure{"could not start the command: " + process.error(), true};
    } else {
      failure = RunProcess(**process, sink, finished);
      process->reset();
    }
    if (holds_slot) slots_->Release();
    // Why after the release: the agent starts another attempt on this
    // news, and the one prepared ahead, waiting for the slot, must get it
    // first (SlotGate keeps no order).
    if (process.ok()) sink.ProcessEnded();
    if (!failure) failure = Collect(*sandbox, finished);
  }

  if (failure) {
    finished.error = failure->error;
    if (!failure->system) {
      if (std::optional<std::string> full = DiskFullNote(root)) {
        finished.error += (finished.error.empty() ? "" : "; ") + *full;
        failure->system = true;
      }
    }
    finished.system_failure = failure->system;
    if (!failure->keep_sandbox) {
      ReturnSandbox(*sandbox);
    } else if (Result<std::string> kept = KeepFailedSandbox(root, dirs_.failed, dirs_.retention);
               !kept.ok()) {
      spdlog::warn("attempt {}: {}", dispatch_.attempt_id, kept.error());
      RemoveTree(root);
    } else if (!kept->empty()) {
      spdlog::info("attempt {}: sandbox kept for debugging at {}", dispatch_.attempt_id, *kept);
    }
  }
  // Why before Finished: the remote's connection goes back to its pool now,
  // for the attempt this one's end lets start.
  remote_.reset();
  const bool succeeded = !failure;
  sink.Finished(std::move(finished));
  // Why after Finished: emptying the sandbox for reuse is a directory walk
  // and an unlink per file, which the scheduler need not wait for; the next
  // step arrives a round trip later, by when the skeleton is back.
  if (succeeded) ReturnSandbox(*sandbox);
}

}  // namespace receta::worker
