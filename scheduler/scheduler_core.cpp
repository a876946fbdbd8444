#include "scheduler/scheduler_core.h"

#include <algorithm>
#include <set>

#include "common/dag/dag_render.h"
#include "receta/version.h"

namespace receta::scheduler {

SchedulerCore::SchedulerCore(ArtifactOracle& oracle, CoreOptions options)
    : oracle_(oracle), options_(options), pool_(options.dispatch_prefetch) {}

// ---- Startup -------------------------------------------------------------------

void SchedulerCore::RestoreCounters(uint64_t last_event_seq, uint64_t last_run_sequence) {
  last_event_seq_ = last_event_seq;
  last_run_sequence_ = last_run_sequence;
}

void SchedulerCore::RestoreWorker(WorkerRecord worker) { pool_.Restore(std::move(worker)); }

Status SchedulerCore::RestoreRun(RunRecord record, std::vector<StepRecord> steps, uint64_t now_ms) {
  std::string id = record.run_id;
  Result<std::unique_ptr<Run>> run = Run::Create(std::move(record), &parsed_dags_);
  if (!run.ok()) return run.status().WithContext("run " + id + " cannot be reloaded");
  (*run)->Restore(std::move(steps));
  for (const StepRecord& step : (*run)->steps()) {
    if (step.state != StepState::kDispatched && step.state != StepState::kRunning) continue;
    if (step.attempts.empty()) continue;
    const std::string& attempt_id = step.attempts.back().attempt_id;
    attempts_[attempt_id] = {id, static_cast<int>(step.index)};
    orphans_[attempt_id] = now_ms + options_.orphan_grace_ms;
  }
  run_order_.push_back(id);
  runs_[id] = std::move(*run);
  return Status::Ok();
}

// ---- Inputs ----------------------------------------------------------------------

Result<std::string> SchedulerCore::Submit(const protocol::SubmitRun& submit, uint64_t now_ms,
                                          protocol::ErrorCode* error_code) {
  protocol::ErrorCode ignored;
  if (error_code == nullptr) error_code = &ignored;
  *error_code = protocol::ErrorCode::kNotFound;
  for (const FileEntry& file : submit.workspace) {
    if (!oracle_.HasBlob(file.digest, file.size_bytes)) {
      return Result<std::string>::Error("workspace file '" + file.path + "' (sha256 " + file.digest +
                                        ") was not uploaded; upload it before SubmitRun");
    }
  }
  RunRecord record;
  record.sequence = last_run_sequence_ + 1;
  record.run_id = "r-" + std::to_string(record.sequence);
  record.dag_file = submit.dag_file;
  record.dag_yaml = submit.dag_yaml;
  record.params = submit.params;
  record.no_cache = submit.no_cache;
  record.workspace = submit.workspace;
  record.submitted_ms = now_ms;
  *error_code = protocol::ErrorCode::kInvalidArgument;
  Result<std::unique_ptr<Run>> run = Run::Create(std::move(record), &parsed_dags_);
  if (!run.ok()) return run.status();
  last_run_sequence_ = (*run)->record().sequence;
  std::string id = (*run)->id();
  Run& added = *(runs_[id] = std::move(*run));
  run_order_.push_back(id);
  Turn turn = NewTurn(now_ms);
  added.Start(turn);
  Schedule(turn);
  return id;
}

protocol::RegisterAck SchedulerCore::Register(const protocol::Register& request, uint64_t now_ms) {
  WorkerRecord record;
  record.worker_id = request.worker_id;
  record.name = request.name.empty() ? request.hostname : request.name;
  record.hostname = request.hostname;
  record.labels = request.labels;
  record.slots = request.slots;
  record.cpus = request.cpus;
  record.memory_bytes = request.memory_bytes;
  record.gpus = request.gpus;
  record.os = request.os;
  record.receta_version = request.receta_version;
  record.registered_ms = now_ms;
  record.last_seen_ms = now_ms;
  // Its speculative attempts are not claimed below: it drops them as stale.
  ForgetSpeculationsOn(request.worker_id);
  PoolWorker& worker = pool_.Register(std::move(record), now_ms);
  const std::vector<std::string>& features = request.features.value_or(std::vector<std::string>{});
  worker.takes_after_attempt =
      std::find(features.begin(), features.end(), protocol::kFeatureAfterAttempt) != features.end();
  changes_.workers.push_back(worker.record);
  Turn turn = NewTurn(now_ms);

  protocol::RegisterAck ack;
  ack.worker_id = request.worker_id;
  ack.heartbeat_interval_ms = options_.heartbeat_interval_ms;
  ack.heartbeat_liveness = heartbeat_liveness();
  ack.scheduler_version = kVersion;
  // Attempts the worker still runs: adopt the current ones, fence the rest.
  std::set<std::string> claimed;
  for (const std::string& attempt_id : request.running_attempt_ids) {
    auto location = attempts_.find(attempt_id);
    Run* run = location == attempts_.end() ? nullptr : MutableRun(location->second.run_id);
    if (run == nullptr || run->step(location->second.step).attempts.back().worker_id != request.worker_id) {
      ack.stale_attempt_ids.push_back(attempt_id);
      continue;
    }
    claimed.insert(attempt_id);
    orphans_.erase(attempt_id);
    pool_.Reserve(worker, run->dag().steps[location->second.step], attempt_id);
  }
  // Attempts it held but no longer runs may have finished while we could not
  // hear it: give its re-sent AttemptFinished a grace period.
  for (const std::string& attempt_id : std::set<std::string>(worker.attempts)) {
    if (claimed.count(attempt_id)) continue;
    orphans_.emplace(attempt_id, now_ms + options_.orphan_grace_ms);
  }
  WorkerEvent(turn, "worker_registered", worker,
              worker.record.name + " on " + worker.record.hostname + " with " +
                  std::to_string(worker.record.slots) + " slots");
  Schedule(turn);
  return ack;
}

bool SchedulerCore::IsConnected(const std::string& worker_id) const {
  auto it = pool_.workers().find(worker_id);
  return it != pool_.workers().end() && it->second.connected;
}

void SchedulerCore::HeardFrom(const std::string& worker_id, uint64_t now_ms) {
  if (PoolWorker* worker = pool_.Find(worker_id)) pool_.HeardFrom(*worker, now_ms);
}

void SchedulerCore::RecordAlertOutcome(const AlertOutcome& outcome, uint64_t now_ms) {
  Turn turn = NewTurn(now_ms);
  EventRecord event;
  event.kind = outcome.delivered ? "alert_delivered" : "alert_failed";
  event.run_id = outcome.run_id;
  event.step = outcome.step;
  event.attempt_id = outcome.attempt_id;
  std::string tries = std::to_string(outcome.tries) + (outcome.tries == 1 ? " try" : " tries");
  event.message = outcome.event + " alert " + std::to_string(outcome.alert_id) + " to " + outcome.sink.Describe() +
                  (outcome.delivered ? " delivered after " + tries : " given up after " + tries + ": " + outcome.reason);
  turn.Event(std::move(event));
}

uint32_t SchedulerCore::heartbeat_liveness() const {
  uint64_t interval = std::max<uint64_t>(options_.heartbeat_interval_ms, 1);
  return static_cast<uint32_t>(std::max<uint64_t>(2, (options_.worker_timeout_ms + interval - 1) / interval));
}

void SchedulerCore::OnHeartbeat(const std::string& worker_id, const protocol::Heartbeat& heartbeat,
                                uint64_t now_ms) {
  PoolWorker* worker = pool_.Find(worker_id);
  if (worker == nullptr) return;
  // Why a grace: a heartbeat the worker sent before the Dispatch reached it
  // may arrive after the Dispatch left.
  uint64_t grace = std::max<uint64_t>(3ull * options_.heartbeat_interval_ms, 2000);
  std::set<std::string> held(heartbeat.running_attempt_ids.begin(), heartbeat.running_attempt_ids.end());
  Turn turn = NewTurn(now_ms);
  for (const std::string& attempt_id : std::set<std::string>(worker->attempts)) {
    if (held.count(attempt_id)) continue;
    std::optional<AttemptLocation> location = FindAttempt(attempt_id);
    Run* run = location ? MutableRun(location->run_id) : nullptr;
    if (run == nullptr) continue;
    const StepRecord& step = run->step(location->step);
    uint64_t sent_ms = std::max(step.attempts.back().dispatched_ms, location->sent_ms);
    if (step.state != StepState::kDispatched || sent_ms + grace > now_ms) continue;
    ForgetAttempt(attempt_id, *run, location->step);
    run->RequeueStep(location->step,
                     "worker " + worker->record.name + " never received attempt " + attempt_id +
                         " (not in its heartbeat)",
                     /*worker_lost=*/false, turn);
  }
  Schedule(turn);
}

void SchedulerCore::DispatchesSent(const std::vector<std::string>& attempt_ids, uint64_t now_ms) {
  for (const std::string& attempt_id : attempt_ids) {
    auto it = attempts_.find(attempt_id);
    if (it != attempts_.end()) it->second.sent_ms = now_ms;
  }
}

void SchedulerCore::OnAttemptStarted(const std::string& worker_id, const protocol::AttemptStarted& started,
                                     uint64_t now_ms) {
  std::optional<AttemptLocation> location = FindAttempt(started.attempt_id);
  Run* run = location ? MutableRun(location->run_id) : nullptr;
  if (run == nullptr || run->step(location->step).attempts.back().worker_id != worker_id) {
    changes_.messages.push_back(
        {worker_id, protocol::KillAttempt{started.attempt_id, "attempt is not current", options_.kill_grace_ms}});
    return;
  }
  Turn turn = NewTurn(now_ms);
  run->MarkStarted(location->step, turn, now_ms);
}

void SchedulerCore::OnAttemptFinished(const std::string& worker_id, const protocol::AttemptFinished& finished,
                                      uint64_t now_ms) {
  if (auto speculation = speculations_.find(finished.attempt_id);
      speculation != speculations_.end() && speculation->second.worker_id == worker_id) {
    // Before its upstream's result: the worker must have lost that one
    // (never in order otherwise); the step runs again once it is ready.
    DropSpeculation(finished.attempt_id, "it ended before its upstream's result arrived");
    return;
  }
  std::optional<AttemptLocation> location = FindAttempt(finished.attempt_id);
  Run* run = location ? MutableRun(location->run_id) : nullptr;
  if (run == nullptr) return;  // stale or already recorded: acknowledged, ignored
  const AttemptRecord& current = run->step(location->step).attempts.back();
  if (current.worker_id != worker_id) return;
  ForgetAttempt(finished.attempt_id, *run, location->step);
  Turn turn = NewTurn(now_ms);
  run->FinishAttempt(location->step, finished, turn);
  // A step done may leave a downstream step waiting on one running step.
  LookDownstreamAgain(run->id());
  Schedule(turn);
}

Result<uint32_t> SchedulerCore::Cancel(const std::string& run_id, const std::string& reason, uint64_t now_ms) {
  Run* run = MutableRun(run_id);
  if (run == nullptr) return Result<uint32_t>::Error("run " + run_id + " is not running");
  for (const StepRecord& step : run->steps()) {
    if (step.attempts.empty() || step.attempts.back().finished) continue;
    if (step.state != StepState::kDispatched && step.state != StepState::kRunning) continue;
    const AttemptRecord& attempt = step.attempts.back();
    changes_.messages.push_back(
        {attempt.worker_id, protocol::KillAttempt{attempt.attempt_id, "run cancelled: " + reason,
                                                  options_.kill_grace_ms}});
    ForgetAttempt(attempt.attempt_id, *run, static_cast<int>(step.index));
  }
  Turn turn = NewTurn(now_ms);
  uint32_t cancelled = run->Cancel(reason, turn);
  Schedule(turn);
  return cancelled;
}

Status SchedulerCore::LoadFinishedRun(RunRecord record, std::vector<StepRecord> steps) {
  std::string id = record.run_id;
  if (runs_.count(id)) return Status::Ok();
  Result<std::unique_ptr<Run>> run = Run::Create(std::move(record), &parsed_dags_);
  if (!run.ok()) return run.status().WithContext("run " + id + " cannot be reloaded");
  (*run)->Restore(std::move(steps));
  runs_[id] = std::move(*run);
  finished_order_.push_back(id);
  return Status::Ok();
}

Result<uint32_t> SchedulerCore::Retry(const std::string& run_id, const std::string& step, uint64_t now_ms) {
  auto it = runs_.find(run_id);
  if (it == runs_.end()) return Result<uint32_t>::Error("no run " + run_id + "; `receta runs` lists them");
  Run& run = *it->second;
  Turn turn = NewTurn(now_ms);
  Result<uint32_t> reopened = run.Resume(step, turn);
  if (!reopened.ok()) return reopened;
  if (!run.finished()) {
    std::erase(finished_order_, run_id);
    if (std::find(run_order_.begin(), run_order_.end(), run_id) == run_order_.end()) run_order_.push_back(run_id);
  }
  Schedule(turn);
  return reopened;
}

void SchedulerCore::OnBlobCorrupt(const std::string& digest, uint64_t now_ms) {
  Turn turn = NewTurn(now_ms);
  for (const std::string& run_id : run_order_) {
    if (Run* run = MutableRun(run_id)) run->ReopenProducersOf(digest, turn);
  }
  Schedule(turn);
}

void SchedulerCore::Tick(uint64_t now_ms) {
  Turn turn = NewTurn(now_ms);
  for (const std::string& worker_id : pool_.ExpireSilent(now_ms, options_.worker_timeout_ms)) {
    LoseWorker(worker_id, turn);
  }
  for (const std::string& run_id : run_order_) {
    if (Run* run = MutableRun(run_id)) run->WakeRetries(turn);
  }
  for (auto it = orphans_.begin(); it != orphans_.end();) {
    if (it->second > now_ms) {
      ++it;
      continue;
    }
    std::string attempt_id = it->first;
    it = orphans_.erase(it);
    std::optional<AttemptLocation> location = FindAttempt(attempt_id);
    Run* run = location ? MutableRun(location->run_id) : nullptr;
    if (run == nullptr) continue;
    ForgetAttempt(attempt_id, *run, location->step);
    run->RequeueStep(location->step,
                     "attempt " + attempt_id + " was not claimed by its worker after the scheduler restarted",
                     /*worker_lost=*/false, turn);
  }
  Schedule(turn);
}

Changes SchedulerCore::TakeChanges() {
  for (auto& [id, run] : runs_) run->FlushDirty(changes_);
  RetireFinishedRuns();
  Changes taken = std::move(changes_);
  changes_ = Changes();
  return taken;
}

// ---- Queries -----------------------------------------------------------------------

const Run* SchedulerCore::FindRun(const std::string& run_id) const {
  auto it = runs_.find(run_id);
  return it == runs_.end() ? nullptr : it->second.get();
}

std::optional<AttemptLocation> SchedulerCore::FindAttempt(const std::string& attempt_id) const {
  auto it = attempts_.find(attempt_id);
  if (it == attempts_.end()) return std::nullopt;
  return it->second;
}

// ---- Decisions -----------------------------------------------------------------------

Run* SchedulerCore::MutableRun(const std::string& run_id) {
  auto it = runs_.find(run_id);
  if (it == runs_.end() || it->second->finished()) return nullptr;
  return it->second.get();
}

void SchedulerCore::Schedule(Turn& turn) {
  ResolveSpeculations(turn);
  DispatchReadySteps(turn);
  Speculate();
}

void SchedulerCore::DispatchReadySteps(Turn& turn) {
  for (const std::string& run_id : run_order_) {
    if (pool_.AllBusy()) return;
    Run* run = MutableRun(run_id);
    if (run == nullptr) continue;
    std::deque<int>& queue = run->ready_queue();
    std::deque<int> kept;
    while (!queue.empty() && !pool_.AllBusy()) {
      int step = queue.front();
      queue.pop_front();
      if (run->step(step).state != StepState::kReady) continue;
      const Step& spec = run->dag().steps[step];
      MatchResult match = pool_.Match(spec, run->WorkersHoldingInputs(step), run->avoid_worker(step));
      if (match.worker != nullptr) {
        DispatchStep(*run, step, *match.worker, turn);
        continue;
      }
      if (!match.never_reason.empty() && run->wait_reason(step) != match.never_reason) {
        run->SetWaitReason(step, match.never_reason);
        EventRecord event;
        event.kind = "step_waiting";
        event.run_id = run->id();
        event.step = spec.name;
        event.state = "waiting";
        event.message = match.never_reason;
        turn.Event(std::move(event));
      } else if (match.never_reason.empty()) {
        run->SetWaitReason(step, "");
      }
      kept.push_back(step);
    }
    // Steps not looked at keep their place behind the ones that were.
    kept.insert(kept.end(), queue.begin(), queue.end());
    queue.swap(kept);
  }
}

void SchedulerCore::DispatchStep(Run& run, int step, PoolWorker& worker, Turn& turn) {
  Result<std::vector<protocol::InputFile>> inputs = run.InputFilesOf(step);
  const Step& spec = run.dag().steps[step];
  const AttemptRecord& attempt = run.Dispatch(step, worker.record.worker_id, worker.record.name, turn);
  if (!inputs.ok()) {
    protocol::AttemptFinished failed;
    failed.attempt_id = attempt.attempt_id;
    failed.exit_code = -1;
    failed.error = inputs.error();
    run.FinishAttempt(step, failed, turn);
    return;
  }
  pool_.Reserve(worker, spec, attempt.attempt_id);
  attempts_[attempt.attempt_id] = {run.id(), step};
  changes_.messages.push_back({worker.record.worker_id, MakeDispatch(run, step, attempt.attempt_id,
                                                                     std::move(inputs).value())});
}

protocol::Dispatch SchedulerCore::MakeDispatch(const Run& run, int step,
                                               const std::string& attempt_id,
                                               std::vector<protocol::InputFile> inputs) const {
  const Step& spec = run.dag().steps[step];
  protocol::Dispatch dispatch;
  dispatch.run_id = run.id();
  dispatch.step = spec.name;
  dispatch.attempt_id = attempt_id;
  dispatch.command = RenderStepCommand(run.dag(), spec, run.id());
  dispatch.env = RenderStepEnv(run.dag(), spec, run.id());
  dispatch.inputs = std::move(inputs);
  dispatch.outputs = spec.outputs;
  dispatch.timeout_ms = static_cast<uint64_t>(std::max<int64_t>(spec.timeout_ms, 0));
  dispatch.resources.cpus = spec.resources.cpus;
  dispatch.resources.memory_bytes = static_cast<uint64_t>(std::max<int64_t>(spec.resources.memory_bytes, 0));
  dispatch.resources.gpus = static_cast<uint32_t>(std::max(spec.resources.gpus, 0));
  return dispatch;
}

// ---- Speculation (a chain's next step sent ahead) -------------------------------------

void SchedulerCore::Speculate() {
  // Why one run only: another run's result could enter the cache between
  // a step's dispatch and its upstream's end, making it a hit its worker
  // cannot know of.
  if (!options_.speculative_dispatch) return;
  size_t unfinished =
      std::count_if(run_order_.begin(), run_order_.end(),
                    [&](const std::string& id) { return MutableRun(id) != nullptr; });
  if (unfinished != 1) return;
  auto speculated = [&](const std::string& run_id, int step) {
    return std::any_of(speculations_.begin(), speculations_.end(), [&](const auto& entry) {
      return entry.second.run_id == run_id && entry.second.step == step;
    });
  };
  for (auto& [upstream_attempt, location] : attempts_) {
    if (location.looked_downstream) continue;
    Run* run = MutableRun(location.run_id);
    if (run == nullptr) continue;
    const StepRecord& upstream = run->step(location.step);
    if (upstream.state != StepState::kDispatched && upstream.state != StepState::kRunning) continue;
    PoolWorker* worker = pool_.Find(upstream.attempts.back().worker_id);
    auto has_room = [&] {
      return worker != nullptr && worker->takes_after_attempt && pool_.HasRoom(*worker);
    };
    if (!has_room()) continue;  // looked at again when it has
    location.looked_downstream = true;
    // Its success is the scheduler's to judge (metrics, gate), not the worker's.
    const Step& upstream_spec = run->dag().steps[location.step];
    if (!upstream_spec.metrics.empty() || upstream_spec.gate) continue;
    for (const DagEdge& edge : run->graph().downstream[location.step]) {
      if (!has_room()) break;
      int step = edge.to;
      if (!run->WaitsOnlyOn(step, location.step) || speculated(run->id(), step)) continue;
      const Step& spec = run->dag().steps[step];
      if (!pool_.CanQueue(*worker, spec) || run->avoid_worker(step) == worker->record.worker_id)
        continue;
      std::optional<std::vector<std::string>> unless =
          CachedWhenUpstreamMakes(*run, step, location.step);
      if (!unless) continue;
      Result<std::vector<protocol::InputFile>> inputs = run->InputFilesOf(step, location.step);
      if (!inputs.ok()) continue;  // dispatched normally once ready, which reports the error
      // Why an id of its own: one a normal dispatch of the step never gets,
      // so a withdrawn speculation's late messages cannot pass for it.
      std::string attempt_id = run->NextAttemptId(step, "s" + std::to_string(++speculation_seq_));
      pool_.Reserve(*worker, spec, attempt_id);
      speculations_[attempt_id] = {run->id(),        step,          worker->record.worker_id,
                                   upstream_attempt, location.step, *unless,
                                   spec.resources};
      protocol::Dispatch dispatch = MakeDispatch(*run, step, attempt_id, std::move(inputs).value());
      dispatch.after_attempt = upstream_attempt;
      if (!unless->empty()) dispatch.unless_upstream_made = std::move(*unless);
      changes_.messages.push_back({worker->record.worker_id, std::move(dispatch)});
    }
  }
}

std::optional<std::vector<std::string>> SchedulerCore::CachedWhenUpstreamMakes(const Run& run,
                                                                               int step,
                                                                               int upstream) {
  if (!run.dag().steps[step].cache || run.record().no_cache) return std::vector<std::string>();
  if (!run.HasCacheFamilies(step)) return std::nullopt;
  std::vector<size_t> from_upstream = run.InputIndexesFrom(step, upstream);
  if (from_upstream.empty()) {
    // Only ordered after it (needs): its key is known now.
    Result<std::string> key = run.CacheKeyOf(step);
    if (!key.ok() || oracle_.FindCacheEntry(*key)) return std::nullopt;
    return std::vector<std::string>();
  }
  // A family blanks one input, whose members tell what the upstream made
  // only when it alone makes that input.
  if (from_upstream.size() != 1 ||
      run.graph().input_producers[step][from_upstream[0]].size() != 1) {
    return std::nullopt;
  }
  Result<std::string> family = run.CacheFamilyOf(step, static_cast<int>(from_upstream[0]));
  if (!family.ok()) return std::nullopt;
  std::optional<std::vector<std::string>> members = oracle_.CacheFamilyMembers(*family);
  if (!members) return std::nullopt;
  for (const CacheFamilyMember& unsaved : changes_.cache_families) {
    if (unsaved.family == *family) members->push_back(unsaved.upstream_manifest);
  }
  std::sort(members->begin(), members->end());
  members->erase(std::unique(members->begin(), members->end()), members->end());
  if (members->size() > kMaxUnlessUpstreamMade) return std::nullopt;
  return members;
}

void SchedulerCore::ResolveSpeculations(Turn& turn) {
  std::vector<std::pair<std::string, std::string>> dropped;  // attempt id, why
  std::vector<std::string> unstarted;                        // dropped by the worker itself
  for (auto it = speculations_.begin(); it != speculations_.end();) {
    const std::string attempt_id = it->first;
    const Speculation& speculation = it->second;
    ++it;  // a recorded one leaves the map below
    if (const Run* held = FindRun(speculation.run_id);
        held != nullptr && DroppedByItsWorker(*held, speculation)) {
      unstarted.push_back(attempt_id);  // cached now, or dispatched anew
      continue;
    }
    Run* run = MutableRun(speculation.run_id);
    if (run == nullptr) {
      dropped.push_back({attempt_id, "run " + speculation.run_id + " is over"});
      continue;
    }
    StepState state = run->step(speculation.step).state;
    if (state == StepState::kPending) {
      if (!attempts_.count(speculation.after_attempt)) {
        dropped.push_back(
            {attempt_id, "attempt " + speculation.after_attempt + " ended without readying it"});
      } else if (!run->WaitsOnlyOn(speculation.step, speculation.upstream_step)) {
        dropped.push_back({attempt_id, "it waits on another step again"});
      }
      continue;
    }
    PoolWorker* worker = pool_.Find(speculation.worker_id);
    if (state != StepState::kReady || worker == nullptr || !worker->connected ||
        !run->InputFilesOf(speculation.step).ok()) {
      // A cached step, one that cannot run, or one that runs elsewhere.
      dropped.push_back({attempt_id, "the step is " + std::string(StepStateName(state)) + " now"});
      continue;
    }
    run->Dispatch(speculation.step, worker->record.worker_id, worker->record.name, turn,
                  attempt_id);
    attempts_[attempt_id] = {speculation.run_id, speculation.step, turn.now_ms()};
    speculations_.erase(attempt_id);  // its pool reservation is the attempt's now
  }
  for (const auto& [attempt_id, why] : dropped) DropSpeculation(attempt_id, why);
  for (const std::string& attempt_id : unstarted) ForgetSpeculation(attempt_id);
}

bool SchedulerCore::DroppedByItsWorker(const Run& run, const Speculation& speculation) const {
  const std::vector<std::string>& unless = speculation.unless_upstream_made;
  const StepRecord& upstream = run.step(speculation.upstream_step);
  if (unless.empty() || upstream.state != StepState::kSucceeded ||
      upstream.attempts.back().attempt_id != speculation.after_attempt) {
    return false;
  }
  Result<std::string> made = run.UpstreamManifestOf(speculation.step, speculation.upstream_step);
  return made.ok() && std::find(unless.begin(), unless.end(), *made) != unless.end();
}

void SchedulerCore::DropSpeculation(const std::string& attempt_id, const std::string& why) {
  auto it = speculations_.find(attempt_id);
  if (it == speculations_.end()) return;
  changes_.messages.push_back(
      {it->second.worker_id,
       protocol::KillAttempt{attempt_id, "speculative dispatch withdrawn: " + why,
                             options_.kill_grace_ms}});
  ForgetSpeculation(attempt_id);
}

void SchedulerCore::ForgetSpeculation(const std::string& attempt_id) {
  auto it = speculations_.find(attempt_id);
  if (it == speculations_.end()) return;
  pool_.Release(it->second.worker_id, it->second.resources, attempt_id);
  speculations_.erase(it);
}

void SchedulerCore::LookDownstreamAgain(const std::string& run_id) {
  for (auto& [attempt_id, location] : attempts_) {
    if (location.run_id == run_id) location.looked_downstream = false;
  }
}

void SchedulerCore::ForgetSpeculationsOn(const std::string& worker_id) {
  std::vector<std::string> forgotten;
  for (const auto& [attempt_id, speculation] : speculations_) {
    if (speculation.worker_id != worker_id) continue;
    forgotten.push_back(attempt_id);
    if (auto upstream = attempts_.find(speculation.after_attempt); upstream != attempts_.end()) {
      upstream->second.looked_downstream = false;  // may go ahead again
    }
  }
  for (const std::string& attempt_id : forgotten) ForgetSpeculation(attempt_id);
}

void SchedulerCore::LoseWorker(const std::string& worker_id, Turn& turn) {
  PoolWorker* worker = pool_.Find(worker_id);
  if (worker == nullptr) return;
  WorkerEvent(turn, "worker_lost", *worker,
              worker->record.name + " silent for " + std::to_string(options_.worker_timeout_ms) + " ms");
  ForgetSpeculationsOn(worker_id);
  for (const std::string& attempt_id : std::set<std::string>(worker->attempts)) {
    std::optional<AttemptLocation> location = FindAttempt(attempt_id);
    Run* run = location ? MutableRun(location->run_id) : nullptr;
    if (run == nullptr) continue;
    ForgetAttempt(attempt_id, *run, location->step);
    run->RequeueStep(location->step,
                     "worker " + worker->record.name + " was lost (silent for " +
                         std::to_string(options_.worker_timeout_ms) + " ms)",
                     /*worker_lost=*/true, turn);
  }
  worker->attempts.clear();
  worker->used_slots = 0;
  worker->used_cpus = 0;
  worker->used_memory_bytes = 0;
  worker->used_gpus = 0;
}

void SchedulerCore::ForgetAttempt(const std::string& attempt_id, const Run& run, int step) {
  const StepRecord& record = run.step(step);
  if (!record.attempts.empty()) {
    pool_.Release(record.attempts.back().worker_id, run.dag().steps[step].resources, attempt_id);
  }
  attempts_.erase(attempt_id);
  orphans_.erase(attempt_id);
}

void SchedulerCore::RetireFinishedRuns() {
  auto finished = std::remove_if(run_order_.begin(), run_order_.end(), [&](const std::string& id) {
    auto it = runs_.find(id);
    if (it == runs_.end() || !it->second->finished()) return false;
    finished_order_.push_back(id);
    return true;
  });
  run_order_.erase(finished, run_order_.end());
  while (finished_order_.size() > options_.finished_runs_in_memory) {
    runs_.erase(finished_order_.front());
    finished_order_.pop_front();
  }
}

void SchedulerCore::WorkerEvent(Turn& turn, const char* kind, const PoolWorker& worker,
                                const std::string& message) {
  EventRecord event;
  event.kind = kind;
  event.worker_id = worker.record.worker_id;
  event.worker_name = worker.record.name;
  event.state = worker.connected ? "connected" : "lost";
  event.message = message;
  turn.Event(std::move(event));
}

}  // namespace receta::scheduler
