// SchedulerCore driven by hand, as ninja's PlanTest drives Plan: no sockets,
// no disk, a fake clock and an in-memory ArtifactOracle.
#include <doctest/doctest.h>

#include <map>
#include <set>

#include "common/hash/sha256.h"
#include "tests/unit/core_harness.h"

namespace receta::scheduler {


TEST_CASE("SchedulerCoreTest.RunsAChainInOrderAndSucceeds") {
  Harness h;
  h.AddWorker("w1", 1);
  std::string run = h.Submit(kChain, {{"in.txt", "hello"}});
  REQUIRE(h.dispatched.size() == 1);
  CHECK(h.dispatched[0].step == "a");
  CHECK(h.dispatched[0].inputs.size() == 1);
  CHECK(h.dispatched[0].inputs[0].path == "in.txt");
  CHECK(h.Step(run, "a").state == StepState::kDispatched);
  CHECK(h.Step(run, "b").state == StepState::kPending);

  h.Finish(h.dispatched[0], 0, {{"a.txt", "A"}});
  REQUIRE(h.dispatched.size() == 2);
  CHECK(h.dispatched[1].step == "b");
  CHECK(h.dispatched[1].inputs[0].path == "a.txt");
  CHECK(h.dispatched[1].inputs[0].digest == HashBytes("A").ToHex());

  h.Finish(h.dispatched[1], 0, {{"b.txt", "B"}});
  CHECK(h.core.FindRun(run)->record().state == RunState::kSucceeded);
  CHECK(h.events.back().kind == "run_succeeded");
}

// A step that ends within kStartedAfterMs sends no AttemptStarted: it still
// starts (event and time) before it succeeds, at its end minus its duration.
// One that never ran (nothing started) is not said to have started.
TEST_CASE("SchedulerCoreTest.AResultWithoutAStartStillStartsTheStep") {
  Harness h;
  h.AddWorker("w1", 1);
  std::string run = h.Submit(kChain, {{"in.txt", "hello"}});
  REQUIRE(h.dispatched.size() == 1);
  const uint64_t dispatched_ms = h.Step(run, "a").attempts.back().dispatched_ms;
  h.now += 100;
  protocol::AttemptFinished f;
  f.attempt_id = h.dispatched[0].attempt_id;
  f.exit_code = 0;
  f.duration_ms = 30;
  f.outputs.push_back({"a.txt", h.oracle.Put("A"), 1, false});
  h.Report(f);  // at now + 1
  const AttemptRecord& a = h.Step(run, "a").attempts.back();
  CHECK(a.started_ms == h.now - 30);
  CHECK(a.started_ms > dispatched_ms);
  std::vector<std::string> kinds;
  for (const EventRecord& e : h.events) {
    if (e.step == "a") kinds.push_back(e.kind);
  }
  CHECK(kinds == std::vector<std::string>{"step_ready", "step_dispatched", "step_started", "step_succeeded"});

  // b's inputs never arrived: it never ran, so it never started.
  REQUIRE(h.dispatched.size() == 2);
  protocol::AttemptFinished never;
  never.attempt_id = h.dispatched[1].attempt_id;
  never.exit_code = -1;
  never.error = "could not fetch input 'a.txt'";
  never.system_failure = true;
  h.Report(never);
  for (const EventRecord& e : h.events) CHECK_FALSE((e.step == "b" && e.kind == "step_started"));
}

TEST_CASE("SchedulerCoreTest.RerunIsFullyCachedAndEarlyCutoffHolds") {
  Harness h;
  h.AddWorker("w1", 1);
  std::string first = h.Submit(kChain, {{"in.txt", "hello"}});
  h.Finish(h.dispatched[0], 0, {{"a.txt", "A"}});
  h.Finish(h.dispatched[1], 0, {{"b.txt", "B"}});
  size_t before = h.dispatched.size();

  std::string second = h.Submit(kChain, {{"in.txt", "hello"}});
  CHECK(h.dispatched.size() == before);
  CHECK(h.Step(second, "a").state == StepState::kCached);
  CHECK(h.Step(second, "b").state == StepState::kCached);
  CHECK(h.Step(second, "b").cached_from_run == first);
  CHECK(h.core.FindRun(second)->record().state == RunState::kSucceeded);

  // Input changes but a's output bytes stay the same: only a runs again.
  std::string third = h.Submit(kChain, {{"in.txt", "changed"}});
  REQUIRE(h.dispatched.size() == before + 1);
  CHECK(h.dispatched.back().step == "a");
  h.Finish(h.dispatched.back(), 0, {{"a.txt", "A"}});
  CHECK(h.dispatched.size() == before + 1);
  CHECK(h.Step(third, "b").state == StepState::kCached);
}

TEST_CASE("SchedulerCoreTest.NoCacheRerunsEverything") {
  Harness h;
  h.AddWorker("w1", 1);
  h.RunChainOnce();
  h.Submit(kChain, {{"in.txt", "hello"}}, /*no_cache=*/true);
  CHECK(h.dispatched.size() == 3);
}

TEST_CASE("SchedulerCoreTest.FailureSkipsDownstreamAndFailsRun") {
  Harness h;
  h.AddWorker("w1", 1);
  std::string run = h.Submit(kChain, {{"in.txt", "hello"}});
  h.Finish(h.dispatched[0], 3);
  CHECK(h.Step(run, "a").state == StepState::kFailed);
  CHECK(h.Step(run, "a").error == "exited with code 3");
  CHECK(h.Step(run, "b").state == StepState::kSkipped);
  CHECK(h.core.FindRun(run)->record().state == RunState::kFailed);
  CHECK(h.core.FindRun(run)->record().error == "step a: exited with code 3");
}

TEST_CASE("SchedulerCoreTest.OutputNotUploadedFailsTheStep") {
  Harness h;
  h.AddWorker("w1", 1);
  std::string run = h.Submit(kChain, {{"in.txt", "hello"}});
  protocol::AttemptFinished f;
  f.attempt_id = h.dispatched[0].attempt_id;
  f.outputs.push_back({"a.txt", HashBytes("never stored").ToHex(), 12, false});
  h.core.OnAttemptFinished("w1", f, ++h.now);
  h.Drain();
  CHECK(h.Step(run, "a").state == StepState::kFailed);
  CHECK(h.Step(run, "a").error.find("output 'a.txt'") != std::string::npos);
}

TEST_CASE("SchedulerCoreTest.IndependentStepsSpreadOverWorkers") {
  CoreOptions no_prefetch = NoSpeculation();
  no_prefetch.dispatch_prefetch = 0;
  Harness h(no_prefetch);
  h.AddWorker("w1", 1);
  h.AddWorker("w2", 1);
  h.Submit(R"(
steps:
  x: {run: "true", outputs: [x]}
  y: {run: "true", outputs: [y]}
  z: {run: "true", outputs: [z]}
)");
  REQUIRE(h.dispatched.size() == 2);
  std::set<std::string> workers;
  for (const auto& [id, w] : h.core.pool().workers()) {
    CHECK(w.used_slots == 1);
    workers.insert(id);
  }
  CHECK(workers.size() == 2);
  h.Finish(h.dispatched[0], 0, {{h.dispatched[0].step, "1"}});
  CHECK(h.dispatched.size() == 3);
}

const char* kSixSteps = R"(
steps:
  s1: {run: "true", outputs: [s1]}
  s2: {run: "true", outputs: [s2]}
  s3: {run: "true", outputs: [s3]}
  s4: {run: "true", outputs: [s4]}
  s5: {run: "true", outputs: [s5]}
  s6: {run: "true", outputs: [s6]}
)";

TEST_CASE("SchedulerCoreTest.DispatchesAtMostSlotsPlusPrefetchPerWorker") {
  Harness h;  // default: one attempt prefetched per worker
  REQUIRE(h.core.options().dispatch_prefetch == 1);
  h.AddWorker("w1", 1);
  h.AddWorker("w2", 2);
  h.Submit(kSixSteps);
  // Free slots first (w2 twice, w1 once), then one queued on each.
  REQUIRE(h.dispatched.size() == 5);
  CHECK(h.core.pool().workers().at("w1").used_slots == 2);
  CHECK(h.core.pool().workers().at("w2").used_slots == 3);
  CHECK(h.core.pool().workers().at("w1").attempts.count(h.dispatched[0].attempt_id) +
            h.core.pool().workers().at("w1").attempts.count(h.dispatched[1].attempt_id) +
            h.core.pool().workers().at("w1").attempts.count(h.dispatched[2].attempt_id) ==
        1);
  // Each finish makes room for exactly one more.
  h.Finish(h.dispatched[0], 0, {{h.dispatched[0].step, "1"}});
  CHECK(h.dispatched.size() == 6);
  h.Finish(h.dispatched[1], 0, {{h.dispatched[1].step, "1"}});
  CHECK(h.dispatched.size() == 6);  // nothing left to dispatch
}

TEST_CASE("SchedulerCoreTest.PrefetchGoesToIdleWorkersFirstAndRespectsMemory") {
  Harness h;
  h.AddWorker("w1", 1, {}, 8ull << 30);
  h.Submit(R"(
steps:
  big1: {run: "true", outputs: [a], resources: {memory: 6G}}
  big2: {run: "true", outputs: [b], resources: {memory: 6G}}
)");
  // A queued attempt may start beside a running one: memory counts.
  REQUIRE(h.dispatched.size() == 1);
  h.AddWorker("w2", 1, {}, 8ull << 30);
  // An idle worker takes the waiting step rather than a queue.
  REQUIRE(h.dispatched.size() == 2);
  CHECK(h.core.pool().workers().at("w2").attempts.count(h.dispatched[1].attempt_id) == 1);
}

TEST_CASE("SchedulerCoreTest.StepWithUnknownLabelsWaitsWithReason") {
  Harness h;
  h.AddWorker("w1", 1, {"cpu"});
  std::string run = h.Submit(R"(
steps:
  train: {run: "true", labels: [gpu], outputs: [m]}
)");
  CHECK(h.dispatched.empty());
  const Run* r = h.core.FindRun(run);
  CHECK(r->step(0).state == StepState::kReady);
  CHECK(r->wait_reason(0).find("no live worker has labels [gpu]") != std::string::npos);
  CHECK(r->wait_reason(0).find("--labels gpu") != std::string::npos);

  h.AddWorker("w2", 1, {"gpu"});
  REQUIRE(h.dispatched.size() == 1);
  CHECK(r->wait_reason(0).empty());
}

TEST_CASE("SchedulerCoreTest.LocalityPrefersTheWorkerHoldingInputs") {
  Harness h;
  h.AddWorker("w1", 2);
  h.AddWorker("w2", 2);
  h.Submit(kChain, {{"in.txt", "hello"}});
  std::string first_worker;
  for (const auto& [id, w] : h.core.pool().workers()) {
    if (!w.attempts.empty()) first_worker = id;
  }
  h.Finish(h.dispatched[0], 0, {{"a.txt", "A"}});
  REQUIRE(h.dispatched.size() == 2);
  CHECK(h.core.pool().workers().at(first_worker).attempts.count(h.dispatched[1].attempt_id) == 1);
}

TEST_CASE("SchedulerCoreTest.GateFailureBlocksDeployAndFailsRunWithValues") {
  Harness h;
  h.AddWorker("w1", 1);
  std::string run = h.Submit(R"(
steps:
  evaluate:
    kind: evaluate
    run: echo
    outputs: [metrics.json]
    metrics: metrics.json
    gate: accuracy >= 0.9
  deploy:
    kind: deploy
    needs: [evaluate]
    run: echo deploy
    cache: false
)");
  h.Finish(h.dispatched[0], 0, {{"metrics.json", R"({"accuracy": 0.5})"}});
  CHECK(h.Step(run, "evaluate").state == StepState::kGateFailed);
  CHECK(h.Step(run, "deploy").state == StepState::kSkipped);
  const RunRecord& record = h.core.FindRun(run)->record();
  CHECK(record.state == RunState::kFailed);
  CHECK(record.error.find("accuracy >= 0.9") != std::string::npos);
  CHECK(record.error.find("0.5") != std::string::npos);
  CHECK(h.Step(run, "evaluate").metrics_json.find("\"accuracy\"") != std::string::npos);
}

TEST_CASE("SchedulerCoreTest.StaleResultsAreIgnored") {
  Harness h;
  h.AddWorker("w1", 1);
  std::string run = h.Submit(kChain, {{"in.txt", "hello"}});
  protocol::Dispatch first = h.dispatched[0];
  // A result from a worker that does not hold the attempt is fenced off.
  protocol::AttemptFinished forged;
  forged.attempt_id = first.attempt_id;
  h.core.OnAttemptFinished("w-other", forged, ++h.now);
  h.Drain();
  CHECK(h.Step(run, "a").state == StepState::kDispatched);
  // A second result for an attempt already recorded changes nothing.
  h.Finish(first, 0, {{"a.txt", "A"}});
  h.Finish(first, 1, {}, "w1");
  CHECK(h.Step(run, "a").state == StepState::kSucceeded);
  CHECK(h.Step(run, "a").attempts.size() == 1);
}

TEST_CASE("SchedulerCoreTest.LostWorkerRequeuesItsAttempt") {
  Harness h;
  h.AddWorker("w1", 1);
  std::string run = h.Submit(kChain, {{"in.txt", "hello"}});
  h.now += 60'000;
  h.AddWorker("w2", 1);  // heard from now; w1 silent for a minute
  h.core.Tick(h.now);
  h.Drain();
  REQUIRE(h.dispatched.size() == 2);
  CHECK(h.dispatched[1].step == "a");
  CHECK(h.dispatched[1].attempt_id != h.dispatched[0].attempt_id);
  CHECK(h.core.pool().workers().at("w2").attempts.count(h.dispatched[1].attempt_id) == 1);
  CHECK(h.Step(run, "a").attempts.size() == 2);
}

TEST_CASE("SchedulerCoreTest.CancelKillsRunningAttempts") {
  Harness h;
  h.AddWorker("w1", 1);
  std::string run = h.Submit(kChain, {{"in.txt", "hello"}});
  Result<uint32_t> cancelled = h.core.Cancel(run, "wrong params", ++h.now);
  REQUIRE(cancelled.ok());
  CHECK(*cancelled == 2);
  h.Drain();
  REQUIRE(h.kills.size() == 1);
  CHECK(h.kills[0].attempt_id == h.dispatched[0].attempt_id);
  CHECK(h.core.FindRun(run)->record().state == RunState::kCancelled);
  CHECK_FALSE(h.core.Cancel(run, "again", h.now).ok());
  CHECK_FALSE(h.core.Cancel("r-404", "x", h.now).ok());
}

TEST_CASE("SchedulerCoreTest.SubmitRefusesBadDagsAndMissingBlobs") {
  Harness h;
  protocol::SubmitRun bad;
  bad.dag_yaml = "steps:\n  a: {run: x, inputs: [missing.txt]}\n";
  bad.dag_file = "bad.yaml";
  Result<std::string> refused = h.core.Submit(bad, h.now);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().find("missing.txt") != std::string::npos);

  protocol::SubmitRun unuploaded;
  unuploaded.dag_yaml = kChain;
  unuploaded.dag_file = "chain.yaml";
  unuploaded.workspace.push_back({"in.txt", HashBytes("nope").ToHex(), 4, false});
  Result<std::string> missing = h.core.Submit(unuploaded, h.now);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().find("was not uploaded") != std::string::npos);
}

TEST_CASE("SchedulerCoreTest.RestoredAttemptIsAdoptedOrRequeued") {
  Harness h;
  h.AddWorker("w1", 1);
  std::string run = h.Submit(kChain, {{"in.txt", "hello"}});
  Changes persisted = h.core.TakeChanges();
  (void)persisted;
  const Run* before = h.core.FindRun(run);
  RunRecord record = before->record();
  std::vector<StepRecord> steps = before->steps();
  std::string attempt = h.dispatched[0].attempt_id;

  // A new core, as after a restart: the worker claims the attempt.
  Harness restarted;
  restarted.oracle.blobs = h.oracle.blobs;
  REQUIRE(restarted.core.RestoreRun(record, steps, restarted.now).ok());
  protocol::Register r;
  r.worker_id = "w1";
  r.name = "w1";
  r.slots = 1;
  r.running_attempt_ids = {attempt, "r-9.0-1"};
  protocol::RegisterAck ack = restarted.core.Register(r, restarted.now);
  CHECK(ack.stale_attempt_ids == std::vector<std::string>{"r-9.0-1"});
  restarted.Drain();
  CHECK(restarted.dispatched.empty());
  restarted.Finish(h.dispatched[0], 0, {{"a.txt", "A"}}, "w1");
  CHECK(restarted.Step(run, "a").state == StepState::kSucceeded);

  // Nobody claims it: after the grace period it is dispatched again.
  Harness unclaimed;
  unclaimed.oracle.blobs = h.oracle.blobs;
  REQUIRE(unclaimed.core.RestoreRun(record, steps, unclaimed.now).ok());
  unclaimed.AddWorker("w2", 1);
  unclaimed.now += 60'000;
  unclaimed.AddWorker("w2", 1);
  unclaimed.core.Tick(unclaimed.now);
  unclaimed.Drain();
  REQUIRE(unclaimed.dispatched.size() == 1);
  CHECK(unclaimed.dispatched[0].attempt_id == run + ".0-2");
}

}  // namespace receta::scheduler
