#include "worker/upstream_handoff.h"

#include "common/os/thread_policy.h"
#include "worker/upstream_inputs.h"

namespace receta::worker {

void UpstreamHandoff::Expect(const std::string& attempt_id, const std::string& upstream_id) {
  std::lock_guard<std::mutex> lock(mu_);
  waiters_[attempt_id] = Waiter{upstream_id, std::nullopt};
}

void UpstreamHandoff::Deliver(const protocol::AttemptFinished& finished) {
  bool given = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, waiter] : waiters_) {
      if (waiter.upstream_id != finished.attempt_id || waiter.upstream) continue;
      // Field by field: the inline output bytes (up to 256 KiB) are not
      // needed, the files are in the local cache.
      protocol::AttemptFinished copy;
      copy.attempt_id = finished.attempt_id;
      copy.exit_code = finished.exit_code;
      copy.signal = finished.signal;
      copy.timed_out = finished.timed_out;
      copy.error = finished.error;
      copy.system_failure = finished.system_failure;
      copy.outputs = finished.outputs;
      waiter.upstream = std::move(copy);
      given = true;
    }
  }
  if (given) {
    changed_.notify_all();
    YieldToWokenStepStarter();  // the waiter's process is next
  }
}

std::optional<protocol::AttemptFinished> UpstreamHandoff::AwaitSuccess(
    const std::string& attempt_id, const std::function<bool()>& give_up) {
  std::unique_lock<std::mutex> lock(mu_);
  std::optional<protocol::AttemptFinished> answer;
  changed_.wait(lock, [&] {
    auto it = waiters_.find(attempt_id);
    if (it == waiters_.end()) return true;
    if (it->second.upstream && Succeeded(*it->second.upstream)) {
      answer = it->second.upstream;
      return true;
    }
    return give_up();
  });
  return answer;
}

void UpstreamHandoff::Wake() {
  // Under the lock: a waiter between its check of give_up and its wait
  // would miss a bare notify.
  std::lock_guard<std::mutex> lock(mu_);
  changed_.notify_all();
}

void UpstreamHandoff::Forget(const std::string& attempt_id) {
  std::lock_guard<std::mutex> lock(mu_);
  waiters_.erase(attempt_id);
}

size_t UpstreamHandoff::waiting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return waiters_.size();
}

}  // namespace receta::worker
