#include "scheduler/records.h"

namespace receta::scheduler {

const char* StepStateName(StepState state) {
  switch (state) {
    case StepState::kPending: return "pending";
    case StepState::kReady: return "ready";
    case StepState::kDispatched: return "dispatched";
    case StepState::kRunning: return "running";
    case StepState::kSucceeded: return "succeeded";
    case StepState::kFailed: return "failed";
    case StepState::kCached: return "cached";
    case StepState::kSkipped: return "skipped";
    case StepState::kCancelled: return "cancelled";
    case StepState::kRetrying: return "retrying";
    case StepState::kGateFailed: return "gate_failed";
  }
  // Why: records decode unknown enum values as they are (a newer build may
  // have written them); a name is still needed for status output.
  return "unknown";
}

const char* RunStateName(RunState state) {
  switch (state) {
    case RunState::kRunning: return "running";
    case RunState::kSucceeded: return "succeeded";
    case RunState::kFailed: return "failed";
    case RunState::kCancelled: return "cancelled";
  }
  return "unknown";
}

bool IsTerminal(StepState state) {
  switch (state) {
    case StepState::kSucceeded:
    case StepState::kFailed:
    case StepState::kCached:
    case StepState::kSkipped:
    case StepState::kCancelled:
    case StepState::kGateFailed: return true;
    case StepState::kPending:
    case StepState::kReady:
    case StepState::kDispatched:
    case StepState::kRunning:
    case StepState::kRetrying: return false;
  }
  return false;
}

bool IsTerminal(RunState state) { return state != RunState::kRunning; }

bool IsDone(StepState state) { return state == StepState::kSucceeded || state == StepState::kCached; }

}  // namespace receta::scheduler
