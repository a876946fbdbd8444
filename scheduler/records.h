#pragma once
// What the scheduler persists: one struct per RocksDB value. Plain data with
// Fields() lists, so they are stored with the same msgpack field codec as the
// wire messages (common/protocol/record_codec.h): a missing field or wrong
// type is an error naming the field, and fields can be added as
// std::optional without a migration.
//
// Keys (scheduler/store.h): runs by run id, steps by (run id, step index),
// cache entries by key, blobs by digest, workers by id, events by sequence
// number.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/protocol/messages.h"

namespace receta::scheduler {

using protocol::FileEntry;

/// pending -> ready -> dispatched -> running -> succeeded | failed; or
/// ready -> cached; or pending -> skipped (an upstream step failed) or
/// cancelled; evaluate steps may end gate_failed. A failure with retries
/// left goes running -> retrying, and back to ready when its backoff ends;
/// a system failure (worker lost, transfer failed) goes straight back to
/// ready.
enum class StepState : uint8_t {
  kPending = 0,
  kReady = 1,
  kDispatched = 2,
  kRunning = 3,
  kSucceeded = 4,
  kFailed = 5,
  kCached = 6,
  kSkipped = 7,
  kCancelled = 8,
  kRetrying = 9,
  kGateFailed = 10,
};

enum class RunState : uint8_t {
  kRunning = 0,
  kSucceeded = 1,
  kFailed = 2,
  kCancelled = 3,
};

/// "pending", "ready", ..., "gate_failed": the names `status` prints.
const char* StepStateName(StepState state);

/// A cache entry's family over one input (Run::CacheFamilyOf) and what
/// that input held (UpstreamManifest).
struct CacheFamilyMember {
  std::string family;
  std::string upstream_manifest;
  bool operator==(const CacheFamilyMember&) const = default;
};
const char* RunStateName(RunState state);
bool IsTerminal(StepState state);
bool IsTerminal(RunState state);
/// Succeeded or cached: downstream steps may use its outputs.
bool IsDone(StepState state);

/// One dispatch of a step to a worker.
struct AttemptRecord {
  std::string attempt_id;
  uint32_t number = 0;  // 1-based within the step
  std::string worker_id;
  std::string worker_name;
  uint64_t dispatched_ms = 0;
  uint64_t started_ms = 0;
  uint64_t finished_ms = 0;
  bool finished = false;
  int32_t exit_code = 0;
  int32_t signal = 0;
  bool timed_out = false;
  uint64_t cpu_ms = 0;
  uint64_t max_rss_bytes = 0;
  std::string error;
  /// Whose failure it was, when it failed: "user" (the step's own: exit
  /// code, timeout, missing output) or "system" (worker lost, transfer,
  /// disk, scheduler restart). Unset on success and in older records.
  std::optional<std::string> failure;
  template <typename S, typename V> static void Fields(S& s, V& v) {
    v("attempt_id", s.attempt_id); v("number", s.number); v("worker_id", s.worker_id);
    v("worker_name", s.worker_name); v("dispatched_ms", s.dispatched_ms);
    v("started_ms", s.started_ms); v("finished_ms", s.finished_ms); v("finished", s.finished);
    v("exit_code", s.exit_code); v("signal", s.signal); v("timed_out", s.timed_out);
    v("cpu_ms", s.cpu_ms); v("max_rss_bytes", s.max_rss_bytes); v("error", s.error);
    v("failure", s.failure);
  }
  bool operator==(const AttemptRecord&) const = default;
};

/// One step of one run.
struct StepRecord {
  std::string run_id;
  uint32_t index = 0;  // into the DAG's steps, file order
  std::string name;
  StepState state = StepState::kPending;
  std::string cache_key;       // hex, set when the step became ready
  std::string cached_from_run;  // run whose result stood in, when cached
  std::vector<AttemptRecord> attempts;
  std::vector<FileEntry> outputs;  // every output file, sandbox-relative
  std::string metrics_json;        // flattened metrics, evaluate steps
  std::string error;               // why it failed, was skipped or cancelled
  uint64_t ready_ms = 0;
  uint64_t finished_ms = 0;
  /// Failures counted apart (as Flyte does): the step's own use up its
  /// `retries`; the system's do not. Both since the run (or its last
  /// `receta retry`) began.
  std::optional<uint32_t> user_failures;
  std::optional<uint32_t> system_failures;
  /// When a retrying step becomes ready again.
  std::optional<uint64_t> retry_at_ms;
  template <typename S, typename V> static void Fields(S& s, V& v) {
    v("run_id", s.run_id); v("index", s.index); v("name", s.name); v("state", s.state);
    v("cache_key", s.cache_key); v("cached_from_run", s.cached_from_run);
    v("attempts", s.attempts); v("outputs", s.outputs); v("metrics_json", s.metrics_json);
    v("error", s.error); v("ready_ms", s.ready_ms); v("finished_ms", s.finished_ms);
    v("user_failures", s.user_failures); v("system_failures", s.system_failures);
    v("retry_at_ms", s.retry_at_ms);
  }
  bool operator==(const StepRecord&) const = default;
};

/// A submitted run. The DAG text and workspace manifest are kept so the run
/// can be reloaded and re-planned after a restart.
struct RunRecord {
  std::string run_id;
  uint64_t sequence = 0;  // submission order: runs are served FIFO
  std::string dag_name;
  std::string dag_file;
  std::string dag_yaml;
  std::map<std::string, std::string> params;  // -p overrides as given
  bool no_cache = false;
  std::vector<FileEntry> workspace;
  RunState state = RunState::kRunning;
  uint64_t submitted_ms = 0;
  uint64_t finished_ms = 0;
  uint32_t step_count = 0;
  uint32_t steps_done = 0;    // succeeded or cached
  uint32_t steps_failed = 0;  // failed or gate_failed
  std::string error;
  template <typename S, typename V> static void Fields(S& s, V& v) {
    v("run_id", s.run_id); v("sequence", s.sequence); v("dag_name", s.dag_name);
    v("dag_file", s.dag_file); v("dag_yaml", s.dag_yaml); v("params", s.params);
    v("no_cache", s.no_cache); v("workspace", s.workspace); v("state", s.state);
    v("submitted_ms", s.submitted_ms); v("finished_ms", s.finished_ms);
    v("step_count", s.step_count); v("steps_done", s.steps_done);
    v("steps_failed", s.steps_failed); v("error", s.error);
  }
  bool operator==(const RunRecord&) const = default;
};

/// A worker as it last registered.
struct WorkerRecord {
  std::string worker_id;
  std::string name;
  std::string hostname;
  std::vector<std::string> labels;
  uint32_t slots = 0;
  uint32_t cpus = 0;
  uint64_t memory_bytes = 0;
  uint32_t gpus = 0;
  std::string os;
  std::string receta_version;
  uint64_t registered_ms = 0;
  uint64_t last_seen_ms = 0;
  template <typename S, typename V> static void Fields(S& s, V& v) {
    v("worker_id", s.worker_id); v("name", s.name); v("hostname", s.hostname);
    v("labels", s.labels); v("slots", s.slots); v("cpus", s.cpus);
    v("memory_bytes", s.memory_bytes); v("gpus", s.gpus); v("os", s.os);
    v("receta_version", s.receta_version); v("registered_ms", s.registered_ms);
    v("last_seen_ms", s.last_seen_ms);
  }
  bool operator==(const WorkerRecord&) const = default;
};

/// A step result that can stand in for running a step with the same key.
struct CacheEntry {
  std::string key;  // hex cache key
  std::string dag_name;
  std::string step;
  std::string run_id;  // the run whose attempt made it
  std::string attempt_id;
  uint64_t created_ms = 0;
  std::vector<FileEntry> outputs;
  std::string metrics_json;
  template <typename S, typename V> static void Fields(S& s, V& v) {
    v("key", s.key); v("dag_name", s.dag_name); v("step", s.step); v("run_id", s.run_id);
    v("attempt_id", s.attempt_id); v("created_ms", s.created_ms); v("outputs", s.outputs);
    v("metrics_json", s.metrics_json);
  }
  bool operator==(const CacheEntry&) const = default;
};

/// The index entry of one CAS blob, for garbage collection.
struct BlobRecord {
  std::string digest;
  uint64_t size_bytes = 0;
  uint64_t stored_ms = 0;
  template <typename S, typename V> static void Fields(S& s, V& v) {
    v("digest", s.digest); v("size_bytes", s.size_bytes); v("stored_ms", s.stored_ms);
  }
  bool operator==(const BlobRecord&) const = default;
};

/// One entry of the event log. `kind` is e.g. "run_submitted",
/// "step_ready", "step_dispatched", "step_started", "step_succeeded",
/// "step_cached", "step_failed", "step_retrying", "step_requeued",
/// "step_skipped", "gate_failed", "run_succeeded", "run_retried",
/// "worker_registered", "worker_lost", "alert_delivered", "alert_failed".
struct EventRecord {
  uint64_t seq = 0;
  uint64_t time_ms = 0;
  std::string kind;
  std::string run_id;
  std::string step;
  std::string attempt_id;
  std::string worker_id;
  std::string state;    // the step's or run's state after the event, if any
  std::string message;  // for people
  std::optional<std::string> worker_name;
  template <typename S, typename V> static void Fields(S& s, V& v) {
    v("seq", s.seq); v("time_ms", s.time_ms); v("kind", s.kind); v("run_id", s.run_id);
    v("step", s.step); v("attempt_id", s.attempt_id); v("worker_id", s.worker_id);
    v("state", s.state); v("message", s.message); v("worker_name", s.worker_name);
  }
  bool operator==(const EventRecord&) const = default;
};

}  // namespace receta::scheduler
