// Speculative dispatch (SchedulerCore::Speculate): a chain's next step is
// sent to the worker running its one unfinished upstream step, to start
// there the moment that step succeeds; the scheduler records it as
// dispatched only when the upstream's result makes it ready, and withdraws
// it (KillAttempt) otherwise. Driven by hand like scheduler_core_test.
#include <doctest/doctest.h>

#include <string>

#include "common/cache/upstream_manifest.h"
#include "common/hash/sha256.h"
#include "tests/unit/core_harness.h"

namespace receta::scheduler {
namespace {

CoreOptions Speculating() {
  CoreOptions options;
  options.speculative_dispatch = true;
  return options;
}

// c reads what a and b make.
const char* kJoinOfTwo = R"(
steps:
  a: {run: make-a, inputs: [in.txt], outputs: [a.txt]}
  b: {run: make-b, inputs: [in.txt], outputs: [b.txt]}
  c: {run: make-c, inputs: [a.txt, b.txt], outputs: [c.txt]}
)";

// The step a speculative Dispatch is for, checked to be one.
void CheckSpeculative(const protocol::Dispatch& d, const std::string& step,
                      const std::string& after) {
  CHECK(d.step == step);
  REQUIRE(d.after_attempt.has_value());
  CHECK(*d.after_attempt == after);
}

}  // namespace

TEST_CASE("SpeculationTest.ChainsNextStepIsSentAheadAndRecordedWhenItsUpstreamSucceeds") {
  Harness h(Speculating());
  h.AddWorker("w1", 1);
  std::string run = h.Submit(kChain, {{"in.txt", "hello"}});
  REQUIRE(h.dispatched.size() == 2);
  CHECK(h.dispatched[0].step == "a");
  CHECK_FALSE(h.dispatched[0].after_attempt.has_value());
  CheckSpeculative(h.dispatched[1], "b", h.dispatched[0].attempt_id);
  // An id no normal dispatch of b gets, still ending in the attempt number
  // (the step's RECETA_ATTEMPT).
  CHECK(h.dispatched[1].attempt_id == run + ".1s1-1");
  REQUIRE(h.dispatched[1].inputs.size() == 1);
  CHECK(h.dispatched[1].inputs[0].path == "a.txt");
  CHECK(h.dispatched[1].inputs[0].kind == protocol::kInputKindUpstream);
  // Not recorded yet: b is still pending, with no attempt, and holds w1's
  // prefetch place.
  CHECK(h.Step(run, "b").state == StepState::kPending);
  CHECK(h.Step(run, "b").attempts.empty());
  CHECK(h.core.pool().workers().at("w1").used_slots == 2);

  h.Finish(h.dispatched[0], 0, {{"a.txt", "A"}});
  CHECK(h.dispatched.size() == 2);  // no second Dispatch: the worker has it
  CHECK(h.kills.empty());
  const StepRecord& b = h.Step(run, "b");
  CHECK(b.state == StepState::kDispatched);
  REQUIRE(b.attempts.size() == 1);
  CHECK(b.attempts[0].attempt_id == h.dispatched[1].attempt_id);
  CHECK(b.attempts[0].worker_id == "w1");
  CHECK(b.cache_key.size() == 64);

  h.Finish(h.dispatched[1], 0, {{"b.txt", "B"}});
  CHECK(h.core.FindRun(run)->record().state == RunState::kSucceeded);
  CHECK(h.core.pool().workers().at("w1").used_slots == 0);
}

TEST_CASE("SpeculationTest.AFailedUpstreamWithdrawsItAndTheRetrySpeculatesAgain") {
  Harness h(Speculating());
  h.AddWorker("w1", 1);
  std::string run = h.Submit(R"(
steps:
  a: {run: make-a, inputs: [in.txt], outputs: [a.txt], retries: 1, retry_backoff: 1s}
  b: {run: make-b, inputs: [a.txt], outputs: [b.txt]}
)",
                             {{"in.txt", "hello"}});
  REQUIRE(h.dispatched.size() == 2);
  std::string first_b = h.dispatched[1].attempt_id;
  h.Finish(h.dispatched[0], 3);
  REQUIRE(h.kills.size() == 1);
  CHECK(h.kills[0].attempt_id == first_b);
  CHECK(h.kills[0].reason.find("ended without readying it") != std::string::npos);
  CHECK(h.Step(run, "b").state == StepState::kPending);
  CHECK(h.Step(run, "b").attempts.empty());

  // a's retry runs; b goes along with it again (a new id: the first was
  // withdrawn, and its late messages must not pass for this one).
  h.core.Tick(h.now += 2000);
  h.Drain();
  REQUIRE(h.dispatched.size() == 4);
  CHECK(h.dispatched[2].step == "a");
  CheckSpeculative(h.dispatched[3], "b", h.dispatched[2].attempt_id);
  h.Finish(h.dispatched[2], 0, {{"a.txt", "A"}});
  h.Finish(h.dispatched[3], 0, {{"b.txt", "B"}});
  CHECK(h.core.FindRun(run)->record().state == RunState::kSucceeded);
  CHECK(h.Step(run, "b").attempts.size() == 1);
}

TEST_CASE("SpeculationTest.NothingIsSentAheadOfAStepWhoseGateTheSchedulerJudges") {
  // The worker sees evaluate exit 0; only the scheduler knows whether its
  // gate holds. deploy must never start on a model that failed it.
  Harness h(Speculating());
  h.AddWorker("w1", 1);
  std::string run = h.Submit(R"(
steps:
  evaluate:
    run: echo
    outputs: [metrics.json]
    metrics: metrics.json
    gate: accuracy >= 0.9
  deploy:
    needs: [evaluate]
    run: echo deploy
    cache: false
)");
  REQUIRE(h.dispatched.size() == 1);
  CHECK(h.dispatched[0].step == "evaluate");
  h.Finish(h.dispatched[0], 0, {{"metrics.json", R"({"accuracy": 0.95})"}});
  REQUIRE(h.dispatched.size() == 2);
  CHECK(h.dispatched[1].step == "deploy");
  CHECK_FALSE(h.dispatched[1].after_attempt.has_value());
  CHECK(h.Step(run, "deploy").state == StepState::kDispatched);
}

TEST_CASE(
    "SpeculationTest.AStepTheCacheMaySkipGoesAheadOnlyUnlessItsUpstreamMakesWhatItWasCachedFrom") {
  // Early cut-off: when a runs again but makes the same bytes, b is a cache
  // hit and must not run at all, not even briefly. b is still sent ahead,
  // with what a made for its cached result: the worker drops it unstarted
  // if a makes that again, and the scheduler, seeing the same, does not
  // count it as started.
  Harness h(Speculating());
  h.AddWorker("w1", 1);
  h.RunChainOnce();
  Result<std::string> made_a =
      UpstreamManifest({"a.txt"}, {{"a.txt", HashBytes("A").ToHex(), 1, false}});
  REQUIRE(made_a.ok());

  size_t before = h.dispatched.size();
  std::string same = h.Submit(kChain, {{"in.txt", "changed"}});
  REQUIRE(h.dispatched.size() == before + 2);
  CheckSpeculative(h.dispatched.back(), "b", h.dispatched[before].attempt_id);
  CHECK(h.dispatched.back().unless_upstream_made == std::vector<std::string>{*made_a});
  h.Finish(h.dispatched[before], 0, {{"a.txt", "A"}});
  CHECK(h.dispatched.size() == before + 2);
  CHECK(h.kills.empty());  // the worker dropped it by itself
  CHECK(h.Step(same, "b").state == StepState::kCached);
  CHECK(h.Step(same, "b").attempts.empty());
  CHECK(h.core.pool().workers().at("w1").used_slots == 0);

  // a makes something new: b cannot be a hit and counts as dispatched.
  before = h.dispatched.size();
  std::string other = h.Submit(kChain, {{"in.txt", "changed again"}});
  REQUIRE(h.dispatched.size() == before + 2);
  CHECK(h.dispatched.back().unless_upstream_made == std::vector<std::string>{*made_a});
  h.Finish(h.dispatched[before], 0, {{"a.txt", "A2"}});
  CHECK(h.dispatched.size() == before + 2);
  CHECK(h.Step(other, "b").state == StepState::kDispatched);
  CHECK(h.Step(other, "b").attempts.at(0).attempt_id == h.dispatched.back().attempt_id);
}

TEST_CASE("SpeculationTest.NothingGoesAheadWhenTheCacheCannotTellWhatASkipTakes") {
  // A store with cache entries from before families cannot tell: no step
  // that may be cached is sent ahead; one that may not be still is.
  Harness h(Speculating());
  h.AddWorker("w1", 1);
  h.oracle.families_unknown = true;
  h.Submit(kChain, {{"in.txt", "hello"}});
  REQUIRE(h.dispatched.size() == 1);
  h.Finish(h.dispatched[0], 0, {{"a.txt", "A"}});
  REQUIRE(h.dispatched.size() == 2);
  CHECK_FALSE(h.dispatched[1].after_attempt.has_value());
  h.Finish(h.dispatched[1], 0, {{"b.txt", "B"}});

  h.Submit(kChain, {{"in.txt", "again"}}, /*no_cache=*/true);
  REQUIRE(h.dispatched.size() == 4);
  CheckSpeculative(h.dispatched[3], "b", h.dispatched[2].attempt_id);
  CHECK_FALSE(h.dispatched[3].unless_upstream_made.has_value());
}

TEST_CASE("SpeculationTest.AStepThatTurnsOutCachedIsWithdrawn") {
  // Should the cache hold a result the families do not list (here the fake
  // forgets them), a step sent ahead that a's result makes a cache hit is
  // withdrawn with KillAttempt and never recorded as dispatched.
  Harness h(Speculating());
  h.AddWorker("w1", 1);
  h.RunChainOnce();
  h.oracle.families.clear();
  size_t before = h.dispatched.size();

  std::string second = h.Submit(kChain, {{"in.txt", "changed"}});
  REQUIRE(h.dispatched.size() == before + 2);
  CheckSpeculative(h.dispatched.back(), "b", h.dispatched[before].attempt_id);
  CHECK_FALSE(h.dispatched.back().unless_upstream_made.has_value());
  h.Finish(h.dispatched[before], 0, {{"a.txt", "A"}});
  REQUIRE(h.kills.size() == 1);
  CHECK(h.kills[0].attempt_id == h.dispatched.back().attempt_id);
  CHECK(h.Step(second, "b").state == StepState::kCached);
  CHECK(h.Step(second, "b").attempts.empty());
  CHECK(h.core.FindRun(second)->record().state == RunState::kSucceeded);
  CHECK(h.core.pool().workers().at("w1").used_slots == 0);
}

TEST_CASE("SpeculationTest.AWorkerRegisteringAgainLearnsItsSpeculationsAreStale") {
  Harness h(Speculating());
  h.AddWorker("w1", 1);
  std::string run = h.Submit(kChain, {{"in.txt", "hello"}});
  REQUIRE(h.dispatched.size() == 2);
  protocol::Register again = Harness::WorkerRegister("w1", 1);
  again.running_attempt_ids = {h.dispatched[0].attempt_id, h.dispatched[1].attempt_id};
  protocol::RegisterAck ack = h.core.Register(again, ++h.now);
  h.Drain();
  CHECK(ack.stale_attempt_ids == std::vector<std::string>{h.dispatched[1].attempt_id});
  // Sent ahead again under a new id (the old one is stale there), and
  // recorded once a succeeds.
  REQUIRE(h.dispatched.size() == 3);
  CheckSpeculative(h.dispatched[2], "b", h.dispatched[0].attempt_id);
  h.Finish(h.dispatched[0], 0, {{"a.txt", "A"}});
  CHECK(h.Step(run, "b").state == StepState::kDispatched);
  CHECK(h.core.pool().workers().at("w1").used_slots == 1);
}

TEST_CASE("SpeculationTest.OnlyStepsWaitingOnOneRunningStepGoAhead") {
  // c needs a and b: while both run, c waits; once a is done, c waits on b
  // alone and goes to b's worker.
  Harness h(Speculating());
  h.AddWorker("w1", 1);
  h.AddWorker("w2", 1);
  std::string run = h.Submit(kJoinOfTwo,
                             {{"in.txt", "hello"}});
  REQUIRE(h.dispatched.size() == 2);
  protocol::Dispatch a = h.dispatched[0].step == "a" ? h.dispatched[0] : h.dispatched[1];
  protocol::Dispatch b = h.dispatched[0].step == "a" ? h.dispatched[1] : h.dispatched[0];
  std::string b_worker = h.WorkerOf(b.attempt_id);
  h.Finish(a, 0, {{"a.txt", "A"}});
  REQUIRE(h.dispatched.size() == 3);
  CheckSpeculative(h.dispatched[2], "c", b.attempt_id);
  CHECK(h.WorkerOf(h.dispatched[2].attempt_id) == b_worker);
  // a's output is known: it goes as a file; b's by path.
  REQUIRE(h.dispatched[2].inputs.size() == 2);
  CHECK(h.dispatched[2].inputs[0].path == "a.txt");
  CHECK(h.dispatched[2].inputs[0].digest == HashBytes("A").ToHex());
  CHECK(h.dispatched[2].inputs[1].path == "b.txt");
  CHECK(h.dispatched[2].inputs[1].kind == protocol::kInputKindUpstream);
  h.Finish(b, 0, {{"b.txt", "B"}});
  CHECK(h.Step(run, "c").state == StepState::kDispatched);
}

TEST_CASE("SpeculationTest.AWorkerThatDoesNotSayItTakesThemGetsNone") {
  // A worker of an older build would refuse an input of kind "upstream".
  Harness h(Speculating());
  protocol::Register old = Harness::WorkerRegister("w1", 1);
  old.features.reset();
  h.core.Register(old, h.now);
  h.Drain();
  std::string run = h.Submit(kChain, {{"in.txt", "hello"}});
  REQUIRE(h.dispatched.size() == 1);
  h.Finish(h.dispatched[0], 0, {{"a.txt", "A"}});
  REQUIRE(h.dispatched.size() == 2);
  CHECK_FALSE(h.dispatched[1].after_attempt.has_value());
  CHECK(h.dispatched[1].inputs.at(0).kind == protocol::kInputKindFile);
}

TEST_CASE("SpeculationTest.AResultCachedWhenItsInputCameFromTheWorkspaceStillStopsIt") {
  // DAGs change: v1 reads a.txt from the workspace and caches b; v2 makes
  // the same a.txt with step a. b's cache key is the same, so b is a cache
  // hit in v2 when a makes those bytes: it must not start.
  Harness h(Speculating());
  h.AddWorker("w1", 1);
  std::string v1 = h.Submit(R"(
steps:
  b: {run: cat a.txt > b.txt, inputs: [a.txt], outputs: [b.txt]}
)",
                            {{"a.txt", "A"}});
  h.Finish(h.LastDispatchOf("b"), 0, {{"b.txt", "B"}});
  REQUIRE(h.core.FindRun(v1)->record().state == RunState::kSucceeded);

  std::string v2 = h.Submit(kChain, {{"in.txt", "hello"}});
  protocol::Dispatch b = h.LastDispatchOf("b");
  REQUIRE(b.after_attempt.has_value());
  Result<std::string> made_a =
      UpstreamManifest({"a.txt"}, {{"a.txt", HashBytes("A").ToHex(), 1, false}});
  CHECK(b.unless_upstream_made == std::vector<std::string>{*made_a});
  h.Finish(h.LastDispatchOf("a"), 0, {{"a.txt", "A"}});
  CHECK(h.kills.empty());
  CHECK(h.Step(v2, "b").state == StepState::kCached);
  CHECK(h.Step(v2, "b").cached_from_run == v1);
}

TEST_CASE("SpeculationTest.AStepWaitingOnAnotherStepAgainIsWithdrawn") {
  // c waits on a alone (b done) and goes ahead; b's output then fails its
  // digest check and b must run again: c waits on two steps again.
  Harness h(Speculating());
  h.AddWorker("w1", 1);
  std::string run = h.Submit(kJoinOfTwo,
                             {{"in.txt", "hello"}});
  h.Finish(h.LastDispatchOf("b"), 0, {{"b.txt", "B"}});
  protocol::Dispatch c = h.LastDispatchOf("c");
  REQUIRE(c.after_attempt == h.LastDispatchOf("a").attempt_id);
  h.oracle.blobs.erase(HashBytes("B").ToHex());  // dropped, as the server does
  h.core.OnBlobCorrupt(HashBytes("B").ToHex(), ++h.now);
  h.Drain();
  REQUIRE(h.kills.size() == 1);
  CHECK(h.kills[0].attempt_id == c.attempt_id);
  CHECK(h.kills[0].reason.find("waits on another step again") != std::string::npos);
  CHECK(h.Step(run, "c").attempts.empty());
}

TEST_CASE("SpeculationTest.NothingGoesAheadWhileAnotherRunIsUnfinished") {
  // Another run's result could enter the cache after the step went ahead.
  Harness h(Speculating());
  h.AddWorker("w1", 1);
  h.AddWorker("w2", 1);
  h.Submit(R"(
steps:
  long: {run: sleep 100, outputs: [x.txt]}
)");
  size_t before = h.dispatched.size();
  h.Submit(kChain, {{"in.txt", "hello"}});
  REQUIRE(h.dispatched.size() == before + 1);
  CHECK(h.dispatched.back().step == "a");
}

}  // namespace receta::scheduler
