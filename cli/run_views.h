#pragma once
// Text views of the scheduler's JSON documents (see the brief's "JSON
// documents"): what `runs`, `status`, `workers`, `artifacts ls` and
// `cache ls` print without --json. Pure: the documents and the time are
// passed in; a missing field prints as empty or "-", never fails.

#include <cstdint>
#include <string>

#include "common/json/json_value.h"

namespace receta::cli {

/// ID, DAG, STATE, STARTED, DURATION, STEPS (done/total, failed) of a
/// runs_json array; "no runs yet" when empty.
std::string RenderRuns(const JsonValue& runs, int64_t now_ms);

/// A header line for the run, its error if any, then one row per step:
/// STEP, STATE, ATTEMPTS, WORKER, DURATION, CACHED, with the reason or error
/// of waiting and failed steps on an indented line below.
std::string RenderStatus(const JsonValue& run, int64_t now_ms);

/// ID, NAME, HOST, LABELS, SLOTS (used/total), STATE, HEARTBEAT ("2s ago").
std::string RenderWorkers(const JsonValue& workers, int64_t now_ms);

/// STEP, PATH, SIZE, DIGEST (first 12 hex characters).
std::string RenderArtifacts(const JsonValue& artifacts);

/// KEY (first 16), DAG, STEP, RUN, CREATED, FILES, SIZE.
std::string RenderCacheEntries(const JsonValue& entries, int64_t now_ms);

/// True for the step states after which nothing more happens to a step.
bool IsFinishedStepState(const std::string& state);

/// True for the run states after which nothing more happens to a run.
bool IsFinishedRunState(const std::string& state);

}  // namespace receta::cli
