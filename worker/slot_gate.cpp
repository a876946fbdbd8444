#include "worker/slot_gate.h"

#include "common/os/thread_policy.h"

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
  // The waiter is the attempt prepared ahead, whose process is next.
  if (waited_for) YieldToWokenStepStarter();
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
