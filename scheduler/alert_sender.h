#pragma once
// AlertSender: delivers Alerts to their sinks (webhooks, commands) from one
// background thread, so that a down or slow endpoint never delays the
// scheduler's loop. A delivery that fails is retried with exponential
// backoff until `give_up_after_ms` have passed since it was enqueued; each
// delivery ends in one AlertOutcome, which the loop thread collects with
// TakeOutcomes() and records as an event.
//
// Deliveries run concurrently (up to max_in_flight at once): webhook POSTs
// as libcurl transfers on one multi handle, commands as child processes,
// all waited on with one poll. Deliveries waiting for their retry time sit
// in a queue ordered by that time and hold up nothing.
//
// Not durable: deliveries still pending when the sender is destroyed (the
// scheduler stops) are abandoned, and the log says which.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "scheduler/alert.h"

namespace receta::scheduler {

struct AlertSenderOptions {
  /// A delivery that has not succeeded this long after Enqueue() is given
  /// up (after the try that is running then, if any, has ended). Failures
  /// no retry can fix (a sink without a target, a malformed URL, a scheme
  /// other than http and https) are given up after the first try.
  uint64_t give_up_after_ms = 10 * 60 * 1000;
  /// Wait after the first failed try; doubled after each further failure,
  /// at most max_retry_ms, each wait varied by up to ±20% at random.
  uint64_t first_retry_ms = 1000;
  uint64_t max_retry_ms = 60 * 1000;
  /// How long one HTTP request or one run of a command may take.
  uint64_t attempt_timeout_ms = 10 * 1000;
  /// Deliveries running at once; more wait for a free slot.
  size_t max_in_flight = 16;
};

/// The wait before the next try after `failed_tries` (1 for the first)
/// failed: first_retry_ms * 2^(failed_tries - 1) scaled by (1 + 0.2 *
/// jitter), at most max_retry_ms. `jitter` is in [-1, 1]. Pure.
uint64_t AlertRetryDelayMs(const AlertSenderOptions& options, uint32_t failed_tries, double jitter);

class AlertSender {
 public:
  /// Starts the delivery thread.
  explicit AlertSender(AlertSenderOptions options = {});
  /// Stops the thread promptly: it wakes at once, drops running HTTP
  /// transfers, and kills (SIGKILL) and reaps running commands. Pending and
  /// running deliveries are abandoned (one warn line with their alert ids)
  /// and get no outcome.
  ~AlertSender();
  AlertSender(const AlertSender&) = delete;
  AlertSender& operator=(const AlertSender&) = delete;

  /// Queues one delivery per sink in `alert.sinks` and returns at once
  /// (never waits on I/O). An alert without sinks is dropped. Thread-safe.
  void Enqueue(Alert alert);

  /// The outcomes that arrived since the last call, in the order the
  /// deliveries ended. Thread-safe; the scheduler's loop calls it each
  /// iteration.
  std::vector<AlertOutcome> TakeOutcomes();

 private:
  class Loop;

  struct Queued {
    Alert alert;
    std::chrono::steady_clock::time_point enqueued;
  };

  // What passes between the callers and the loop thread.
  std::mutex mu_;
  std::vector<Queued> incoming_;        // Guarded by mu_
  std::vector<AlertOutcome> outcomes_;  // Guarded by mu_
  bool stop_ = false;                   // Guarded by mu_

  int wake_fd_ = -1;            // eventfd: Enqueue() and the destructor wake the loop
  std::unique_ptr<Loop> loop_;  // used and destroyed by thread_ only
  std::thread thread_;
};

}  // namespace receta::scheduler
