// The run status document: full, and brief (what `submit --wait` follows a
// run with; small enough for a 100,000-step run).
#include <doctest/doctest.h>

#include "common/json/json_value.h"
#include "scheduler/status_json.h"

using namespace receta;
using namespace receta::scheduler;

namespace {

RunSnapshot TwoAttemptStep() {
  RunSnapshot snapshot;
  snapshot.run.run_id = "r-3";
  snapshot.run.dag_name = "train";
  snapshot.run.step_count = 1;
  StepRecord step;
  step.name = "fit";
  step.state = StepState::kSucceeded;
  step.metrics_json = "{\"accuracy\": 0.9}";
  step.outputs = {{"model.pkl", std::string(64, 'a'), 10, false}};
  AttemptRecord first;
  first.attempt_id = "r-3.0-1";
  first.number = 1;
  first.finished = true;
  first.exit_code = 1;
  first.error = "exited with code 1";
  AttemptRecord second = first;
  second.attempt_id = "r-3.0-2";
  second.number = 2;
  second.exit_code = 0;
  second.error.clear();
  second.started_ms = 1000;
  step.attempts = {first, second};
  snapshot.steps = {step};
  return snapshot;
}

}  // namespace

TEST_CASE("StatusJsonTest.BriefHasWhatAFollowerShowsAndNoMore") {
  RunSnapshot snapshot = TwoAttemptStep();
  Result<JsonValue> full = ParseJson(RunStatusJson(snapshot, 7, 2000));
  REQUIRE(full.ok());
  const JsonValue& step = (*full)["steps"][0];
  CHECK(step["attempt_history"].size() == 2);
  CHECK(step["outputs"].size() == 1);
  CHECK(step["metrics"]["accuracy"].AsNumber() == doctest::Approx(0.9));

  std::string brief_text = RunStatusJson(snapshot, 7, 2000, /*brief=*/true);
  Result<JsonValue> brief = ParseJson(brief_text);
  REQUIRE(brief.ok());
  const JsonValue& brief_step = (*brief)["steps"][0];
  CHECK((*brief)["id"].AsString() == "r-3");
  CHECK((*brief)["state"].AsString() == "running");
  CHECK((*brief)["event_seq"].AsInt() == 7);
  CHECK(brief_step["name"].AsString() == "fit");
  CHECK(brief_step["state"].AsString() == "succeeded");
  CHECK(brief_step["started_ms"].AsInt() == 1000);  // of the latest attempt
  CHECK(brief_step["error"].AsString() == "");
  CHECK_FALSE(brief_step.Has("attempt_history"));
  CHECK_FALSE(brief_step.Has("outputs"));
  CHECK_FALSE(brief_step.Has("metrics"));
  CHECK(brief_text.size() * 3 < RunStatusJson(snapshot, 7, 2000).size());
}

TEST_CASE("StatusJsonTest.ARunTooBigForItsFullStatusGetsTheBriefOneAndWhy") {
  RunSnapshot snapshot = TwoAttemptStep();
  std::string full = RunStatusJson(snapshot, 7, 2000);
  CHECK(RunStatusJsonWithin(snapshot, 7, 2000, full.size()) == full);

  Result<JsonValue> cut = ParseJson(RunStatusJsonWithin(snapshot, 7, 2000, full.size() - 1));
  REQUIRE(cut.ok());
  CHECK((*cut)["brief"].AsBool());
  CHECK((*cut)["brief_because"].AsString().find("its full status (1 steps, ") == 0);
  CHECK((*cut)["brief_because"].AsString().find(") is over the ") != std::string::npos);
  CHECK((*cut)["steps"][0]["name"].AsString() == "fit");
  CHECK_FALSE((*cut)["steps"][0].Has("attempt_history"));
  Result<JsonValue> whole = ParseJson(full);
  REQUIRE(whole.ok());
  CHECK_FALSE(whole->Has("brief"));
  CHECK_FALSE(whole->Has("brief_because"));
}
