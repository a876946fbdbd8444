// Failure handling in the core: retries with backoff, retry_on, system
// failures counted apart and sent elsewhere, alerts raised, lost dispatches,
// corrupt blobs reopening their producers, and `receta retry`.
#include <doctest/doctest.h>

#include <algorithm>

#include "scheduler/retry_policy.h"
#include "tests/unit/core_harness.h"

namespace receta::scheduler {
namespace {

const char* kFlaky = R"(
name: flaky
alerts:
  - on: [failure, retry, timeout, worker_lost, success]
    webhook: http://127.0.0.1:9/hook
steps:
  train:
    run: ./train.sh
    outputs: [model.bin]
    retries: 3
    retry_backoff: 1s
  report:
    run: cat model.bin > report.txt
    inputs: [model.bin]
    outputs: [report.txt]
)";

protocol::AttemptFinished Failed(const protocol::Dispatch& d, int exit_code, bool system = false,
                                 bool timed_out = false) {
  protocol::AttemptFinished f;
  f.attempt_id = d.attempt_id;
  f.exit_code = exit_code;
  f.timed_out = timed_out;
  f.error = system ? "could not fetch input: connection reset" : "";
  if (system) f.system_failure = true;
  return f;
}

std::vector<std::string> AlertEvents(const Harness& h) {
  std::vector<std::string> events;
  for (const Alert& alert : h.alerts) events.push_back(alert.event + ":" + alert.step);
  return events;
}

bool HasEvent(const Harness& h, const std::string& kind, const std::string& step) {
  return std::any_of(h.events.begin(), h.events.end(),
                     [&](const EventRecord& e) { return e.kind == kind && e.step == step; });
}

}  // namespace

TEST_CASE("RetryPolicyTest.BackoffDoublesIsCappedAndJittersUpwardOnly") {
  for (uint64_t seed : {0ull, 7ull, 123456789ull}) {
    uint64_t first = RetryDelayMs(1000, 1, seed);
    CHECK(first >= 1000);
    CHECK(first <= 1200);
    uint64_t third = RetryDelayMs(1000, 3, seed);
    CHECK(third >= 4000);
    CHECK(third <= 4800);
    CHECK(RetryDelayMs(1000, 40, seed) <= kMaxRetryBackoffMs * 6 / 5);  // capped, no overflow
  }
  CHECK(RetryDelayMs(0, 3, 99) == 0);
  // A backoff longer than the cap is its own cap.
  CHECK(RetryDelayMs(int64_t{kMaxRetryBackoffMs} * 2, 5, 0) == kMaxRetryBackoffMs * 2);
}

TEST_CASE("RetryPolicyTest.RetryOnCoversListedExitCodesAndTimeout") {
  RetryOn any;
  CHECK(RetryOnCovers(any, false, 1));
  CHECK(RetryOnCovers(any, true, -1));
  CHECK(RetryOnCovers(any, false, 0));  // e.g. a missing output
  RetryOn codes{{3, 137}, false};
  CHECK(RetryOnCovers(codes, false, 3));
  CHECK_FALSE(RetryOnCovers(codes, false, 4));
  CHECK_FALSE(RetryOnCovers(codes, true, -1));
  CHECK(DescribeNotCovered(codes, false, 4) == "exit code 4 is not in retry_on [3, 137]");
  RetryOn timeout_only{{}, true};
  CHECK(RetryOnCovers(timeout_only, true, -1));
  CHECK_FALSE(RetryOnCovers(timeout_only, false, 1));
}

TEST_CASE("SchedulerRetryTest.FailsTwiceThenSucceedsWithThreeAttempts") {
  Harness h;
  h.AddWorker("w1", 1);
  std::string run = h.Submit(kFlaky);
  REQUIRE(h.dispatched.size() == 1);

  h.Report(Failed(h.dispatched[0], 1));
  const StepRecord& train = h.Step(run, "train");
  CHECK(train.state == StepState::kRetrying);
  CHECK(train.user_failures.value_or(0) == 1);
  CHECK(train.attempts.back().failure == std::optional<std::string>("user"));
  REQUIRE(train.retry_at_ms.has_value());
  uint64_t wait = *train.retry_at_ms - h.now;
  CHECK(wait >= 1000);
  CHECK(wait <= 1200);
  CHECK(HasEvent(h, "step_retrying", "train"));

  // Nothing is dispatched before the backoff ends.
  h.core.Tick(*train.retry_at_ms - 1);
  h.Drain();
  CHECK(h.dispatched.size() == 1);
  h.now = *train.retry_at_ms;
  h.core.Tick(h.now);
  h.Drain();
  REQUIRE(h.dispatched.size() == 2);
  CHECK(h.dispatched[1].attempt_id == run + ".0-2");

  h.Report(Failed(h.dispatched[1], 1));
  uint64_t second_wait = *h.Step(run, "train").retry_at_ms - h.now;
  CHECK(second_wait >= 2000);  // doubled
  h.now += second_wait;
  h.core.Tick(h.now);
  h.Drain();
  REQUIRE(h.dispatched.size() == 3);
  h.Finish(h.dispatched[2], 0, {{"model.bin", "M"}});

  const StepRecord& done = h.Step(run, "train");
  CHECK(done.state == StepState::kSucceeded);
  CHECK(done.attempts.size() == 3);
  CHECK(done.user_failures.value_or(0) == 2);
  CHECK(done.system_failures.value_or(0) == 0);
  CHECK(done.error.empty());
  // `retry` alerts because the DAG asked for them; no `failure`.
  std::vector<std::string> alerts = AlertEvents(h);
  CHECK(std::count(alerts.begin(), alerts.end(), "retry:train") == 2);
  CHECK(std::count(alerts.begin(), alerts.end(), "failure:train") == 0);
  REQUIRE(h.alerts.size() >= 1);
  CHECK(h.alerts[0].sinks.size() == 1);
  CHECK(h.alerts[0].sinks[0].webhook == "http://127.0.0.1:9/hook");
  CHECK(h.alerts[0].attempt_id == run + ".0-1");
  CHECK(h.alerts[0].dag_name == "flaky");
}

TEST_CASE("SchedulerRetryTest.RetriesRunOutThenTheStepFailsWithAFailureAlert") {
  Harness h;
  h.AddWorker("w1", 1);
  std::string run = h.Submit(R"(
alerts:
  - on: [failure]
    command: cat > /dev/null
steps:
  s:
    run: exit 1
    retries: 1
    retry_backoff: 10ms
)");
  h.Report(Failed(h.dispatched[0], 1));
  h.now += 1000;
  h.core.Tick(h.now);
  h.Drain();
  REQUIRE(h.dispatched.size() == 2);
  h.Report(Failed(h.dispatched[1], 1));
  const StepRecord& s = h.Step(run, "s");
  CHECK(s.state == StepState::kFailed);
  CHECK(s.error == "exited with code 1 (attempt 2; all 1 retries used)");
  CHECK(h.core.FindRun(run)->record().state == RunState::kFailed);
  // A retry was not asked for: only the final failure alerts.
  CHECK(AlertEvents(h) == std::vector<std::string>{"failure:s"});
  CHECK(h.alerts[0].sinks[0].command == "cat > /dev/null");
  CHECK(h.alerts[0].state == "failed");
}

TEST_CASE("SchedulerRetryTest.RetryOnLimitsWhichFailuresAreRetried") {
  const char* dag = R"(
defaults:
  retries: 2
  retry_on: [3, timeout]
steps:
  s:
    run: ./s.sh
)";
  {
    Harness h;
    h.AddWorker("w1", 1);
    std::string run = h.Submit(dag);
    h.Report(Failed(h.dispatched[0], 4));
    CHECK(h.Step(run, "s").state == StepState::kFailed);
    CHECK(h.Step(run, "s").error == "exited with code 4 (not retried: exit code 4 is not in retry_on [3, timeout])");
  }
  {
    Harness h;
    h.AddWorker("w1", 1);
    std::string run = h.Submit(dag);
    h.Report(Failed(h.dispatched[0], 3));
    CHECK(h.Step(run, "s").state == StepState::kRetrying);
  }
  {
    Harness h;
    h.AddWorker("w1", 1);
    std::string run = h.Submit(dag);
    protocol::AttemptFinished timed_out = Failed(h.dispatched[0], -1, false, true);
    timed_out.signal = 15;
    timed_out.error = "timed out after 1000 ms; the process group was killed";
    h.Report(timed_out);
    CHECK(h.Step(run, "s").state == StepState::kRetrying);
    CHECK(h.Step(run, "s").attempts[0].timed_out);
  }
}

TEST_CASE("SchedulerRetryTest.SystemFailureRunsElsewhereWithoutUsingRetries") {
  Harness h;
  h.AddWorker("w1", 1);
  h.AddWorker("w2", 1);
  std::string run = h.Submit(R"(
steps:
  s:
    run: ./s.sh
)");
  REQUIRE(h.dispatched.size() == 1);
  std::string first_worker = h.WorkerOf(h.dispatched[0].attempt_id);
  h.Report(Failed(h.dispatched[0], -1, /*system=*/true));
  const StepRecord& s = h.Step(run, "s");
  CHECK(s.system_failures.value_or(0) == 1);
  CHECK(s.user_failures.value_or(0) == 0);
  CHECK(s.attempts[0].failure == std::optional<std::string>("system"));
  CHECK(HasEvent(h, "step_requeued", "s"));
  REQUIRE(h.dispatched.size() == 2);
  // Both workers are free: the one it failed on is avoided.
  CHECK(h.WorkerOf(h.dispatched[1].attempt_id) != first_worker);
  h.Finish(h.dispatched[1], 0);
  CHECK(h.Step(run, "s").state == StepState::kSucceeded);
}

TEST_CASE("SchedulerRetryTest.SystemFailureOnTheOnlyWorkerRunsThereAgain") {
  Harness h;
  h.AddWorker("w1", 1);
  std::string run = h.Submit("steps:\n  s:\n    run: ./s.sh\n");
  h.Report(Failed(h.dispatched[0], -1, true));
  REQUIRE(h.dispatched.size() == 2);
  CHECK(h.WorkerOf(h.dispatched[1].attempt_id) == "w1");
}

TEST_CASE("SchedulerRetryTest.EndlessSystemFailuresFailTheStep") {
  Harness h;
  h.AddWorker("w1", 1);
  std::string run = h.Submit("steps:\n  s:\n    run: ./s.sh\n");
  for (uint32_t i = 0; i < kMaxSystemFailures; ++i) {
    REQUIRE(h.dispatched.size() == i + 1);
    h.Report(Failed(h.dispatched[i], -1, true));
  }
  const StepRecord& s = h.Step(run, "s");
  CHECK(s.state == StepState::kFailed);
  CHECK(s.error.find("gave up after 10 system failures in a row") == 0);
}

TEST_CASE("SchedulerRetryTest.LostWorkerCountsAsSystemFailureAndAlerts") {
  CoreOptions options = NoSpeculation();
  options.worker_timeout_ms = 5000;
  Harness h(options);
  h.AddWorker("w1", 1);
  std::string run = h.Submit(kFlaky);
  h.AddWorker("w2", 1);
  REQUIRE(h.dispatched.size() == 1);
  std::string lost = h.WorkerOf(h.dispatched[0].attempt_id);
  std::string other = lost == "w1" ? "w2" : "w1";
  h.now += 6000;
  h.core.HeardFrom(other, h.now);
  h.core.Tick(h.now);
  h.Drain();
  const StepRecord& train = h.Step(run, "train");
  CHECK(train.system_failures.value_or(0) == 1);
  CHECK(train.user_failures.value_or(0) == 0);
  REQUIRE(h.dispatched.size() == 2);
  CHECK(h.WorkerOf(h.dispatched[1].attempt_id) == other);
  std::vector<std::string> alerts = AlertEvents(h);
  CHECK(std::count(alerts.begin(), alerts.end(), "worker_lost:train") == 1);
  // The lost worker's late result is refused: the step keeps running.
  h.Finish(h.dispatched[0], 0, {{"model.bin", "stale"}}, lost);
  CHECK(h.Step(run, "train").state == StepState::kDispatched);
}

TEST_CASE("SchedulerRetryTest.DispatchMissingFromHeartbeatsRunsAgain") {
  Harness h;
  h.AddWorker("w1", 1);
  std::string run = h.Submit("steps:\n  s:\n    run: ./s.sh\n");
  REQUIRE(h.dispatched.size() == 1);
  protocol::Heartbeat empty;
  // Within the grace, a heartbeat that does not list it proves nothing.
  h.core.OnHeartbeat("w1", empty, h.now + 500);
  h.Drain();
  CHECK(h.Step(run, "s").state == StepState::kDispatched);
  protocol::Heartbeat holding;
  holding.running_attempt_ids = {h.dispatched[0].attempt_id};
  h.core.OnHeartbeat("w1", holding, h.now + 10'000);
  h.Drain();
  CHECK(h.Step(run, "s").state == StepState::kDispatched);
  h.now += 10'000;
  h.core.OnHeartbeat("w1", empty, h.now);
  h.Drain();
  CHECK(h.Step(run, "s").system_failures.value_or(0) == 1);
  REQUIRE(h.dispatched.size() == 2);
}

TEST_CASE("SchedulerRetryTest.HeartbeatGraceCountsFromWhenTheDispatchLeft") {
  // A long turn (a huge submit) stamps its attempts at its start but sends
  // them at its end: a heartbeat the worker sent before the Dispatch came
  // must not make the step run twice.
  Harness h;
  h.AddWorker("w1", 1);
  std::string run = h.Submit("steps:\n  s:\n    run: ./s.sh\n");
  REQUIRE(h.dispatched.size() == 1);
  const uint64_t sent = h.now + 30'000;  // the turn took 30 s
  h.core.DispatchesSent({h.dispatched[0].attempt_id}, sent);
  protocol::Heartbeat empty;
  h.core.OnHeartbeat("w1", empty, sent + 500);
  h.Drain();
  CHECK(h.Step(run, "s").state == StepState::kDispatched);
  CHECK(h.Step(run, "s").system_failures.value_or(0) == 0);
  REQUIRE(h.dispatched.size() == 1);
  // Long after it left, still missing: lost, and it runs again.
  h.core.OnHeartbeat("w1", empty, sent + 10'000);
  h.Drain();
  CHECK(h.Step(run, "s").system_failures.value_or(0) == 1);
  CHECK(h.dispatched.size() == 2);
}

TEST_CASE("SchedulerRetryTest.CorruptBlobReopensItsProducer") {
  Harness h;
  h.AddWorker("w1", 2);
  std::string run = h.Submit(kChain, {{"in.txt", "hello"}});
  h.Finish(h.dispatched[0], 0, {{"a.txt", "A"}});
  REQUIRE(h.dispatched.size() == 2);  // b, reading a.txt
  std::string digest = HashBytes("A").ToHex();
  // The server found a.txt's blob corrupt while b's worker fetched it.
  h.oracle.blobs.erase(digest);
  h.core.OnBlobCorrupt(digest, ++h.now);
  h.Drain();
  CHECK(HasEvent(h, "step_reopened", "a"));
  REQUIRE(h.dispatched.size() == 3);
  CHECK(h.dispatched[2].step == "a");  // its cache entry's blob is gone: it runs
  // b's fetch failed: a system failure, and b waits for a again.
  h.Report(Failed(h.dispatched[1], -1, true));
  CHECK(h.Step(run, "b").state == StepState::kPending);
  h.Finish(h.dispatched[2], 0, {{"a.txt", "A"}});
  REQUIRE(h.dispatched.size() == 4);
  CHECK(h.dispatched[3].step == "b");
  h.Finish(h.dispatched[3], 0, {{"b.txt", "B"}});
  CHECK(h.core.FindRun(run)->record().state == RunState::kSucceeded);
}

TEST_CASE("SchedulerRetryTest.RetryResumesAFailedRunKeepingWhatSucceeded") {
  Harness h;
  h.AddWorker("w1", 1);
  const char* dag = R"(
steps:
  a:
    run: echo a > a.txt
    outputs: [a.txt]
  b:
    run: cat a.txt > b.txt
    inputs: [a.txt]
    outputs: [b.txt]
  c:
    run: cat b.txt > c.txt
    inputs: [b.txt]
    outputs: [c.txt]
  side:
    run: exit 2
)";
  std::string run = h.Submit(dag);
  CHECK(h.core.Retry(run, "", h.now).error().find("still running") != std::string::npos);
  // a succeeds, b fails (no retries), c is skipped, side fails.
  for (size_t i = 0; i < h.dispatched.size(); ++i) {
    const protocol::Dispatch d = h.dispatched[i];
    if (d.step == "a") h.Finish(d, 0, {{"a.txt", "A"}});
    else h.Report(Failed(d, 1));
  }
  REQUIRE(h.core.FindRun(run)->finished());
  CHECK(h.Step(run, "c").state == StepState::kSkipped);
  size_t before = h.dispatched.size();

  CHECK(h.core.Retry(run, "a", h.now).error().find("step a of run " + run + " is succeeded") == 0);
  CHECK(h.core.Retry(run, "nope", h.now).error() == "run " + run + " has no step 'nope'");
  Result<uint32_t> reopened = h.core.Retry(run, "b", ++h.now);
  REQUIRE_MESSAGE(reopened.ok(), reopened.error());
  CHECK(*reopened == 2);  // b and c; side stays failed
  h.Drain();
  CHECK(HasEvent(h, "run_retried", ""));
  CHECK(h.core.FindRun(run)->record().state == RunState::kRunning);
  CHECK(h.Step(run, "a").state == StepState::kSucceeded);
  REQUIRE(h.dispatched.size() == before + 1);
  CHECK(h.dispatched[before].step == "b");
  CHECK(h.dispatched[before].attempt_id == run + ".1-2");  // attempt 1's log stays
  h.Finish(h.dispatched[before], 0, {{"b.txt", "B"}});
  h.Finish(h.dispatched.back(), 0, {{"c.txt", "C"}});
  CHECK(h.core.FindRun(run)->record().state == RunState::kFailed);  // side still failed

  // Retrying everything that did not succeed: only side is left.
  reopened = h.core.Retry(run, "", ++h.now);
  REQUIRE(reopened.ok());
  CHECK(*reopened == 1);
  h.Drain();
  h.Finish(h.dispatched.back(), 0);
  CHECK(h.core.FindRun(run)->record().state == RunState::kSucceeded);
  CHECK(h.core.Retry(run, "", h.now).error().find("succeeded; there is nothing to retry") != std::string::npos);
}

TEST_CASE("SchedulerRetryTest.RetryAfterCancelRunsTheCancelledSteps") {
  Harness h;
  h.AddWorker("w1", 1);
  std::string run = h.Submit(kChain, {{"in.txt", "hello"}});
  REQUIRE(h.core.Cancel(run, "by test", ++h.now).ok());
  h.Drain();
  CHECK(h.core.FindRun(run)->record().state == RunState::kCancelled);
  Result<uint32_t> reopened = h.core.Retry(run, "", ++h.now);
  REQUIRE(reopened.ok());
  CHECK(*reopened == 2);
  h.Drain();
  h.Finish(h.dispatched.back(), 0, {{"a.txt", "A"}});
  h.Finish(h.dispatched.back(), 0, {{"b.txt", "B"}});
  CHECK(h.core.FindRun(run)->record().state == RunState::kSucceeded);
}

TEST_CASE("SchedulerRetryTest.SuccessAlertsOncePerRunAtDagLevel") {
  Harness h;
  h.AddWorker("w1", 1);
  std::string run = h.Submit(R"(
alerts:
  - on: [success]
    webhook: http://127.0.0.1:9/dag
steps:
  a:
    run: echo a > a.txt
    outputs: [a.txt]
    alerts:
      - on: [success]
        webhook: http://127.0.0.1:9/step
  b:
    run: cat a.txt
    inputs: [a.txt]
)");
  h.Finish(h.dispatched[0], 0, {{"a.txt", "A"}});
  h.Finish(h.dispatched[1], 0);
  REQUIRE(h.alerts.size() == 2);
  CHECK(h.alerts[0].step == "a");
  CHECK(h.alerts[0].sinks[0].webhook == "http://127.0.0.1:9/step");
  CHECK(h.alerts[1].step.empty());
  CHECK(h.alerts[1].state == "succeeded");
  CHECK(h.alerts[1].sinks[0].webhook == "http://127.0.0.1:9/dag");
}

}  // namespace receta::scheduler
