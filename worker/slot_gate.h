#pragma once
// SlotGate: the worker's slots, taken by an attempt between its preparation
// and the end of its process.
//
// Why a gate and not a count of started attempts: the agent starts one
// attempt more than it has slots, so the next step's sandbox and inputs
// are ready while the current step runs (a training step's data downloads
// while the previous one computes); only the process waits for a slot.
// Before, a slot was held, with no process running, for the whole of
// fetching and placing the inputs.

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <set>

namespace receta::worker {

class SlotGate {
 public:
  explicit SlotGate(uint32_t slots) : free_(slots) {}

  /// Waits until a slot is free and every earlier waiter has been served,
  /// and takes it (true), or until `cancelled`
  /// returns true (false, nothing taken). `cancelled` is asked under the
  /// gate's lock, at first and after each Release or Wake.
  bool Acquire(const std::function<bool()>& cancelled);
  /// Gives back a slot taken by Acquire, and yields the CPU when an
  /// Acquire waits for it (common/os/thread_policy.h).
  void Release();
  /// Makes waiters ask their `cancelled` again (after a kill).
  void Wake();
  /// How many Acquire calls are waiting now.
  size_t waiters();

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  uint32_t free_;  // guarded by mu_
  // Waiters in arrival order (guarded by mu_): a slot goes to the first.
  // Why: the attempt prepared ahead must not be overtaken by one the agent
  // started later, which would run out of the scheduler's order.
  uint64_t next_ticket_ = 0;
  std::set<uint64_t> waiting_;
};

}  // namespace receta::worker
