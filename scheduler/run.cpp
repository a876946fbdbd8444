#include "scheduler/run.h"

#include <algorithm>

#include "common/cache/cache_key.h"
#include "common/cache/upstream_manifest.h"
#include "common/dag/dag_load.h"
#include "common/dag/dag_render.h"
#include "common/fs/file_system.h"
#include "common/hash/manifest_digest.h"
#include "common/json/json_writer.h"
#include "common/lang/gate.h"
#include "common/lang/metrics_json.h"
#include "common/protocol/input_files.h"
#include "scheduler/alert_rules.h"
#include "scheduler/retry_policy.h"

namespace receta::scheduler {
namespace {

// The steps at the other end of `edges`, each once: several edges (needs and
// inputs) may join the same pair of steps, but a step waits on it once.
std::vector<int> DistinctNeighbours(const std::vector<DagEdge>& edges, bool upstream) {
  std::vector<int> steps;
  steps.reserve(edges.size());
  for (const DagEdge& edge : edges) steps.push_back(upstream ? edge.from : edge.to);
  std::sort(steps.begin(), steps.end());
  steps.erase(std::unique(steps.begin(), steps.end()), steps.end());
  return steps;
}

// The family of a key over one of its inputs: the key's encoding with that
// input's digest replaced. Why a prefix: a family must never equal a key.
std::string FamilyKey(CacheKeyInputs inputs, const std::string& blank_path) {
  inputs.input_digests[blank_path] = "blank";  // never a hex digest
  return HashBytes("receta-cache-family\n" + EncodeCacheKey(inputs)).ToHex();
}

// An attempt that ends with no result of its own (lost, cancelled).
void EndAttemptWithoutResult(AttemptRecord& attempt, uint64_t now_ms, std::string why) {
  attempt.finished = true;
  attempt.finished_ms = now_ms;
  attempt.exit_code = -1;
  attempt.error = std::move(why);
}

// A step back to pending with no result (reopened by a corrupt blob or by
// `receta retry`); its attempts stay, for their logs.
void ClearResult(StepRecord& record) {
  record.state = StepState::kPending;
  record.outputs.clear();
  record.metrics_json.clear();
  record.cached_from_run.clear();
  record.finished_ms = 0;
}

}  // namespace

uint64_t Turn::Event(EventRecord event) {
  event.seq = ++last_event_seq_;
  event.time_ms = now_ms_;
  changes_.events.push_back(std::move(event));
  return last_event_seq_;
}

Result<std::unique_ptr<Run>> Run::Create(RunRecord record, ParsedDagCache* cache) {
  std::string key = cache != nullptr ? ParsedDagCache::KeyOf(record) : "";
  if (std::shared_ptr<const ParsedDag> parsed = cache != nullptr ? cache->Find(key) : nullptr) {
    record.dag_name = parsed->dag.name;
    record.step_count = static_cast<uint32_t>(parsed->dag.steps.size());
    return std::unique_ptr<Run>(new Run(std::move(record), std::move(parsed)));
  }
  MemoryFileSystem workspace;
  for (const FileEntry& file : record.workspace) workspace.AddFile(file.path);
  ParseOptions options;
  options.default_name = DagNameFromPath(record.dag_file);
  for (const auto& [name, value] : record.params) options.param_overrides.emplace_back(name, value);
  LoadedDag loaded = LoadDagText(record.dag_yaml, record.dag_file, options, workspace);
  if (!loaded.ok()) {
    return Result<std::unique_ptr<Run>>::Error(loaded.diagnostics.Format());
  }
  record.dag_name = loaded.dag->name;
  record.step_count = static_cast<uint32_t>(loaded.dag->steps.size());
  auto parsed = std::make_shared<const ParsedDag>(ParsedDag{std::move(*loaded.dag), std::move(loaded.graph)});
  if (cache != nullptr) cache->Remember(std::move(key), parsed);
  return std::unique_ptr<Run>(new Run(std::move(record), std::move(parsed)));
}

Run::Run(RunRecord record, std::shared_ptr<const ParsedDag> parsed)
    : record_(std::move(record)), parsed_(std::move(parsed)), dag_(parsed_->dag), graph_(parsed_->graph) {
  size_t n = dag_.steps.size();
  steps_.resize(n);
  unfinished_upstream_.assign(n, 0);
  wait_reasons_.resize(n);
  avoid_worker_.resize(n);
  dirty_.assign(n, 0);
  for (size_t i = 0; i < n; ++i) {
    steps_[i].run_id = record_.run_id;
    steps_[i].index = static_cast<uint32_t>(i);
    steps_[i].name = dag_.steps[i].name;
    unfinished_upstream_[i] = static_cast<uint32_t>(DistinctNeighbours(graph_.upstream[i], true).size());
  }
  workspace_ = record_.workspace;
  std::sort(workspace_.begin(), workspace_.end(),
            [](const FileEntry& a, const FileEntry& b) { return a.path < b.path; });
}

void Run::Start(Turn& turn) {
  run_dirty_ = true;
  Emit(turn, "run_submitted", -1,
       "run of " + record_.dag_name + " submitted with " + std::to_string(steps_.size()) + " steps");
  std::vector<int> roots;
  for (size_t i = 0; i < steps_.size(); ++i) {
    MarkDirty(static_cast<int>(i));
    if (unfinished_upstream_[i] == 0) roots.push_back(static_cast<int>(i));
  }
  ReadySteps(std::move(roots), turn);
  CheckFinished(turn);
}

void Run::Restore(std::vector<StepRecord> steps) {
  for (StepRecord& step : steps) {
    if (step.index >= steps_.size() || step.name != steps_[step.index].name) continue;
    steps_[step.index] = std::move(step);
  }
  for (size_t i = 0; i < steps_.size(); ++i) {
    if (steps_[i].state == StepState::kReady) ready_.push_back(static_cast<int>(i));
    if (steps_[i].state == StepState::kRetrying) retrying_.insert(static_cast<int>(i));
  }
  Recount();
}

void Run::Recount() {
  terminal_steps_ = steps_done_ = steps_failed_ = 0;
  for (size_t i = 0; i < steps_.size(); ++i) {
    StepState state = steps_[i].state;
    if (IsTerminal(state)) ++terminal_steps_;
    if (IsDone(state)) {
      ++steps_done_;
    } else if (state == StepState::kFailed || state == StepState::kGateFailed) {
      ++steps_failed_;
    }
    std::vector<int> upstream = DistinctNeighbours(graph_.upstream[i], true);
    unfinished_upstream_[i] = static_cast<uint32_t>(
        std::count_if(upstream.begin(), upstream.end(), [&](int from) { return !IsDone(steps_[from].state); }));
  }
}

void Run::SetWaitReason(int step, std::string reason) { wait_reasons_[step] = std::move(reason); }

void Run::MarkDirty(int step) {
  if (dirty_[step]) return;
  dirty_[step] = 1;
  dirty_list_.push_back(step);
}


void Run::FlushDirty(Changes& changes) {
  for (int step : dirty_list_) {
    dirty_[step] = 0;
    changes.steps.push_back(steps_[step]);
  }
  dirty_list_.clear();
  if (run_dirty_) {
    record_.steps_done = static_cast<uint32_t>(steps_done_);
    record_.steps_failed = static_cast<uint32_t>(steps_failed_);
    changes.runs.push_back(record_);
    run_dirty_ = false;
  }
}

uint64_t Run::Emit(Turn& turn, const char* kind, int step, const std::string& message) {
  EventRecord event;
  event.kind = kind;
  event.run_id = record_.run_id;
  event.message = message;
  if (step >= 0) {
    const StepRecord& record = steps_[step];
    event.step = record.name;
    event.state = StepStateName(record.state);
    if (!record.attempts.empty()) {
      event.attempt_id = record.attempts.back().attempt_id;
      event.worker_id = record.attempts.back().worker_id;
      event.worker_name = record.attempts.back().worker_name;
    }
  } else {
    event.state = RunStateName(record_.state);
  }
  return turn.Event(std::move(event));
}

void Run::RaiseAlert(const char* event, int step, const std::string& error, Turn& turn) {
  std::vector<AlertSink> sinks = SinksFor(dag_, step, event);
  if (sinks.empty()) return;
  Alert alert;
  // Why the last event's number: unique, and it ties the alert's outcome
  // events back to what raised it.
  alert.id = turn.changes().events.empty() ? 0 : turn.changes().events.back().seq;
  alert.event = event;
  alert.run_id = record_.run_id;
  alert.dag_name = record_.dag_name;
  alert.error = error;
  alert.time_ms = turn.now_ms();
  alert.sinks = std::move(sinks);
  if (step >= 0) {
    const StepRecord& record = steps_[step];
    alert.step = record.name;
    alert.state = StepStateName(record.state);
    if (!record.attempts.empty()) {
      alert.attempt_id = record.attempts.back().attempt_id;
      alert.attempt_number = record.attempts.back().number;
      alert.worker_name = record.attempts.back().worker_name;
    }
  } else {
    alert.state = RunStateName(record_.state);
  }
  turn.changes().alerts.push_back(std::move(alert));
}

// ---- Inputs and cache keys ---------------------------------------------------

std::vector<FileEntry> Run::FilesOfInput(int step, size_t input_index, int skip_producer) const {
  const std::string& path = dag_.steps[step].inputs[input_index];
  std::vector<FileEntry> files;
  const std::vector<int>& producers = graph_.input_producers[step][input_index];
  if (producers.empty()) {
    auto it = std::lower_bound(workspace_.begin(), workspace_.end(), path,
                               [](const FileEntry& f, const std::string& p) { return f.path < p; });
    for (; it != workspace_.end() && it->path.compare(0, path.size(), path) == 0; ++it) {
      if (PathIsAtOrUnder(it->path, path)) files.push_back(*it);
    }
    return files;
  }
  for (int producer : producers) {
    if (producer == skip_producer) continue;
    for (const FileEntry& output : steps_[producer].outputs) {
      // The input may name an output file, a directory output, a file inside
      // a directory output, or a directory holding several outputs.
      if (PathIsAtOrUnder(output.path, path)) files.push_back(output);
    }
  }
  std::sort(files.begin(), files.end(), [](const FileEntry& a, const FileEntry& b) { return a.path < b.path; });
  files.erase(std::unique(files.begin(), files.end(),
                          [](const FileEntry& a, const FileEntry& b) { return a.path == b.path; }),
              files.end());
  return files;
}

Result<std::vector<protocol::InputFile>> Run::InputFilesOf(int step, int pending) const {
  std::vector<protocol::InputFile> inputs;
  const Step& spec = dag_.steps[step];
  for (size_t i = 0; i < spec.inputs.size(); ++i) {
    std::vector<FileEntry> files = FilesOfInput(step, i, pending);
    const std::vector<int>& producers = graph_.input_producers[step][i];
    if (pending >= 0 && std::find(producers.begin(), producers.end(), pending) != producers.end()) {
      inputs.push_back(
          {spec.inputs[i], "", std::string(protocol::kInputKindUpstream), 0, std::nullopt});
    } else if (files.empty()) {
      return Result<std::vector<protocol::InputFile>>::Error(
          "input '" + spec.inputs[i] + "' has no files: no upstream step produced it");
    }
    for (const FileEntry& file : files) inputs.push_back(protocol::InputFileOf(file));
  }
  protocol::SortUniqueByPath(inputs);
  return inputs;
}

Result<CacheKeyInputs> Run::CacheKeyInputsOf(int step, int leave_out) const {
  const Step& spec = dag_.steps[step];
  std::map<std::string, std::string> digests;
  for (size_t i = 0; i < spec.inputs.size(); ++i) {
    if (static_cast<int>(i) == leave_out) continue;
    std::vector<FileEntry> files = FilesOfInput(step, i);
    Result<Digest> digest = ManifestDigest(spec.inputs[i], files);
    if (!digest.ok()) return digest.status().WithContext("input '" + spec.inputs[i] + "'");
    digests[spec.inputs[i]] = digest->ToHex();
  }
  return StepCacheKeyInputs(dag_, spec, std::move(digests));
}

Result<std::string> Run::CacheKeyOf(int step) const {
  Result<CacheKeyInputs> inputs = CacheKeyInputsOf(step);
  if (!inputs.ok()) return inputs.status();
  return ComputeCacheKey(*inputs).ToHex();
}

Result<std::string> Run::CacheFamilyOf(int step, int input_index) const {
  Result<CacheKeyInputs> inputs = CacheKeyInputsOf(step, input_index);
  if (!inputs.ok()) return inputs.status();
  return FamilyKey(std::move(*inputs), dag_.steps[step].inputs[input_index]);
}

std::vector<size_t> Run::InputIndexesFrom(int step, int upstream) const {
  std::vector<size_t> indexes;
  const std::vector<std::vector<int>>& producers = graph_.input_producers[step];
  for (size_t i = 0; i < producers.size(); ++i) {
    if (std::find(producers[i].begin(), producers[i].end(), upstream) != producers[i].end()) {
      indexes.push_back(i);
    }
  }
  return indexes;
}

std::vector<std::string> Run::InputsFrom(int step, int upstream) const {
  std::vector<std::string> paths;
  for (size_t i : InputIndexesFrom(step, upstream)) paths.push_back(dag_.steps[step].inputs[i]);
  return paths;
}

std::vector<CacheFamilyMember> Run::CacheFamilyMembersOf(int step) const {
  std::vector<CacheFamilyMember> members;
  const std::vector<std::string>& inputs = dag_.steps[step].inputs;
  if (!HasCacheFamilies(step)) return members;
  Result<CacheKeyInputs> key = CacheKeyInputsOf(step);  // once, for every family
  if (!key.ok()) return members;
  for (size_t i = 0; i < inputs.size(); ++i) {
    Result<std::string> made = UpstreamManifest({inputs[i]}, FilesOfInput(step, i));
    if (made.ok()) members.push_back({FamilyKey(*key, inputs[i]), *made});
  }
  return members;
}

Result<std::string> Run::UpstreamManifestOf(int step, int upstream) const {
  return UpstreamManifest(InputsFrom(step, upstream), steps_[upstream].outputs);
}

bool Run::HasCacheFamilies(int step) const {
  return dag_.steps[step].inputs.size() <= kMaxFamilyInputs;
}

bool Run::WaitsOnlyOn(int step, int upstream) const {
  if (steps_[step].state != StepState::kPending || unfinished_upstream_[step] != 1) return false;
  const std::vector<DagEdge>& edges = graph_.upstream[step];
  return std::any_of(edges.begin(), edges.end(),
                     [&](const DagEdge& e) { return e.from == upstream; });
}

std::string Run::NextAttemptId(int step, const std::string& tag) const {
  return record_.run_id + "." + std::to_string(step) + tag + "-" +
         std::to_string(steps_[step].attempts.size() + 1);
}

std::vector<std::string> Run::WorkersHoldingInputs(int step) const {
  std::map<std::string, uint64_t> bytes_by_worker;
  for (const DagEdge& edge : graph_.upstream[step]) {
    const StepRecord& producer = steps_[edge.from];
    if (producer.attempts.empty() || producer.state != StepState::kSucceeded) continue;
    uint64_t bytes = 1;
    for (const FileEntry& output : producer.outputs) bytes += output.size_bytes;
    bytes_by_worker[producer.attempts.back().worker_id] += bytes;
  }
  std::vector<std::pair<uint64_t, std::string>> ranked;
  for (auto& [worker, bytes] : bytes_by_worker) ranked.emplace_back(bytes, worker);
  std::sort(ranked.rbegin(), ranked.rend());
  std::vector<std::string> workers;
  for (auto& [bytes, worker] : ranked) workers.push_back(worker);
  return workers;
}

// ---- Transitions -------------------------------------------------------------

void Run::ReadySteps(std::vector<int> worklist, Turn& turn) {
  // Why a worklist: a chain of cache hits readies the next step each time;
  // recursion would be as deep as the chain.
  while (!worklist.empty()) {
    int step = worklist.back();
    worklist.pop_back();
    if (steps_[step].state != StepState::kPending) continue;
    StepRecord& record = steps_[step];
    record.ready_ms = turn.now_ms();
    Result<std::string> key = CacheKeyOf(step);
    if (!key.ok()) {
      FailStep(step, StepState::kFailed, key.error(), turn);
      continue;
    }
    record.cache_key = *key;
    if (TryCache(step, turn)) {
      std::vector<int> next = CompleteStep(step, StepState::kCached, turn);
      worklist.insert(worklist.end(), next.begin(), next.end());
      continue;
    }
    if (steps_[step].state != StepState::kPending) continue;  // cached but gate failed
    record.state = StepState::kReady;
    MarkDirty(step);
    ready_.push_back(step);
    Emit(turn, "step_ready", step, "cache key " + record.cache_key.substr(0, 12));
  }
}

bool Run::TryCache(int step, Turn& turn) {
  const Step& spec = dag_.steps[step];
  if (!spec.cache || record_.no_cache) return false;
  std::optional<CacheEntry> entry = turn.oracle().FindCacheEntry(steps_[step].cache_key);
  if (!entry) return false;
  for (const FileEntry& output : entry->outputs) {
    if (!turn.oracle().HasBlob(output.digest, output.size_bytes)) return false;
  }
  StepRecord& record = steps_[step];
  record.outputs = entry->outputs;
  record.cached_from_run = entry->run_id;
  bool gate_failed = false;
  Status gate = ApplyMetricsAndGate(step, record.outputs, turn, &gate_failed);
  if (!gate.ok()) {
    // The cached result stands; its gate does not hold (or its metrics
    // cannot be read), exactly as if the step had just run.
    FailStep(step, gate_failed ? StepState::kGateFailed : StepState::kFailed, gate.message(), turn);
  }
  return gate.ok();
}

Status Run::ApplyMetricsAndGate(int step, const std::vector<FileEntry>& outputs, Turn& turn,
                                bool* gate_failed) {
  *gate_failed = false;
  const Step& spec = dag_.steps[step];
  if (spec.metrics.empty()) return Status::Ok();
  auto file = std::find_if(outputs.begin(), outputs.end(),
                           [&](const FileEntry& f) { return f.path == spec.metrics; });
  if (file == outputs.end()) {
    return Status::Error("metrics file '" + spec.metrics + "' is not among the step's outputs");
  }
  Result<std::string> text = turn.oracle().ReadBlob(file->digest, kMaxMetricsJsonBytes);
  if (!text.ok()) return text.status().WithContext("metrics file '" + spec.metrics + "'");
  Result<std::map<std::string, double>> metrics = FlattenMetricsJson(*text);
  if (!metrics.ok()) return metrics.status().WithContext("metrics file '" + spec.metrics + "'");
  JsonWriter json(0);
  json.BeginObject();
  for (const auto& [name, value] : *metrics) json.Key(name).Double(value);
  json.EndObject();
  steps_[step].metrics_json = json.str();
  if (!spec.gate) return Status::Ok();
  Result<GateOutcome> outcome = EvaluateGate(*spec.gate, *metrics);
  if (!outcome.ok()) return outcome.status().WithContext("gate '" + spec.gate_text + "'");
  if (!outcome->passed) {
    *gate_failed = true;
    return Status::Error("gate " + outcome->explanation);
  }
  return Status::Ok();
}

const AttemptRecord& Run::Dispatch(int step, const std::string& worker_id,
                                   const std::string& worker_name, Turn& turn,
                                   const std::string& attempt_id) {
  StepRecord& record = steps_[step];
  AttemptRecord attempt;
  attempt.number = static_cast<uint32_t>(record.attempts.size() + 1);
  attempt.attempt_id = attempt_id.empty() ? NextAttemptId(step) : attempt_id;
  attempt.worker_id = worker_id;
  attempt.worker_name = worker_name;
  attempt.dispatched_ms = turn.now_ms();
  record.attempts.push_back(std::move(attempt));
  record.state = StepState::kDispatched;
  wait_reasons_[step].clear();
  MarkDirty(step);
  Emit(turn, "step_dispatched", step, "attempt " + std::to_string(record.attempts.size()) + " to " + worker_name);
  return record.attempts.back();
}

void Run::MarkStarted(int step, Turn& turn, uint64_t started_ms) {
  StepRecord& record = steps_[step];
  if (record.state != StepState::kDispatched) return;
  record.state = StepState::kRunning;
  record.attempts.back().started_ms = started_ms;
  MarkDirty(step);
  Emit(turn, "step_started", step, "running on " + record.attempts.back().worker_name);
}

void Run::FinishAttempt(int step, const protocol::AttemptFinished& result, Turn& turn) {
  StepRecord& record = steps_[step];
  // A step that ended within kStartedAfterMs sent no AttemptStarted; its
  // start is its end minus its duration, and followers still see it start.
  bool process_ran = result.exit_code != -1 || result.signal != 0;  // else it never started
  if (record.state == StepState::kDispatched && process_ran) {
    uint64_t dispatched_ms = record.attempts.back().dispatched_ms;
    uint64_t now = turn.now_ms();
    uint64_t started_ms = now > result.duration_ms ? now - result.duration_ms : dispatched_ms;
    MarkStarted(step, turn, std::max(dispatched_ms, started_ms));
  }
  AttemptRecord& attempt = record.attempts.back();
  attempt.finished = true;
  attempt.finished_ms = turn.now_ms();
  if (attempt.started_ms == 0) attempt.started_ms = attempt.dispatched_ms;
  attempt.exit_code = result.exit_code;
  attempt.signal = result.signal;
  attempt.timed_out = result.timed_out;
  attempt.cpu_ms = result.cpu_ms;
  attempt.max_rss_bytes = result.max_rss_bytes;
  attempt.error = result.error;
  MarkDirty(step);

  std::string failure;
  if (!result.error.empty()) {
    failure = result.error;
  } else if (result.timed_out) {
    failure = "timed out";
  } else if (result.signal != 0) {
    failure = "killed by signal " + std::to_string(result.signal);
  } else if (result.exit_code != 0) {
    failure = "exited with code " + std::to_string(result.exit_code);
  }
  if (failure.empty()) {
    for (const FileEntry& output : result.outputs) {
      if (!turn.oracle().HasBlob(output.digest, output.size_bytes)) {
        failure = "output '" + output.path + "' (sha256 " + output.digest.substr(0, 12) +
                  ") was not uploaded to the scheduler";
        break;
      }
    }
  }
  if (!failure.empty()) {
    attempt.error = failure;
    if (result.system_failure.value_or(false)) {
      SystemFailure(step, failure, turn);
    } else {
      UserFailure(step, failure, result, turn);
    }
    if (result.timed_out) RaiseAlert("timeout", step, failure, turn);
    CheckFinished(turn);
    return;
  }
  record.outputs = result.outputs;
  bool gate_failed = false;
  Status gate = ApplyMetricsAndGate(step, record.outputs, turn, &gate_failed);
  const Step& spec = dag_.steps[step];
  if (spec.cache && (gate.ok() || gate_failed)) {
    CacheEntry entry;
    entry.key = record.cache_key;
    entry.dag_name = record_.dag_name;
    entry.step = record.name;
    entry.run_id = record_.run_id;
    entry.attempt_id = attempt.attempt_id;
    entry.created_ms = turn.now_ms();
    entry.outputs = record.outputs;
    entry.metrics_json = record.metrics_json;
    turn.changes().cache_puts.push_back(std::move(entry));
    for (CacheFamilyMember& member : CacheFamilyMembersOf(step)) {
      turn.changes().cache_families.push_back(std::move(member));
    }
  }
  if (!gate.ok()) {
    FailStep(step, gate_failed ? StepState::kGateFailed : StepState::kFailed, gate.message(), turn);
  } else {
    ReadySteps(CompleteStep(step, StepState::kSucceeded, turn), turn);
  }
  CheckFinished(turn);
}

void Run::RequeueStep(int step, const std::string& why, bool worker_lost, Turn& turn) {
  StepRecord& record = steps_[step];
  if (record.state != StepState::kDispatched && record.state != StepState::kRunning) return;
  if (record.attempts.empty()) return;
  EndAttemptWithoutResult(record.attempts.back(), turn.now_ms(), why);
  SystemFailure(step, why, turn);
  if (worker_lost) RaiseAlert("worker_lost", step, why, turn);
  CheckFinished(turn);
}

void Run::SystemFailure(int step, const std::string& why, Turn& turn) {
  StepRecord& record = steps_[step];
  AttemptRecord& attempt = record.attempts.back();
  attempt.failure = "system";
  uint32_t failures = record.system_failures.value_or(0) + 1;
  record.system_failures = failures;
  if (failures >= kMaxSystemFailures) {
    FailStep(step, StepState::kFailed,
             "gave up after " + std::to_string(failures) + " system failures in a row; the last: " + why, turn);
    return;
  }
  avoid_worker_[step] = attempt.worker_id;
  record.error = why;
  MarkDirty(step);
  // Why pending is possible: an input's producer may have been reopened
  // (its blob was corrupt) while this attempt ran.
  record.state = unfinished_upstream_[step] == 0 ? StepState::kReady : StepState::kPending;
  if (record.state == StepState::kReady) ready_.push_front(step);
  Emit(turn, "step_requeued", step,
       "attempt " + std::to_string(attempt.number) + " on " + attempt.worker_name + ": " + why +
           "; system failure " + std::to_string(failures) + ", does not use up retries");
}

void Run::UserFailure(int step, const std::string& why, const protocol::AttemptFinished& result, Turn& turn) {
  StepRecord& record = steps_[step];
  AttemptRecord& attempt = record.attempts.back();
  attempt.failure = "user";
  const Step& spec = dag_.steps[step];
  uint32_t failures = record.user_failures.value_or(0) + 1;
  record.user_failures = failures;
  bool retries_left = failures <= static_cast<uint32_t>(std::max(spec.retries, 0));
  bool covered = RetryOnCovers(spec.retry_on, result.timed_out, result.exit_code);
  if (!retries_left || !covered) {
    std::string error = why;
    if (retries_left) {
      error += " (not retried: " + DescribeNotCovered(spec.retry_on, result.timed_out, result.exit_code) + ")";
    } else if (spec.retries > 0) {
      error += " (attempt " + std::to_string(attempt.number) + "; all " + std::to_string(spec.retries) +
               " retries used)";
    }
    FailStep(step, StepState::kFailed, error, turn);
    return;
  }
  uint64_t delay = RetryDelayMs(spec.retry_backoff_ms, failures, std::hash<std::string>()(attempt.attempt_id));
  record.state = StepState::kRetrying;
  record.retry_at_ms = turn.now_ms() + delay;
  record.error = why;
  MarkDirty(step);
  retrying_.insert(step);
  Emit(turn, "step_retrying", step,
       "attempt " + std::to_string(attempt.number) + " failed: " + why + "; retry " + std::to_string(failures) +
           " of " + std::to_string(spec.retries) + " in " + std::to_string(delay) + " ms");
  RaiseAlert("retry", step, why, turn);
}

void Run::WakeRetries(Turn& turn) {
  for (auto it = retrying_.begin(); it != retrying_.end();) {
    StepRecord& record = steps_[*it];
    if (record.state != StepState::kRetrying) {
      it = retrying_.erase(it);
      continue;
    }
    if (record.retry_at_ms.value_or(0) > turn.now_ms()) {
      ++it;
      continue;
    }
    record.state = StepState::kReady;
    record.retry_at_ms.reset();
    MarkDirty(*it);
    ready_.push_back(*it);
    Emit(turn, "step_ready", *it, "retry after backoff");
    it = retrying_.erase(it);
  }
}

uint32_t Run::ReopenProducersOf(const std::string& digest, Turn& turn) {
  std::vector<int> reopened;
  for (size_t i = 0; i < steps_.size(); ++i) {
    StepRecord& record = steps_[i];
    if (!IsDone(record.state)) continue;
    bool made_it = std::any_of(record.outputs.begin(), record.outputs.end(),
                               [&](const FileEntry& output) { return output.digest == digest; });
    if (!made_it) continue;
    ClearResult(record);
    MarkDirty(static_cast<int>(i));
    reopened.push_back(static_cast<int>(i));
    Emit(turn, "step_reopened", static_cast<int>(i),
         "its output sha256 " + digest.substr(0, 12) + " failed verification in the scheduler's CAS and was "
         "dropped; the step runs again");
  }
  if (reopened.empty()) return 0;
  Recount();
  run_dirty_ = true;
  // Ready steps that read the dropped output wait for it again.
  std::deque<int> still_ready;
  for (int step : ready_) {
    if (steps_[step].state == StepState::kReady && unfinished_upstream_[step] > 0) {
      steps_[step].state = StepState::kPending;
      MarkDirty(step);
    } else {
      still_ready.push_back(step);
    }
  }
  ready_.swap(still_ready);
  std::reverse(reopened.begin(), reopened.end());  // ReadySteps pops from the back
  ReadySteps(std::move(reopened), turn);
  return static_cast<uint32_t>(reopened.size());
}

Result<uint32_t> Run::Resume(const std::string& step_name, Turn& turn) {
  using R = Result<uint32_t>;
  if (record_.state == RunState::kRunning) {
    return R::Error("run " + record_.run_id + " is still running; wait for it, or `receta cancel " +
                    record_.run_id + "` first");
  }
  if (record_.state == RunState::kSucceeded) {
    return R::Error("run " + record_.run_id + " succeeded; there is nothing to retry (submit the DAG again, "
                    "with --no-cache to run every step anew)");
  }
  auto reopenable = [&](int i) {
    StepState state = steps_[i].state;
    return state == StepState::kFailed || state == StepState::kGateFailed || state == StepState::kSkipped ||
           state == StepState::kCancelled;
  };
  std::vector<int> reopen;
  if (step_name.empty()) {
    for (size_t i = 0; i < steps_.size(); ++i) {
      if (reopenable(static_cast<int>(i))) reopen.push_back(static_cast<int>(i));
    }
  } else {
    int start = FindStep(step_name);
    if (start < 0) return R::Error("run " + record_.run_id + " has no step '" + step_name + "'");
    if (!reopenable(start)) {
      return R::Error("step " + step_name + " of run " + record_.run_id + " is " +
                      StepStateName(steps_[start].state) + "; only failed, skipped or cancelled steps are retried");
    }
    std::vector<char> seen(steps_.size(), 0);
    std::vector<int> worklist = {start};
    seen[start] = 1;
    while (!worklist.empty()) {
      int from = worklist.back();
      worklist.pop_back();
      reopen.push_back(from);
      for (int next : DistinctNeighbours(graph_.downstream[from], false)) {
        if (seen[next] || !reopenable(next)) continue;
        seen[next] = 1;
        worklist.push_back(next);
      }
    }
    std::sort(reopen.begin(), reopen.end());
  }
  for (int i : reopen) {
    StepRecord& record = steps_[i];
    ClearResult(record);
    record.error.clear();
    record.cache_key.clear();
    record.user_failures.reset();
    record.system_failures.reset();
    record.retry_at_ms.reset();
    avoid_worker_[i].clear();
    MarkDirty(i);
  }
  Recount();
  record_.state = RunState::kRunning;
  record_.error.clear();
  record_.finished_ms = 0;
  run_dirty_ = true;
  Emit(turn, "run_retried", -1,
       std::to_string(reopen.size()) + " steps run again" + (step_name.empty() ? "" : " from step " + step_name));
  std::vector<int> roots;
  for (int i : reopen) {
    if (unfinished_upstream_[i] == 0) roots.push_back(i);
  }
  std::reverse(roots.begin(), roots.end());  // ReadySteps pops from the back
  ReadySteps(std::move(roots), turn);
  CheckFinished(turn);
  return static_cast<uint32_t>(reopen.size());
}

std::vector<int> Run::CompleteStep(int step, StepState state, Turn& turn) {
  StepRecord& record = steps_[step];
  record.state = state;
  record.finished_ms = turn.now_ms();
  record.error.clear();
  MarkDirty(step);
  ++terminal_steps_;
  // Why the run record is not rewritten: it carries the DAG text and the
  // workspace listing, so one rewrite per step cost a 1,000-step run some
  // 200 MB of synced WAL. The counts are derived again from the steps on a
  // restart (Recount) and are written with the run's final state.
  ++steps_done_;
  Emit(turn, state == StepState::kCached ? "step_cached" : "step_succeeded", step,
       state == StepState::kCached ? "result of run " + record.cached_from_run
                                   : std::to_string(record.outputs.size()) + " output files");
  if (state == StepState::kSucceeded) RaiseAlert("success", step, "", turn);
  std::vector<int> readied;
  for (int next : DistinctNeighbours(graph_.downstream[step], false)) {
    if (unfinished_upstream_[next] > 0 && --unfinished_upstream_[next] == 0) readied.push_back(next);
  }
  // Why reversed: ReadySteps pops from the back, so file order is kept.
  std::reverse(readied.begin(), readied.end());
  return readied;
}

void Run::FailStep(int step, StepState state, const std::string& error, Turn& turn) {
  StepRecord& record = steps_[step];
  record.state = state;
  record.error = error;
  record.finished_ms = turn.now_ms();
  MarkDirty(step);
  ++terminal_steps_;
  ++steps_failed_;
  Emit(turn, state == StepState::kGateFailed ? "gate_failed" : "step_failed", step, error);
  RaiseAlert(state == StepState::kGateFailed ? "gate_failed" : "failure", step, error, turn);
  if (record_.error.empty()) {
    record_.error = "step " + record.name + ": " + error;
    run_dirty_ = true;
  }
  // Skip everything downstream that has not finished.
  std::vector<int> worklist = {step};
  while (!worklist.empty()) {
    int from = worklist.back();
    worklist.pop_back();
    for (const DagEdge& edge : graph_.downstream[from]) {
      StepRecord& next = steps_[edge.to];
      if (next.state != StepState::kPending) continue;
      next.state = StepState::kSkipped;
      next.error = "upstream step " + record.name + " " + StepStateName(state);
      next.finished_ms = turn.now_ms();
      MarkDirty(edge.to);
      ++terminal_steps_;
      Emit(turn, "step_skipped", edge.to, next.error);
      worklist.push_back(edge.to);
    }
  }
}

uint32_t Run::Cancel(const std::string& reason, Turn& turn) {
  uint32_t cancelled = 0;
  for (size_t i = 0; i < steps_.size(); ++i) {
    StepRecord& record = steps_[i];
    if (IsTerminal(record.state)) continue;
    if (!record.attempts.empty() && !record.attempts.back().finished) {
      EndAttemptWithoutResult(record.attempts.back(), turn.now_ms(), "cancelled: " + reason);
    }
    record.state = StepState::kCancelled;
    record.error = reason;
    record.finished_ms = turn.now_ms();
    MarkDirty(static_cast<int>(i));
    ++terminal_steps_;
    ++cancelled;
    Emit(turn, "step_cancelled", static_cast<int>(i), reason);
  }
  ready_.clear();
  retrying_.clear();
  if (!finished()) {
    record_.state = RunState::kCancelled;
    record_.error = "cancelled: " + reason;
    record_.finished_ms = turn.now_ms();
    run_dirty_ = true;
    Emit(turn, "run_cancelled", -1, reason);
  }
  return cancelled;
}

void Run::CheckFinished(Turn& turn) {
  if (finished() || terminal_steps_ < steps_.size()) return;
  record_.state = steps_failed_ > 0 ? RunState::kFailed : RunState::kSucceeded;
  record_.finished_ms = turn.now_ms();
  run_dirty_ = true;
  Emit(turn, record_.state == RunState::kSucceeded ? "run_succeeded" : "run_failed", -1,
       record_.state == RunState::kSucceeded
           ? std::to_string(steps_done_) + " steps done"
           : record_.error);
  if (record_.state == RunState::kSucceeded) RaiseAlert("success", -1, "", turn);
}

}  // namespace receta::scheduler
