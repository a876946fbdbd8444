#pragma once
// RetryPolicy: when a failed attempt is tried again, and after how long.
// Pure arithmetic, kept apart from Run so the rules read in one place.
//
// - A failure of the step's own making (exit code, timeout, missing output)
//   is retried while the step has `retries` left and the failure is one
//   `retry_on` names (default: any).
// - A failure of the system's making (worker lost, transfer failed, disk
//   full, attempt not claimed after a restart) is always retried, on
//   another worker when there is one, and does not use up `retries`; after
//   kMaxSystemFailures in a row something is badly wrong and the step fails.

#include <cstdint>
#include <string>

#include "common/dag/dag.h"

namespace receta::scheduler {

constexpr uint32_t kMaxSystemFailures = 10;

/// The longest wait between retries, unless the step's own backoff is
/// longer (then that is the cap).
constexpr uint64_t kMaxRetryBackoffMs = 10 * 60 * 1000;

/// Whether `retry_on` covers a failure with this outcome. `exit_code` is
/// the step's exit code (0 when it exited cleanly but e.g. missed an
/// output; -1 when it was killed).
bool RetryOnCovers(const RetryOn& retry_on, bool timed_out, int exit_code);

/// The wait before retry number `retry` (1 for the first): backoff doubled
/// each time, capped, plus up to 20% jitter so steps that failed together
/// do not all come back at the same moment. `jitter_seed` makes the jitter
/// deterministic (the attempt id's hash), so the core stays pure.
uint64_t RetryDelayMs(int64_t backoff_ms, uint32_t retry, uint64_t jitter_seed);

/// "exit code 3 is not in retry_on [1, 2]": why a covered-by-retries
/// failure was not retried, for the step's error.
std::string DescribeNotCovered(const RetryOn& retry_on, bool timed_out, int exit_code);

}  // namespace receta::scheduler
