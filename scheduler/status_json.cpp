#include "scheduler/status_json.h"

#include "common/json/json_writer.h"

namespace receta::scheduler {
namespace {

uint64_t DurationMs(uint64_t start_ms, uint64_t end_ms, uint64_t now_ms) {
  if (start_ms == 0) return 0;
  uint64_t end = end_ms != 0 ? end_ms : now_ms;
  return end > start_ms ? end - start_ms : 0;
}

int64_t Signed(uint64_t value) { return static_cast<int64_t>(value); }

void AttemptJson(JsonWriter& json, const AttemptRecord& attempt, uint64_t now_ms) {
  json.BeginObject();
  json.Field("id", attempt.attempt_id);
  json.Field("number", static_cast<int64_t>(attempt.number));
  json.Field("worker", attempt.worker_name);
  json.Field("worker_id", attempt.worker_id);
  json.Field("state", !attempt.finished ? (attempt.started_ms ? "running" : "dispatched")
                      : attempt.error.empty() && attempt.exit_code == 0 ? "succeeded"
                                                                       : "failed");
  json.Field("exit_code", static_cast<int64_t>(attempt.exit_code));
  json.Field("signal", static_cast<int64_t>(attempt.signal));
  json.Field("timed_out", attempt.timed_out);
  json.Field("duration_ms", Signed(DurationMs(attempt.started_ms ? attempt.started_ms : attempt.dispatched_ms,
                                              attempt.finished_ms, now_ms)));
  json.Field("dispatched_ms", Signed(attempt.dispatched_ms));
  json.Field("started_ms", Signed(attempt.started_ms));
  json.Field("finished_ms", Signed(attempt.finished_ms));
  json.Field("cpu_ms", Signed(attempt.cpu_ms));
  json.Field("max_rss_bytes", Signed(attempt.max_rss_bytes));
  json.Field("error", attempt.error);
  json.Field("failure", attempt.failure.value_or(""));
  json.EndObject();
}

// Brief (protocol::RunStatus::brief): what a follower shows of a step, a
// tenth of the full entry.
void BriefStepJson(JsonWriter& json, const StepRecord& step, const std::string& wait_reason, uint64_t now_ms) {
  const AttemptRecord* last = step.attempts.empty() ? nullptr : &step.attempts.back();
  json.BeginObject();
  json.Field("name", step.name);
  json.Field("state", ShownStepState(step, wait_reason));
  json.Field("worker", last != nullptr ? last->worker_name : std::string());
  json.Field("started_ms", Signed(last != nullptr ? last->started_ms : 0));
  json.Field("duration_ms",
             Signed(last != nullptr ? DurationMs(last->started_ms ? last->started_ms : last->dispatched_ms,
                                                 last->finished_ms, now_ms)
                                    : 0));
  bool waiting = !wait_reason.empty() && step.state == StepState::kReady;
  json.Field("error", waiting ? wait_reason : step.error);
  json.Field("reason", waiting ? wait_reason : std::string());
  json.EndObject();
}

void StepJson(JsonWriter& json, const StepRecord& step, const std::string& wait_reason, uint64_t now_ms) {
  json.BeginObject();
  json.Field("name", step.name);
  json.Field("state", ShownStepState(step, wait_reason));
  json.Field("attempts", static_cast<int64_t>(step.attempts.size()));
  json.Field("worker", step.attempts.empty() ? std::string() : step.attempts.back().worker_name);
  json.Field("cache_key", step.cache_key);
  uint64_t duration = 0;
  if (!step.attempts.empty()) {
    const AttemptRecord& last = step.attempts.back();
    duration = DurationMs(last.started_ms ? last.started_ms : last.dispatched_ms, last.finished_ms, now_ms);
  }
  json.Field("duration_ms", Signed(duration));
  json.Field("ready_ms", Signed(step.ready_ms));
  json.Field("finished_ms", Signed(step.finished_ms));
  bool waiting = !wait_reason.empty() && step.state == StepState::kReady;
  json.Field("error", waiting ? wait_reason : step.error);
  json.Field("reason", waiting ? wait_reason : std::string());
  json.Field("cached", step.state == StepState::kCached);
  json.Field("cached_from_run", step.cached_from_run);
  json.Field("exit_code", step.attempts.empty() ? int64_t{0} : int64_t{step.attempts.back().exit_code});
  json.Field("user_failures", static_cast<int64_t>(step.user_failures.value_or(0)));
  json.Field("system_failures", static_cast<int64_t>(step.system_failures.value_or(0)));
  json.Field("retry_at_ms", Signed(step.state == StepState::kRetrying ? step.retry_at_ms.value_or(0) : 0));
  json.Key("metrics").Raw(step.metrics_json.empty() ? "{}" : step.metrics_json);
  json.Key("outputs").BeginArray();
  for (const FileEntry& output : step.outputs) {
    json.BeginObject().Field("path", output.path).Field("digest", output.digest);
    json.Field("size_bytes", Signed(output.size_bytes)).EndObject();
  }
  json.EndArray();
  json.Key("attempt_history").BeginArray();
  for (const AttemptRecord& attempt : step.attempts) AttemptJson(json, attempt, now_ms);
  json.EndArray();
  json.EndObject();
}

void RunSummaryFields(JsonWriter& json, const RunRecord& run, uint64_t now_ms) {
  json.Field("id", run.run_id);
  json.Field("dag", run.dag_name);
  json.Field("state", RunStateName(run.state));
  json.Field("submitted_ms", Signed(run.submitted_ms));
  json.Field("finished_ms", Signed(run.finished_ms));
  json.Field("duration_ms", Signed(DurationMs(run.submitted_ms, run.finished_ms, now_ms)));
  json.Field("steps_total", static_cast<int64_t>(run.step_count));
  json.Field("steps_done", static_cast<int64_t>(run.steps_done));
  json.Field("steps_failed", static_cast<int64_t>(run.steps_failed));
}

}  // namespace

std::string ShownStepState(const StepRecord& step, const std::string& wait_reason) {
  if (step.state == StepState::kReady && !wait_reason.empty()) return "waiting";
  return StepStateName(step.state);
}

std::string RunListJson(const std::vector<RunRecord>& runs, uint64_t now_ms) {
  JsonWriter json;
  json.BeginArray();
  for (const RunRecord& run : runs) {
    json.BeginObject();
    RunSummaryFields(json, run, now_ms);
    json.EndObject();
  }
  json.EndArray();
  return json.str();
}

std::string RunStatusJson(const RunSnapshot& snapshot, uint64_t event_seq, uint64_t now_ms, bool brief,
                          const std::string& brief_because) {
  JsonWriter json;
  json.BeginObject();
  RunSummaryFields(json, snapshot.run, now_ms);
  if (brief) json.Field("brief", true);
  if (!brief_because.empty()) json.Field("brief_because", brief_because);
  json.Field("dag_file", snapshot.run.dag_file);
  json.Field("error", snapshot.run.error);
  json.Field("no_cache", snapshot.run.no_cache);
  json.Field("event_seq", Signed(event_seq));
  json.Key("params").BeginObject();
  for (const auto& [name, value] : snapshot.run.params) json.Field(name, value);
  json.EndObject();
  json.Key("steps").BeginArray();
  static const std::string kNoReason;
  for (size_t i = 0; i < snapshot.steps.size(); ++i) {
    const std::string& reason = i < snapshot.wait_reasons.size() ? snapshot.wait_reasons[i] : kNoReason;
    if (brief) {
      BriefStepJson(json, snapshot.steps[i], reason, now_ms);
    } else {
      StepJson(json, snapshot.steps[i], reason, now_ms);
    }
  }
  json.EndArray();
  json.EndObject();
  return json.str();
}

std::string RunStatusJsonWithin(const RunSnapshot& snapshot, uint64_t event_seq, uint64_t now_ms,
                                size_t max_bytes) {
  std::string full = RunStatusJson(snapshot, event_seq, now_ms);
  if (full.size() <= max_bytes) return full;
  auto mib = [](size_t bytes) { return std::to_string((bytes + (1u << 20) - 1) >> 20) + " MiB"; };
  return RunStatusJson(snapshot, event_seq, now_ms, /*brief=*/true,
                       "its full status (" + std::to_string(snapshot.steps.size()) + " steps, " + mib(full.size()) +
                           ") is over the " + mib(max_bytes) + " a reply may carry");
}

std::string EventsJson(const std::vector<EventRecord>& events) {
  JsonWriter json;
  json.BeginArray();
  for (const EventRecord& event : events) {
    json.BeginObject();
    json.Field("seq", Signed(event.seq)).Field("time_ms", Signed(event.time_ms));
    json.Field("kind", event.kind).Field("run_id", event.run_id).Field("step", event.step);
    json.Field("attempt_id", event.attempt_id).Field("worker_id", event.worker_id);
    json.Field("worker", event.worker_name.value_or(""));
    json.Field("state", event.state).Field("message", event.message);
    json.EndObject();
  }
  json.EndArray();
  return json.str();
}

std::string WorkersJson(const WorkerPool& pool, uint64_t now_ms, bool include_lost) {
  JsonWriter json;
  json.BeginArray();
  for (const auto& [id, worker] : pool.workers()) {
    if (!include_lost && !worker.connected) continue;
    const WorkerRecord& record = worker.record;
    json.BeginObject();
    json.Field("id", record.worker_id).Field("name", record.name).Field("host", record.hostname);
    json.StringArray("labels", record.labels);
    json.Field("slots", static_cast<int64_t>(record.slots));
    json.Field("slots_used", static_cast<int64_t>(worker.used_slots));
    json.Field("cpus", static_cast<int64_t>(record.cpus));
    json.Field("memory_bytes", Signed(record.memory_bytes));
    json.Field("gpus", static_cast<int64_t>(record.gpus));
    json.Field("os", record.os).Field("version", record.receta_version);
    uint64_t last = worker.last_heard_ms ? worker.last_heard_ms : record.last_seen_ms;
    json.Field("last_heartbeat_ms", Signed(last));
    json.Field("last_heartbeat_age_ms", Signed(now_ms > last ? now_ms - last : 0));
    json.Field("connected", worker.connected);
    json.Key("attempts").BeginArray();
    for (const std::string& attempt : worker.attempts) json.String(attempt);
    json.EndArray();
    json.EndObject();
  }
  json.EndArray();
  return json.str();
}

std::string ArtifactsJson(const std::vector<StepRecord>& steps, const std::string& only_step) {
  JsonWriter json;
  json.BeginArray();
  for (const StepRecord& step : steps) {
    if (!only_step.empty() && step.name != only_step) continue;
    for (const FileEntry& output : step.outputs) {
      json.BeginObject();
      json.Field("step", step.name).Field("path", output.path).Field("digest", output.digest);
      json.Field("size_bytes", Signed(output.size_bytes)).Field("executable", output.executable);
      json.EndObject();
    }
  }
  json.EndArray();
  return json.str();
}

std::string CacheEntriesJson(const std::vector<CacheEntry>& entries) {
  JsonWriter json;
  json.BeginArray();
  for (const CacheEntry& entry : entries) {
    uint64_t size = 0;
    for (const FileEntry& output : entry.outputs) size += output.size_bytes;
    json.BeginObject();
    json.Field("key", entry.key).Field("dag", entry.dag_name).Field("step", entry.step);
    json.Field("run_id", entry.run_id).Field("attempt_id", entry.attempt_id);
    json.Field("created_ms", Signed(entry.created_ms));
    json.Field("files", static_cast<int64_t>(entry.outputs.size()));
    json.Field("size_bytes", Signed(size));
    json.EndObject();
  }
  json.EndArray();
  return json.str();
}

}  // namespace receta::scheduler
