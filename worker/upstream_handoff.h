#pragma once
// UpstreamHandoff: how a speculative attempt started ahead learns that its
// upstream attempt succeeded, straight from the upstream's own thread.
//
// Why: in a chain, the next step is sent to the worker running its
// upstream (Dispatch.after_attempt). Started ahead, it builds its sandbox
// while the upstream runs and then waits here; the upstream's thread hands
// over its result the moment its outputs are in the local cache, before
// it reports, so the next process starts with no hop through the agent's
// main thread and no sandbox work between the two steps.
//
// The agent registers each such attempt (Expect) before it starts. Two
// deliveries reach it: the upstream's thread (Deliver, the fast path) and
// the agent when that result reaches the main thread (Deliver again: the
// attempt may have been registered after the first). Thread-safe.

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "common/protocol/messages.h"

namespace receta::worker {

class UpstreamHandoff {
 public:
  /// Attempt `attempt_id` waits for `upstream_id`'s result.
  void Expect(const std::string& attempt_id, const std::string& upstream_id);
  /// The result of an attempt that ended: given to each attempt that
  /// expects it and has none yet (its outputs' names and digests only, not
  /// the inline bytes).
  void Deliver(const protocol::AttemptFinished& finished);
  /// Blocks until `attempt_id`'s upstream has succeeded (its result) or
  /// `give_up()` holds (nullopt). A failed upstream's result is no answer:
  /// the scheduler withdraws the attempt (KillAttempt, then give_up).
  /// nullopt at once for an attempt nobody said to Expect.
  std::optional<protocol::AttemptFinished> AwaitSuccess(const std::string& attempt_id,
                                                        const std::function<bool()>& give_up);
  /// Waiters check give_up again (call after what it reads changed).
  void Wake();
  /// `attempt_id` waits no more (ended, or never will).
  void Forget(const std::string& attempt_id);
  /// Attempts registered and not forgotten.
  size_t waiting() const;

 private:
  struct Waiter {
    std::string upstream_id;
    std::optional<protocol::AttemptFinished> upstream;
  };
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::map<std::string, Waiter> waiters_;  // by attempt id; guarded by mu_
};

}  // namespace receta::worker
