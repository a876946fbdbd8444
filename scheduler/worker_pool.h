#pragma once
// WorkerPool: the workers the scheduler knows, their liveness and free
// capacity, and the matching of a step to one of them. Pure: times are passed
// in, nothing is sent.
//
// Matching: a worker fits a step when it is connected, has every label the
// step asks for, a free slot, and free cpus, memory and gpus for the step's
// resources (memory 0 claims nothing). Among those that fit, prefer the one
// already holding the step's inputs, then the one with the most free slots,
// then the lowest id (deterministic). A step that no connected worker could
// take even when idle gets a reason a person can act on.
//
// Prefetch: when no worker has a free slot, a worker may still be given up
// to `prefetch` attempts beyond its slots. The worker queues them and starts
// one as soon as a slot frees, so it never idles for a round trip to the
// scheduler between steps. Queued attempts count against the worker's
// memory and gpus like running ones (hard limits: a queued attempt may start
// beside any of the running ones), but not against its cpus (soft: the
// worker never runs more than `slots` processes at once).

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/dag/dag.h"
#include "scheduler/records.h"

namespace receta::scheduler {

struct PoolWorker {
  WorkerRecord record;
  bool connected = false;
  uint64_t last_heard_ms = 0;
  uint32_t used_slots = 0;
  double used_cpus = 0;
  uint64_t used_memory_bytes = 0;
  uint32_t used_gpus = 0;
  std::set<std::string> attempts;  // attempt ids running there
  /// Register.features has kFeatureAfterAttempt (in memory only).
  bool takes_after_attempt = false;
};

/// The outcome of looking for a worker for one step.
struct MatchResult {
  PoolWorker* worker = nullptr;  // set when one fits now
  /// When none fits now: empty if some connected worker could take the step
  /// once it has room; else why no connected worker ever could.
  std::string never_reason;
};

class WorkerPool {
 public:
  explicit WorkerPool(uint32_t prefetch = 0) : prefetch_(prefetch) {}

  /// Adds or refreshes a worker from its Register; it is connected from now.
  PoolWorker& Register(WorkerRecord record, uint64_t now_ms);
  /// A worker known from the store, not connected until it registers again.
  void Restore(WorkerRecord record);
  PoolWorker* Find(const std::string& worker_id);
  const std::map<std::string, PoolWorker>& workers() const { return workers_; }

  void HeardFrom(PoolWorker& worker, uint64_t now_ms) { worker.last_heard_ms = now_ms; }
  /// Connected workers silent for longer than `timeout_ms`, now marked lost.
  std::vector<std::string> ExpireSilent(uint64_t now_ms, uint64_t timeout_ms);

  /// Chooses a worker for `step`; `preferred` lists workers holding its
  /// inputs, best first. A worker with a free slot always wins over one
  /// that would queue the attempt (prefetch). `avoid` (may be empty), the
  /// worker where the step last failed for system reasons, is taken only
  /// when no other connected worker could ever take the step.
  MatchResult Match(const Step& step, const std::vector<std::string>& preferred,
                    const std::string& avoid = "");
  /// True when no connected worker has room, prefetch included (dispatch can
  /// stop early).
  bool AllBusy() const;
  /// Whether a connected worker has room for one more attempt, prefetch
  /// included (resources aside).
  bool HasRoom(const PoolWorker& worker) const {
    return worker.connected && worker.used_slots < worker.record.slots + prefetch_;
  }
  /// Whether `worker` could take `step` now, in its prefetch queue if need be.
  bool CanQueue(const PoolWorker& worker, const Step& step) const {
    return Fits(worker, step, false, true);
  }
  uint32_t prefetch() const { return prefetch_; }

  void Reserve(PoolWorker& worker, const Step& step, const std::string& attempt_id);
  /// Frees what `attempt_id` (asking `resources`) held on its worker, if it
  /// is still there.
  void Release(const std::string& worker_id, const Resources& resources,
               const std::string& attempt_id);

 private:
  // `queued`: whether the attempt may wait in the worker's prefetch queue.
  bool Fits(const PoolWorker& worker, const Step& step, bool when_idle, bool queued = false) const;
  // The best fitting worker, or null; see the matching order above.
  PoolWorker* Best(const Step& step, const std::vector<std::string>& preferred, bool queued,
                   const std::string& avoid);
  std::string NeverReason(const Step& step) const;

  uint32_t prefetch_ = 0;
  std::map<std::string, PoolWorker> workers_;
};

}  // namespace receta::scheduler
