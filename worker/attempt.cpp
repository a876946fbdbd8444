#include "worker/attempt.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <set>

#include "worker/attempt_env.h"
#include "worker/log_batcher.h"
#include "worker/sandbox.h"

namespace receta::worker {
namespace {

// Distinct outputs up to which StoreOutputs skips the BlobQuery.
constexpr size_t kUploadWithoutQueryMax = 4;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Attempt::Attempt(protocol::Dispatch dispatch, LocalCache& cache, AttemptDirs dirs,
                 BlobRemoteFactory remote_factory, std::map<std::string, std::string> worker_env)
    : dispatch_(std::move(dispatch)),
      cache_(cache),
      dirs_(std::move(dirs)),
      remote_factory_(std::move(remote_factory)),
      worker_env_(std::move(worker_env)) {}

void Attempt::Kill(uint32_t grace_ms, const std::string& reason) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!kill_requested_) kill_reason_ = reason;
  kill_requested_ = true;
  if (process_ != nullptr) process_->Kill(grace_ms);
}

Result<BlobRemote*> Attempt::Remote() {
  if (!remote_) {
    Result<std::unique_ptr<BlobRemote>> made = remote_factory_();
    if (!made.ok()) return Result<BlobRemote*>::Error(made.error());
    remote_ = std::move(*made);
  }
  return remote_.get();
}

Status Attempt::FetchInputs() {
  std::set<std::string> fetched;
  for (const protocol::InputFile& input : dispatch_.inputs) {
    if (cache_.Contains(input.digest) || fetched.count(input.digest)) continue;
    auto fail = [&](const std::string& why) {
      return Status::Error("could not fetch input '" + input.path + "' (sha256 " + input.digest +
                           "): " + why);
    };
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

Status Attempt::StoreOutputs(const std::string& sandbox,
                             const std::vector<protocol::FileEntry>& outputs) {
  if (outputs.empty()) return Status::Ok();
  std::vector<std::string> digests;
  for (const protocol::FileEntry& entry : outputs) {
    // Why first into the local cache: a later step on this worker reads it
    // from there, and the upload reads a file no one can change any more.
    if (Status s = cache_.InsertCopyOf(sandbox + "/" + entry.path, entry.digest); !s.ok()) {
      return Status::Error("could not store output '" + entry.path + "': " + s.message());
    }
    digests.push_back(entry.digest);
  }
  Result<BlobRemote*> remote = Remote();
  if (!remote.ok()) return Status::Error("could not upload outputs: " + remote.error());
  std::set<std::string> to_upload(digests.begin(), digests.end());
  // Why ask first only for many outputs: an upload's BlobPutBegin is
  // answered BlobPutDone when the scheduler has the blob, so for a few
  // outputs a BlobQuery is one round trip more on every step's path; for
  // many, one query beats a round trip per blob the scheduler already has.
  if (to_upload.size() > kUploadWithoutQueryMax) {
    Result<std::vector<std::string>> missing = (*remote)->Missing(digests);
    if (!missing.ok()) return Status::Error("could not upload outputs: " + missing.error());
    to_upload = std::set<std::string>(missing->begin(), missing->end());
  }
  for (const protocol::FileEntry& entry : outputs) {
    if (!to_upload.erase(entry.digest)) continue;  // also skips duplicates
    Status s = (*remote)->Upload(cache_.BlobPath(entry.digest), entry.digest, entry.size_bytes);
    if (!s.ok()) {
      return Status::Error("could not upload output '" + entry.path + "' (sha256 " +
                           entry.digest + "): " + s.message());
    }
  }
  return Status::Ok();
}

void Attempt::Run(AttemptSink& sink) {
  protocol::AttemptFinished finished;
  finished.attempt_id = dispatch_.attempt_id;
  finished.exit_code = -1;

  Result<Sandbox> sandbox = Sandbox::Create(dirs_.sandboxes, dispatch_.attempt_id);
  if (!sandbox.ok()) {
    finished.error = sandbox.error();
    sink.Finished(std::move(finished));
    return;
  }
  const std::string& root = sandbox->path();
  Status ready = FetchInputs();
  if (ready.ok()) {
    std::vector<bool> executable;
    for (const protocol::InputFile& input : dispatch_.inputs) executable.push_back(input.executable.value_or(false));
    ready = sandbox->PlaceInputs(dispatch_.inputs, cache_, executable);
  }
  if (ready.ok()) ready = sandbox->PrepareOutputs(dispatch_.outputs);

  std::unique_ptr<Process> process;
  if (ready.ok()) {
    ProcessSpec spec;
    spec.command = dispatch_.command;
    spec.cwd = root;
    spec.env = BuildAttemptEnv(dispatch_, worker_env_);
    spec.timeout_ms = dispatch_.timeout_ms;
    std::lock_guard<std::mutex> lock(mu_);
    if (kill_requested_) {
      ready = Status::Error("killed before it started: " + kill_reason_);
    } else {
      Result<std::unique_ptr<Process>> started = Process::Start(spec);
      if (started.ok()) {
        process = std::move(*started);
        process_ = process.get();
      } else {
        ready = Status::Error("could not start the command: " + started.error());
      }
    }
  }

  if (process) {
    sink.Started({dispatch_.attempt_id, static_cast<uint32_t>(process->pid())});
    LogBatcher batcher(dispatch_.attempt_id, [&](protocol::LogChunk c) { sink.Log(std::move(c)); });
    ProcessResult result = process->Wait(
        [&](OutputStream stream, std::string_view bytes) { batcher.Add(stream, bytes, NowMs()); },
        static_cast<int>(LogBatcher::kFlushAfterMs), [&] { batcher.Tick(NowMs()); });
    batcher.Flush();
    {
      std::lock_guard<std::mutex> lock(mu_);
      process_ = nullptr;
      if (result.killed) finished.error = "killed: " + kill_reason_;
    }
    sink.ProcessEnded();
    finished.exit_code = result.exit_code;
    finished.signal = result.signal;
    finished.timed_out = result.timed_out;
    finished.duration_ms = result.duration_ms;
    finished.cpu_ms = result.cpu_ms;
    finished.max_rss_bytes = result.max_rss_bytes;
    if (result.timed_out) {
      finished.error = "timed out after " + std::to_string(dispatch_.timeout_ms) +
                       " ms; the process group was killed";
    }
    if (finished.exit_code == 0 && finished.error.empty()) {
      Result<std::vector<protocol::FileEntry>> outputs = sandbox->CollectOutputs(dispatch_.outputs);
      if (!outputs.ok()) {
        finished.error = outputs.error();
      } else if (Status s = StoreOutputs(root, *outputs); !s.ok()) {
        finished.error = s.message();
      } else {
        finished.outputs = std::move(*outputs);
      }
    }
  } else {
    finished.error = ready.message();
  }

  bool success = finished.exit_code == 0 && finished.error.empty();
  if (success) {
    if (Status s = RemoveTree(root); !s.ok()) spdlog::warn("{}", s.message());
  } else {
    Result<std::string> kept = KeepFailedSandbox(root, dirs_.failed, dirs_.retention);
    if (!kept.ok()) {
      spdlog::warn("attempt {}: {}", dispatch_.attempt_id, kept.error());
      RemoveTree(root);
    } else if (!kept->empty()) {
      spdlog::info("attempt {}: sandbox kept for debugging at {}", dispatch_.attempt_id, *kept);
    }
  }
  // Why before Finished: the remote's connection goes back to its pool now,
  // for the attempt this one's end lets start.
  remote_.reset();
  sink.Finished(std::move(finished));
}

}  // namespace receta::worker
