#pragma once
// Run: the state machine of one run's steps. Pure: no sockets, no disk, no
// clock; the caller passes the time and an ArtifactOracle, and reads what
// changed from the Turn it passes in.
//
// A step is pending until every upstream step is done (succeeded or
// cached). It then becomes ready: its cache key is computed from the input
// digests of that moment; a key found in the cache index with every output
// blob present makes it cached at once, else it waits in the ready queue for
// the core to dispatch it. A failed attempt is retried as
// scheduler/retry_policy.h says (retrying -> ready after a backoff, or
// straight back to ready for a system failure); a step that fails for good
// (or whose gate fails) skips everything downstream of it; independent
// branches go on. The run ends when every step is terminal; `receta retry`
// reopens it (Resume).

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/cache/cache_key.h"
#include "common/dag/dag.h"
#include "common/dag/dag_graph.h"
#include "common/status.h"
#include "scheduler/artifact_oracle.h"
#include "scheduler/changes.h"
#include "scheduler/parsed_dag_cache.h"
#include "scheduler/records.h"

namespace receta::scheduler {

/// The context of one turn of the core: the time, where changes go, and the
/// event sequence counter.
class Turn {
 public:
  Turn(uint64_t now_ms, Changes& changes, uint64_t& last_event_seq, ArtifactOracle& oracle)
      : now_ms_(now_ms), changes_(changes), last_event_seq_(last_event_seq), oracle_(oracle) {}
  uint64_t now_ms() const { return now_ms_; }
  Changes& changes() { return changes_; }
  ArtifactOracle& oracle() { return oracle_; }
  /// Appends an event with the next sequence number and this turn's time;
  /// returns that number.
  uint64_t Event(EventRecord event);

 private:
  uint64_t now_ms_;
  Changes& changes_;
  uint64_t& last_event_seq_;
  ArtifactOracle& oracle_;
};

class Run {
 public:
  /// Parses and validates the DAG kept in `record` against its workspace
  /// manifest, or takes the same parse from `cache` (optional), which then
  /// remembers this one. The error is the DAG's diagnostics, as `dag
  /// validate` prints.
  static Result<std::unique_ptr<Run>> Create(RunRecord record, ParsedDagCache* cache = nullptr);

  /// A new run: every step pending, then the steps with no upstream become
  /// ready (or cached).
  void Start(Turn& turn);
  /// A run reloaded after a restart: steps as persisted. Steps that were
  /// ready return to the ready queue; dispatched and running steps are left
  /// to the core (their workers may still report them).
  void Restore(std::vector<StepRecord> steps);

  const RunRecord& record() const { return record_; }
  const std::string& id() const { return record_.run_id; }
  const Dag& dag() const { return dag_; }
  const DagGraph& graph() const { return graph_; }
  const std::vector<StepRecord>& steps() const { return steps_; }
  const StepRecord& step(int index) const { return steps_[index]; }
  int FindStep(const std::string& name) const { return dag_.FindStep(name); }
  bool finished() const { return IsTerminal(record_.state); }
  size_t steps_done() const { return steps_done_; }
  size_t steps_failed() const { return steps_failed_; }

  /// Steps waiting for a worker, oldest first. The core pops the ones it
  /// dispatches; a step no worker can take stays with its reason.
  std::deque<int>& ready_queue() { return ready_; }
  void SetWaitReason(int step, std::string reason);
  const std::string& wait_reason(int step) const { return wait_reasons_[step]; }

  /// The files to place in the step's sandbox: every file of every input,
  /// from the workspace manifest or the upstream steps' outputs. For a
  /// speculative dispatch, each input `pending_upstream` (not done yet)
  /// produces is one entry of kind kInputKindUpstream instead.
  Result<std::vector<protocol::InputFile>> InputFilesOf(int step, int pending_upstream = -1) const;
  /// Whether `step` is pending on `upstream` alone (every other upstream
  /// step is done): it could be dispatched to run right after it.
  bool WaitsOnlyOn(int step, int upstream) const;
  /// The id Dispatch gives the step's next attempt: <run>.<step><tag>-<n>
  /// (the step sees n as RECETA_ATTEMPT; `tag` marks a speculative one).
  std::string NextAttemptId(int step, const std::string& tag = "") const;
  /// The step's cache key from the inputs known now.
  Result<std::string> CacheKeyOf(int step) const;
  /// The step's cache family over one of its inputs: its cache key with
  /// that input left out. A cache entry is recorded under each of its
  /// step's families (for steps of at most kMaxFamilyInputs inputs) with the
  /// UpstreamManifest of that input, whatever made it (an upstream step or
  /// the workspace; DAGs change): so the step can be a cache hit, once the
  /// input is known, only for one of the members found now
  /// (SchedulerCore::Speculate).
  Result<std::string> CacheFamilyOf(int step, int input_index) const;
  static constexpr size_t kMaxFamilyInputs = 8;
  /// Whether the step's families are recorded with its cache entries.
  bool HasCacheFamilies(int step) const;
  /// What a cache entry of the (done) step is recorded under.
  std::vector<CacheFamilyMember> CacheFamilyMembersOf(int step) const;
  /// The step's inputs `upstream` produces (among others, maybe), as
  /// indexes and as paths.
  std::vector<size_t> InputIndexesFrom(int step, int upstream) const;
  std::vector<std::string> InputsFrom(int step, int upstream) const;
  /// UpstreamManifest of what the done step `upstream` gave `step`.
  Result<std::string> UpstreamManifestOf(int step, int upstream) const;
  /// The workers whose attempts produced the step's upstream outputs, most
  /// bytes first: dispatching there avoids moving them.
  std::vector<std::string> WorkersHoldingInputs(int step) const;

  // ---- Transitions, each recorded in the Turn ---------------------------
  /// ready -> dispatched with a new attempt on `worker_id`.
  /// `attempt_id`: the id a speculative dispatch was sent with (empty:
  /// NextAttemptId).
  const AttemptRecord& Dispatch(int step, const std::string& worker_id,
                                const std::string& worker_name, Turn& turn,
                                const std::string& attempt_id = "");
  /// dispatched -> running (the worker started the process at `started_ms`).
  void MarkStarted(int step, Turn& turn, uint64_t started_ms);
  /// The current attempt ended. Success (exit 0, no error, every output
  /// blob stored) records outputs, metrics and gate, writes the cache entry
  /// and readies downstream steps; anything else fails the step.
  void FinishAttempt(int step, const protocol::AttemptFinished& result, Turn& turn);
  /// The current attempt is gone without a result (worker lost, scheduler
  /// restarted and nobody claimed it, Dispatch lost): a system failure, so
  /// back to ready for a new attempt. `worker_lost` raises that alert.
  void RequeueStep(int step, const std::string& why, bool worker_lost, Turn& turn);
  /// Retrying steps whose backoff has passed become ready again.
  void WakeRetries(Turn& turn);
  /// `receta retry`: reopens a failed or cancelled run. Failed, skipped and
  /// cancelled steps (only `step_name` and those downstream of it, when
  /// given) become pending again with fresh failure counts; done steps keep
  /// their results. Returns how many steps were reopened.
  Result<uint32_t> Resume(const std::string& step_name, Turn& turn);
  /// A blob that failed its digest check was dropped: steps whose result
  /// included it become pending again (and run, their cache entry's blob
  /// being gone), and steps waiting to read it wait for them. Returns how
  /// many steps were reopened.
  uint32_t ReopenProducersOf(const std::string& digest, Turn& turn);
  /// The worker a step's last system failure happened on: dispatch avoids
  /// it while another worker can take the step.
  const std::string& avoid_worker(int step) const { return avoid_worker_[step]; }
  /// Every unfinished step cancelled; returns how many. The core kills the
  /// running attempts.
  uint32_t Cancel(const std::string& reason, Turn& turn);

  /// Copies steps changed since the last call into `changes`.
  void FlushDirty(Changes& changes);

 private:
  Run(RunRecord record, std::shared_ptr<const ParsedDag> parsed);

  void MarkDirty(int step);
  uint64_t Emit(Turn& turn, const char* kind, int step, const std::string& message);
  /// Raises `event` to the sinks the DAG names for it (none: nothing).
  void RaiseAlert(const char* event, int step, const std::string& error, Turn& turn);
  /// A failed attempt of the step's own making: retrying or failed.
  void UserFailure(int step, const std::string& why, const protocol::AttemptFinished& result, Turn& turn);
  /// A failed attempt of the system's making: ready again, or failed after
  /// too many.
  void SystemFailure(int step, const std::string& why, Turn& turn);
  /// Counters and upstream counts recomputed from the step states.
  void Recount();
  /// Makes `steps` ready (or cached) and follows cache hits downstream.
  void ReadySteps(std::vector<int> steps, Turn& turn);
  /// Tries the cache for a step just made ready; true when it was a hit.
  bool TryCache(int step, Turn& turn);
  /// Evaluates the step's metrics and gate; returns the failure, if any.
  Status ApplyMetricsAndGate(int step, const std::vector<FileEntry>& outputs, Turn& turn,
                             bool* gate_failed);
  /// Records a done step and returns the downstream steps it readied.
  std::vector<int> CompleteStep(int step, StepState state, Turn& turn);
  void FailStep(int step, StepState state, const std::string& error, Turn& turn);
  void CheckFinished(Turn& turn);
  /// The cache key's inputs; input `leave_out` (-1: none) gets no digest
  /// (it may have no files yet: a family's blank).
  Result<CacheKeyInputs> CacheKeyInputsOf(int step, int leave_out = -1) const;
  /// Files of one input path of `step`; `skip_producer` (-1: none) is
  /// left out.
  std::vector<FileEntry> FilesOfInput(int step, size_t input_index, int skip_producer = -1) const;

  RunRecord record_;
  std::shared_ptr<const ParsedDag> parsed_;  // shared with other runs of the same DAG
  const Dag& dag_;                           // parsed_->dag
  const DagGraph& graph_;                    // parsed_->graph
  std::vector<StepRecord> steps_;
  std::vector<uint32_t> unfinished_upstream_;
  std::vector<std::string> wait_reasons_;
  std::deque<int> ready_;
  std::set<int> retrying_;                 // steps in kRetrying
  std::vector<std::string> avoid_worker_;  // by step; see avoid_worker()
  std::vector<FileEntry> workspace_;  // sorted by path
  std::vector<char> dirty_;
  std::vector<int> dirty_list_;
  bool run_dirty_ = false;
  size_t terminal_steps_ = 0;
  size_t steps_done_ = 0;
  size_t steps_failed_ = 0;
};

}  // namespace receta::scheduler
