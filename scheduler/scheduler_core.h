#pragma once
// SchedulerCore: every scheduling decision, as a state machine over runs,
// attempts and workers. Pure: it is told the time and what arrived, and
// returns what changed (records to persist, events, messages to send) from
// TakeChanges(). The server loop persists those in one synced batch before
// sending anything (DESIGN.md, "Persistence"). One thread owns it.
//
// Speculation: a step waiting on one running step only may be sent ahead
// to that step's worker (Speculate), recorded when the upstream's result
// makes it ready.
//
// Fencing: each dispatch is an attempt with its own id; a message about an
// attempt that is not the current attempt of its step, or that already
// finished, is ignored (and acknowledged, so the worker forgets it).

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/protocol/messages.h"
#include "common/status.h"
#include "scheduler/artifact_oracle.h"
#include "scheduler/changes.h"
#include "scheduler/run.h"
#include "scheduler/worker_pool.h"

namespace receta::scheduler {

struct CoreOptions {
  uint32_t heartbeat_interval_ms = 1000;
  /// Silence after which a worker is declared lost (and after which a
  /// worker that cannot hear the scheduler kills its own steps).
  uint64_t worker_timeout_ms = 10'000;
  /// After a restart, how long an attempt that was running may go
  /// unclaimed by its worker before it is dispatched again.
  uint64_t orphan_grace_ms = 10'000;
  uint32_t kill_grace_ms = 5'000;
  /// Finished runs kept in memory for queries (older ones are read back
  /// from the store). Why few: each holds its steps' records and its DAG
  /// parse; with 16 the scheduler grew from 45 to 66 MB over benchmark
  /// reps of a 1,000-step DAG, with 4 to 50 MB, with 2 it stays at 46 MB.
  size_t finished_runs_in_memory = 2;
  /// Attempts dispatched to a worker beyond its slots, which it queues and
  /// starts when a slot frees (WorkerPool, "Prefetch"). Why 1: it hides the
  /// finish -> commit -> dispatch round trip between steps; more would only
  /// pin ready steps to busy workers that an idle worker could take.
  uint32_t dispatch_prefetch = 1;
  /// Chains pipelined: see Speculate.
  bool speculative_dispatch = true;
};

/// A speculative attempt (see Speculate): sent to the worker running its
/// step's one unfinished upstream attempt, not yet recorded in the run.
struct Speculation {
  std::string run_id;
  int step = 0;
  std::string worker_id;
  std::string after_attempt;
  int upstream_step = 0;
  /// Dispatch.unless_upstream_made: what the upstream may make for the
  /// worker to drop it unstarted.
  std::vector<std::string> unless_upstream_made;
  Resources resources;  // what it holds on the worker (WorkerPool::Release)
};

/// Where an attempt belongs.
struct AttemptLocation {
  std::string run_id;
  int step = 0;
  /// When its Dispatch left (DispatchesSent); 0 until then. In memory only.
  uint64_t sent_ms = 0;
  /// Whether Speculate has looked at its downstream steps. In memory only.
  bool looked_downstream = false;
};

class SchedulerCore {
 public:
  SchedulerCore(ArtifactOracle& oracle, CoreOptions options);

  // ---- Startup ---------------------------------------------------------------
  void RestoreCounters(uint64_t last_event_seq, uint64_t last_run_sequence);
  void RestoreWorker(WorkerRecord worker);
  /// Reloads an unfinished run; its dispatched and running attempts wait
  /// orphan_grace_ms for their worker to claim them.
  Status RestoreRun(RunRecord run, std::vector<StepRecord> steps, uint64_t now_ms);

  // ---- Inputs ------------------------------------------------------------------
  /// Validates and records a new run; returns its id. Errors are for the
  /// submitter (the DAG's diagnostics, a workspace blob not uploaded); when
  /// given, `error_code` says which (kNotFound or kInvalidArgument).
  Result<std::string> Submit(const protocol::SubmitRun& submit, uint64_t now_ms,
                             protocol::ErrorCode* error_code = nullptr);
  protocol::RegisterAck Register(const protocol::Register& request, uint64_t now_ms);
  bool IsConnected(const std::string& worker_id) const;
  void HeardFrom(const std::string& worker_id, uint64_t now_ms);
  /// A worker's heartbeat: an attempt dispatched to it long enough ago
  /// that it does not list is lost (the Dispatch never arrived) and runs
  /// again, as a system failure.
  void OnHeartbeat(const std::string& worker_id, const protocol::Heartbeat& heartbeat, uint64_t now_ms);
  /// The Dispatches of these attempts went out at `now_ms`. Why: an attempt
  /// is stamped dispatched when the turn that made it began; a long turn
  /// (a huge submit) sends it seconds later, and a heartbeat the worker sent
  /// meanwhile must not count as "never received".
  void DispatchesSent(const std::vector<std::string>& attempt_ids, uint64_t now_ms);
  void OnAttemptStarted(const std::string& worker_id, const protocol::AttemptStarted& started,
                        uint64_t now_ms);
  void OnAttemptFinished(const std::string& worker_id, const protocol::AttemptFinished& finished,
                         uint64_t now_ms);
  /// Cancels every unfinished step; running attempts are killed.
  Result<uint32_t> Cancel(const std::string& run_id, const std::string& reason, uint64_t now_ms);
  /// A finished run read back from the store (it is no longer held in
  /// memory), so that Retry can reopen it.
  Status LoadFinishedRun(RunRecord run, std::vector<StepRecord> steps);
  /// `receta retry RUN [STEP]` (Run::Resume). The run must be held
  /// (FindRun), else the error says so.
  Result<uint32_t> Retry(const std::string& run_id, const std::string& step, uint64_t now_ms);
  /// A CAS blob failed its digest check and was dropped: every unfinished
  /// step whose result included it runs again, and what reads it waits.
  void OnBlobCorrupt(const std::string& digest, uint64_t now_ms);
  /// An alert's delivery ended (AlertSender): recorded as an event, so
  /// `receta events` shows whether the person was told.
  void RecordAlertOutcome(const AlertOutcome& outcome, uint64_t now_ms);
  /// The heartbeat liveness sent to workers: worker_timeout_ms in
  /// heartbeat intervals, rounded up.
  uint32_t heartbeat_liveness() const;
  /// Time passing: lost workers, unclaimed attempts, then dispatch.
  void Tick(uint64_t now_ms);

  /// What changed since the last call.
  Changes TakeChanges();

  // ---- Queries ---------------------------------------------------------------
  /// A run held in memory (every unfinished run and the latest finished).
  const Run* FindRun(const std::string& run_id) const;
  std::optional<AttemptLocation> FindAttempt(const std::string& attempt_id) const;
  const WorkerPool& pool() const { return pool_; }
  uint64_t last_event_seq() const { return last_event_seq_; }
  const CoreOptions& options() const { return options_; }

 private:
  Turn NewTurn(uint64_t now_ms) { return Turn(now_ms, changes_, last_event_seq_, oracle_); }
  Run* MutableRun(const std::string& run_id);
  /// Resolves speculations, dispatches ready steps, then speculates.
  void Schedule(Turn& turn);
  void DispatchReadySteps(Turn& turn);
  void DispatchStep(Run& run, int step, PoolWorker& worker, Turn& turn);
  protocol::Dispatch MakeDispatch(const Run& run, int step, const std::string& attempt_id,
                                  std::vector<protocol::InputFile> inputs) const;
  /// Pipelining a chain: a pending step whose one unfinished upstream
  /// attempt runs on a worker with room in its prefetch queue is sent there
  /// at once, to start when that attempt succeeds (Dispatch.after_attempt).
  /// Why: otherwise the worker idles for the round trip result -> scheduler
  /// -> Dispatch between every two steps of a chain (about 1 ms of a 3.5 ms
  /// step here). Nothing is recorded until the upstream's result arrives:
  /// a restart forgets speculations, and the worker's Register then learns
  /// they are stale.
  void Speculate();
  /// Each speculation whose step became ready is recorded as its dispatched
  /// attempt (no new message: the worker has it); one whose upstream attempt
  /// ended otherwise, or whose step needs no run, is killed.
  void ResolveSpeculations(Turn& turn);
  /// What `upstream` may make for `step` to be a cache hit (early cut-off),
  /// as UpstreamManifest values: those its cache entries under its family
  /// over `upstream` were made from (none when it is not cached). nullopt
  /// when that cannot be known (or is too long a list): not sent ahead.
  std::optional<std::vector<std::string>> CachedWhenUpstreamMakes(const Run& run, int step,
                                                                  int upstream);
  static constexpr size_t kMaxUnlessUpstreamMade = 16;
  /// Withdraws a speculation: KillAttempt to its worker, then forgotten.
  void DropSpeculation(const std::string& attempt_id, const std::string& why);
  /// Whether its upstream succeeded making one of its unless_upstream_made,
  /// so that its worker dropped it unstarted (as the worker decides the same).
  bool DroppedByItsWorker(const Run& run, const Speculation& speculation) const;
  /// Frees what it held on its worker and forgets it.
  void ForgetSpeculation(const std::string& attempt_id);
  /// Forgets a worker's speculations without telling it (lost, or
  /// registering again: its Register lists them as stale).
  void ForgetSpeculationsOn(const std::string& worker_id);
  /// Makes Speculate look at the downstream steps of the run's running
  /// attempts again.
  void LookDownstreamAgain(const std::string& run_id);
  void LoseWorker(const std::string& worker_id, Turn& turn);
  void ForgetAttempt(const std::string& attempt_id, const Run& run, int step);
  void RetireFinishedRuns();
  void WorkerEvent(Turn& turn, const char* kind, const PoolWorker& worker, const std::string& message);

  ArtifactOracle& oracle_;
  CoreOptions options_;
  Changes changes_;
  uint64_t last_event_seq_ = 0;
  uint64_t last_run_sequence_ = 0;
  WorkerPool pool_;
  ParsedDagCache parsed_dags_;
  std::map<std::string, std::unique_ptr<Run>> runs_;
  std::vector<std::string> run_order_;       // unfinished runs, submission order
  std::deque<std::string> finished_order_;  // finished runs held, oldest first
  std::map<std::string, AttemptLocation> attempts_;  // current, unfinished
  std::map<std::string, uint64_t> orphans_;          // attempt id -> deadline
  std::map<std::string, Speculation> speculations_;  // by attempt id
  uint64_t speculation_seq_ = 0;                     // makes their ids unique
};

}  // namespace receta::scheduler
