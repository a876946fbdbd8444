#include "worker/slot_gate.h"

#include <sched.h>

namespace receta::worker {

bool SlotGate::Acquire(const std::function<bool()>& cancelled) {
  std::unique_lock<std::mutex> lock(mu_);
  const uint64_t ticket = next_ticket_++;
  waiting_.insert(ticket);
  changed_.wait(lock, [&] { return (free_ > 0 && *waiting_.begin() == ticket) || cancelled(); });
  waiting_.erase(ticket);
  const bool taken = !cancelled();
  if (taken) --free_;
  lock.unlock();
  // The next in line may now be first, with a slot still free.
  changed_.notify_all();
  return taken;
}

void SlotGate::Release() {
  bool waited_for;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++free_;
    waited_for = !waiting_.empty();
  }
  changed_.notify_all();
  // Why yield: the waiter is the attempt prepared ahead, whose process is
  // the next to run, while this thread still has the ended step's outputs
  // to hash and report. Without it the scheduler let this thread finish
  // its time slice first: on the benchmark's fan-out the time from a
  // step's exit to the next step's clone on the same worker was 0.88 ms at
  // the median (ninja's own: 0.73 ms), and 0.72 ms with it.
  if (waited_for) sched_yield();
}

size_t SlotGate::waiters() {
  std::lock_guard<std::mutex> lock(mu_);
  return waiting_.size();
}

void SlotGate::Wake() {
  // Why lock: a waiter between asking `cancelled` and sleeping would miss
  // a notify sent without it.
  { std::lock_guard<std::mutex> lock(mu_); }
  changed_.notify_all();
}

}  // namespace receta::worker
