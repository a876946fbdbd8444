#include "scheduler/retry_policy.h"

#include <algorithm>

namespace receta::scheduler {

bool RetryOnCovers(const RetryOn& retry_on, bool timed_out, int exit_code) {
  if (retry_on.any()) return true;
  if (timed_out) return retry_on.timeout;
  return std::find(retry_on.exit_codes.begin(), retry_on.exit_codes.end(), exit_code) !=
         retry_on.exit_codes.end();
}

uint64_t RetryDelayMs(int64_t backoff_ms, uint32_t retry, uint64_t jitter_seed) {
  uint64_t base = static_cast<uint64_t>(std::max<int64_t>(backoff_ms, 0));
  uint64_t cap = std::max(base, kMaxRetryBackoffMs);
  uint64_t delay = base;
  for (uint32_t i = 1; i < retry && delay < cap; ++i) delay *= 2;
  delay = std::min(delay, cap);
  // Up to +20%: a wait never gets shorter than the user asked for.
  uint64_t jitter = delay / 5 == 0 ? 0 : jitter_seed % (delay / 5 + 1);
  return delay + jitter;
}

std::string DescribeNotCovered(const RetryOn& retry_on, bool timed_out, int exit_code) {
  std::string listed;
  for (int code : retry_on.exit_codes) listed += (listed.empty() ? "" : ", ") + std::to_string(code);
  if (retry_on.timeout) listed += listed.empty() ? "timeout" : ", timeout";
  std::string what = timed_out       ? std::string("a timeout")
                     : exit_code > 0 ? "exit code " + std::to_string(exit_code)
                                     : std::string("this failure");
  return what + " is not in retry_on [" + listed + "]";
}

}  // namespace receta::scheduler
