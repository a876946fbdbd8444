// AlertDocument: the JSON an alert's webhooks and commands receive, read
// back with ParseJson the way a receiving script would.
#include "scheduler/alert_document.h"

#include <doctest/doctest.h>

#include <string>

#include "common/json/json_value.h"
#include "common/lang/utf8.h"

using receta::JsonValue;
using receta::ParseJson;
using namespace receta::scheduler;

namespace {

Alert StepFailure() {
  Alert alert;
  alert.id = 7;
  alert.event = "failure";
  alert.run_id = "r-12";
  alert.dag_name = "iris";
  alert.step = "train";
  alert.attempt_id = "r-12/train/2";
  alert.attempt_number = 2;
  alert.worker_name = "gpu-1";
  alert.state = "failed";
  alert.error = "exited with code 1";
  alert.time_ms = 1714566896789;  // 2024-05-01T12:34:56.789Z
  alert.log_tail = {"epoch 3: loss 0.2", "Traceback (most recent call last):", "ValueError: bad",
                    ""};
  alert.sinks.resize(1);
  alert.sinks[0].webhook = "http://127.0.0.1:9000/hook";
  return alert;
}

JsonValue Parse(const std::string& document) {
  auto parsed = ParseJson(document);
  REQUIRE_MESSAGE(parsed.ok(), parsed.error() << "\n" << document);
  return *parsed;
}

}  // namespace

TEST_CASE("AlertDocumentTest.HasEveryFieldInOrder") {
  const Alert alert = StepFailure();
  const JsonValue doc = Parse(AlertDocument(alert));
  CHECK(doc["text"].AsString() ==
        ":x: receta: step train of run r-12 (dag iris) failed: exited with code 1 — see `receta "
        "logs r-12 train --attempt 2`\n> ValueError: bad");
  CHECK(doc["event"].AsString() == "failure");
  CHECK(doc["run"].AsString() == "r-12");
  CHECK(doc["dag"].AsString() == "iris");
  CHECK(doc["step"].AsString() == "train");
  CHECK(doc["attempt"].AsString() == "r-12/train/2");
  CHECK(doc["attempt_number"].AsInt(-1) == 2);
  CHECK(doc["worker"].AsString() == "gpu-1");
  CHECK(doc["state"].AsString() == "failed");
  CHECK(doc["error"].AsString() == "exited with code 1");
  CHECK(doc["time"].AsString() == "2024-05-01T12:34:56.789Z");
  REQUIRE(doc["log_tail"].size() == 4);
  for (size_t i = 0; i < alert.log_tail.size(); ++i)
    CHECK(doc["log_tail"][i].AsString() == alert.log_tail[i]);
  CHECK(doc["see_more"].AsString() == "receta logs r-12 train --attempt 2");

  std::string keys;
  for (const auto& member : doc.Members()) keys += member.key + " ";
  CHECK(
      keys ==
      "text event run dag step attempt attempt_number worker state error time log_tail see_more ");
}

TEST_CASE("AlertDocumentTest.EscapesQuotesNewlinesAndControlBytes") {
  Alert alert = StepFailure();
  alert.error = "bad \"quote\" and back\\slash\nsecond line\ttab \x01\x1f\x7f end";
  alert.log_tail = {"\x1b[31mred\x1b[0m", "carriage\rreturn", "nul \x00 inside", "{\"json\": [1]}"};
  alert.log_tail[2] = std::string("nul \0 inside", 12);
  const std::string document = AlertDocument(alert);
  // Why: a raw control byte would make the document invalid JSON; the
  // writer's own newlines (indentation) are the only ones allowed.
  for (char c : document) CHECK((static_cast<unsigned char>(c) >= 0x20 || c == '\n'));
  const JsonValue doc = Parse(document);
  CHECK(doc["error"].AsString() == alert.error);
  REQUIRE(doc["log_tail"].size() == alert.log_tail.size());
  for (size_t i = 0; i < alert.log_tail.size(); ++i)
    CHECK(doc["log_tail"][i].AsString() == alert.log_tail[i]);
  // The summary takes the error's first line, control bytes as spaces.
  CHECK(doc["text"].AsString().find("failed: bad \"quote\" and back\\slash — see") !=
        std::string::npos);
}

TEST_CASE("AlertDocumentTest.ReplacesInvalidUtf8") {
  Alert alert = StepFailure();
  alert.error = "bad \xFF byte, caf\xC3\xA9 stays";
  alert.log_tail = {"cut \xE2\x82", "\xC0\xAF overlong"};
  alert.worker_name = "w\xFE";
  const std::string document = AlertDocument(alert);
  CHECK(receta::ValidUtf8(document) == document);
  const JsonValue doc = Parse(document);
  CHECK(doc["error"].AsString() == "bad \xEF\xBF\xBD byte, caf\xC3\xA9 stays");
  CHECK(doc["log_tail"][0].AsString() == "cut \xEF\xBF\xBD");
  CHECK(doc["log_tail"][1].AsString() == "\xEF\xBF\xBD\xEF\xBF\xBD overlong");
  CHECK(doc["worker"].AsString() == "w\xEF\xBF\xBD");
}

TEST_CASE("AlertDocumentTest.RunAlertPointsAtStatus") {
  Alert alert;
  alert.event = "success";
  alert.run_id = "r-3";
  alert.dag_name = "iris";
  alert.state = "succeeded";
  const JsonValue doc = Parse(AlertDocument(alert));
  CHECK(doc["text"].AsString() ==
        ":white_check_mark: receta: run r-3 (dag iris) succeeded — see `receta status r-3`");
  CHECK(doc["see_more"].AsString() == "receta status r-3");
  CHECK(doc["step"].AsString() == "");
  CHECK(doc["attempt_number"].AsInt(-1) == 0);
  CHECK(doc["log_tail"].is_array());
  CHECK(doc["log_tail"].size() == 0);
  CHECK(doc["time"].AsString() == "1970-01-01T00:00:00.000Z");
}

TEST_CASE("AlertDocumentTest.TextSaysWhatHappenedForEachEvent") {
  Alert alert = StepFailure();
  alert.log_tail.clear();
  alert.error.clear();
  auto text = [&](const std::string& event) {
    alert.event = event;
    return AlertText(alert);
  };
  const std::string see = " — see `receta logs r-12 train --attempt 2`";
  CHECK(text("failure") == ":x: receta: step train of run r-12 (dag iris) failed" + see);
  CHECK(
      text("retry") ==
      ":repeat: receta: attempt 2 of step train of run r-12 (dag iris) failed and will be retried" +
          see);
  CHECK(text("gate_failed") ==
        ":no_entry: receta: the gate of step train of run r-12 (dag iris) failed" + see);
  CHECK(text("timeout") == ":hourglass: receta: step train of run r-12 (dag iris) timed out" + see);
  CHECK(text("worker_lost") ==
        ":warning: receta: step train of run r-12 (dag iris) lost its worker gpu-1" + see);
  CHECK(text("something_new") ==
        ":bell: receta: step train of run r-12 (dag iris): something_new" + see);
}

TEST_CASE("AlertDocumentTest.TextIsSafeForSlack") {
  Alert alert = StepFailure();
  alert.error = "\n  <!channel> a & b > c\nmore";
  alert.log_tail = {"<@U123> ping"};
  const std::string text = AlertText(alert);
  CHECK(text.find("failed: &lt;!channel&gt; a &amp; b &gt; c — see") != std::string::npos);
  CHECK(text.find("\n> &lt;@U123&gt; ping") != std::string::npos);
  CHECK(text.find('<') == std::string::npos);

  alert.error = std::string(1000, 'x');
  const std::string long_text = AlertText(alert);
  CHECK(long_text.find(std::string(300, 'x') + "… — see") != std::string::npos);
  CHECK(long_text.find(std::string(301, 'x')) == std::string::npos);
}

TEST_CASE("AlertDocumentTest.SeeMoreQuotesUnusualNames") {
  Alert alert = StepFailure();
  alert.step = "my step's";
  alert.attempt_number = 0;
  CHECK(AlertSeeMore(alert) == "receta logs r-12 'my step'\\''s'");
}
