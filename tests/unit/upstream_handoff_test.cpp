// UpstreamHandoff: the rendezvous where a speculative attempt, started
// ahead, waits for its upstream attempt's result, which the upstream's own
// thread (and later the agent) delivers. Which attempts get which result,
// when a waiter returns, and that it never blocks on an attempt no one
// registered.
#include "worker/upstream_handoff.h"

#include <doctest/doctest.h>

#include <atomic>
#include <optional>
#include <string>
#include <thread>

namespace protocol = receta::protocol;
using receta::worker::UpstreamHandoff;

namespace {

protocol::AttemptFinished Result(const std::string& attempt_id, int exit_code,
                                 const std::string& output_digest) {
  protocol::AttemptFinished f;
  f.attempt_id = attempt_id;
  f.exit_code = exit_code;
  f.outputs = {{"out/model.bin", output_digest, 1, false}};
  f.inline_blobs = std::vector<protocol::InlineBlob>{{output_digest, "w"}};
  return f;
}

auto Never = [] { return false; };
auto Always = [] { return true; };

}  // namespace

TEST_CASE("UpstreamHandoffTest.EachWaiterGetsItsOwnUpstreamsFirstResultWithoutInlineBytes") {
  UpstreamHandoff handoff;
  handoff.Expect("r.1s1-1", "r.0-1");
  handoff.Expect("q.1s2-1", "q.0-1");
  handoff.Deliver(Result("r.0-1", 0, "aa"));
  // The agent delivers the same attempt's result again later; a retry of
  // the upstream is another attempt id: neither replaces what was given.
  handoff.Deliver(Result("r.0-1", 0, "bb"));

  std::optional<protocol::AttemptFinished> got = handoff.AwaitSuccess("r.1s1-1", Never);
  REQUIRE(got);
  CHECK(got->attempt_id == "r.0-1");
  REQUIRE(got->outputs.size() == 1);
  CHECK(got->outputs[0].digest == "aa");
  CHECK_FALSE(got->inline_blobs.has_value());
  // q's upstream has not ended: it has no answer (Always: gives up at once).
  CHECK_FALSE(handoff.AwaitSuccess("q.1s2-1", Always));
  CHECK(handoff.waiting() == 2);
  handoff.Forget("r.1s1-1");
  CHECK(handoff.waiting() == 1);
}

TEST_CASE("UpstreamHandoffTest.AWaiterWakesOnTheDeliveryFromAnotherThread") {
  UpstreamHandoff handoff;
  handoff.Expect("r.1s1-1", "r.0-1");
  std::optional<protocol::AttemptFinished> got;
  std::thread waiter([&] { got = handoff.AwaitSuccess("r.1s1-1", Never); });
  handoff.Deliver(Result("r.0-1", 0, "aa"));
  waiter.join();
  REQUIRE(got);
  CHECK(got->outputs[0].digest == "aa");
}

TEST_CASE("UpstreamHandoffTest.AFailedUpstreamIsNoAnswerTheWaiterReturnsOnlyWhenItGivesUp") {
  UpstreamHandoff handoff;
  handoff.Expect("r.1s1-1", "r.0-1");
  std::atomic<bool> killed = false;
  std::optional<protocol::AttemptFinished> got = Result("x", 0, "x");
  std::thread waiter([&] { got = handoff.AwaitSuccess("r.1s1-1", [&] { return killed.load(); }); });
  handoff.Deliver(Result("r.0-1", 3, "aa"));
  killed = true;
  handoff.Wake();
  waiter.join();
  CHECK_FALSE(got);
}

TEST_CASE("UpstreamHandoffTest.AnAttemptNobodyRegisteredDoesNotWait") {
  UpstreamHandoff handoff;
  CHECK_FALSE(handoff.AwaitSuccess("r.1s1-1", Never));
  handoff.Expect("r.1s1-1", "r.0-1");
  handoff.Forget("r.1s1-1");
  CHECK_FALSE(handoff.AwaitSuccess("r.1s1-1", Never));
}
