#pragma once
// Alert: what the core decided a person must hear about (a step failed for
// good, is being retried, timed out, its gate failed, its worker was lost,
// or a run succeeded), with the sinks the DAG names for that event. The
// core only decides; scheduler/alert_sender delivers, off the loop thread.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace receta::scheduler {

/// `url` fit for logs and events, which many people may read: without
/// "user:password@", with the query and fragment as "?***", and with each
/// path segment that looks like a secret token (16 or more characters
/// holding both letters and digits, as in Slack's and Discord's webhook
/// URLs) as "***". "http://127.0.0.1:9000/hook" is shown as it is.
std::string ShownUrl(std::string_view url);

/// Where an alert goes: exactly one of the two is set.
struct AlertSink {
  std::string webhook;  // URL that receives an HTTP POST of the JSON document
  std::string command;  // run by /bin/sh -c on the scheduler host, JSON on stdin

  /// "webhook http://host/***" or "command notify.sh", for events and logs:
  /// a webhook URL's secrets (Slack's token) are hidden, see ShownUrl.
  std::string Describe() const { return webhook.empty() ? "command " + command : "webhook " + ShownUrl(webhook); }
  bool operator==(const AlertSink&) const = default;
};

/// One alert raised by the core. `id` is unique per scheduler process.
struct Alert {
  uint64_t id = 0;
  std::string event;  // failure, retry, gate_failed, success, worker_lost, timeout
  std::string run_id;
  std::string dag_name;
  std::string step;        // empty for run-level alerts (success of a run)
  std::string attempt_id;  // empty when no attempt is involved
  uint32_t attempt_number = 0;
  std::string worker_name;
  std::string state;  // the step's (or run's) state after the event
  std::string error;  // what went wrong, empty for success
  uint64_t time_ms = 0;
  /// The last lines of the attempt's log, filled in by the server (the core
  /// does no I/O).
  std::vector<std::string> log_tail;
  std::vector<AlertSink> sinks;
};

/// The outcome of delivering one alert to one sink, for the event log.
struct AlertOutcome {
  uint64_t alert_id = 0;
  std::string event;
  std::string run_id;
  std::string step;
  std::string attempt_id;
  AlertSink sink;
  bool delivered = false;
  uint32_t tries = 0;
  std::string reason;  // why it was given up (the last error), empty if delivered
};

}  // namespace receta::scheduler
