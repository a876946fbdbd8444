#include "worker/slot_gate.h"

namespace receta::worker {

bool SlotGate::Acquire(const std::function<bool()>& cancelled) {
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait(lock, [&] { return free_ > 0 || cancelled(); });
  if (cancelled()) return false;
  --free_;
  return true;
}

void SlotGate::Release() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++free_;
  }
  changed_.notify_all();
}

void SlotGate::Wake() {
  // Why lock: a waiter between asking `cancelled` and sleeping would miss
  // a notify sent without it.
  { std::lock_guard<std::mutex> lock(mu_); }
  changed_.notify_all();
}

}  // namespace receta::worker
