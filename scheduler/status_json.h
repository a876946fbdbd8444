#pragma once
// The JSON documents the scheduler answers read requests with, which
// `receta ... --json` prints verbatim. README.md lists the fields; add
// fields, never rename them (scripts read them).

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "scheduler/records.h"
#include "scheduler/worker_pool.h"

namespace receta::scheduler {

/// What `status` shows of one run, from memory or from the store.
struct RunSnapshot {
  RunRecord run;
  std::vector<StepRecord> steps;
  /// Why each ready step waits (index-aligned with steps; may be empty).
  std::vector<std::string> wait_reasons;
};

/// The shown state of a step: its state, or "waiting" for a ready step that
/// no live worker can take.
std::string ShownStepState(const StepRecord& step, const std::string& wait_reason);

std::string RunListJson(const std::vector<RunRecord>& runs, uint64_t now_ms);
/// `brief`: see protocol::RunStatus::brief; a brief document says
/// "brief": true, and `brief_because` (if any) why it is brief.
std::string RunStatusJson(const RunSnapshot& snapshot, uint64_t event_seq, uint64_t now_ms, bool brief = false,
                          const std::string& brief_because = "");
/// The full status, unless it is over `max_bytes` (a reply's limit): then
/// the brief one, whose "brief_because" says so. Why: the full document of a
/// 100,000-step run is ~100 MB, and without this `receta status` of such a
/// run failed outright.
std::string RunStatusJsonWithin(const RunSnapshot& snapshot, uint64_t event_seq, uint64_t now_ms,
                                size_t max_bytes);
std::string EventsJson(const std::vector<EventRecord>& events);
std::string WorkersJson(const WorkerPool& pool, uint64_t now_ms, bool include_lost);
/// The outputs of `steps` (all when `only_step` is empty).
std::string ArtifactsJson(const std::vector<StepRecord>& steps, const std::string& only_step);
std::string CacheEntriesJson(const std::vector<CacheEntry>& entries);

}  // namespace receta::scheduler
