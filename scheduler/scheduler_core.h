#pragma once
// SchedulerCore: every scheduling decision, as a state machine over runs,
// attempts and workers. Pure: it is told the time and what arrived, and
// returns what changed (records to persist, events, messages to send) from
// TakeChanges(). The server loop persists those in one synced batch before
// sending anything (DESIGN.md, "Persistence"). One thread owns it.
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
};

/// Where an attempt belongs.
struct AttemptLocation {
  std::string run_id;
  int step = 0;
  /// When its Dispatch left (DispatchesSent); 0 until then. In memory only.
  uint64_t sent_ms = 0;
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
  void Schedule(Turn& turn);
  void DispatchStep(Run& run, int step, PoolWorker& worker, Turn& turn);
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
};

}  // namespace receta::scheduler
