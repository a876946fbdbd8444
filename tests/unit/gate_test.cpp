#include "common/lang/gate.h"

#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

using receta::CompareOp;
using receta::EvaluateGate;
using receta::FlattenMetricsJson;
using receta::GateExpr;
using receta::GateMetricNames;
using receta::GateToString;
using receta::ParseGate;
using receta::TextError;

namespace {

GateExpr Gate(const std::string& text) {
  auto result = ParseGate(text);
  REQUIRE_MESSAGE(result.ok(), text << ": " << result.error().message);
  return *result;
}

TextError GateError(const std::string& text) {
  auto result = ParseGate(text);
  REQUIRE_MESSAGE(!result.ok(), text << " parsed as " << GateToString(*result));
  return result.error();
}

/// Canonical text after a parse, to assert on structure compactly.
std::string Canonical(const std::string& text) { return GateToString(Gate(text)); }

std::map<std::string, double> Metrics(const std::string& json) {
  auto result = FlattenMetricsJson(json);
  REQUIRE_MESSAGE(result.ok(), result.error());
  return *result;
}

std::string JsonError(const std::string& json) {
  auto result = FlattenMetricsJson(json);
  REQUIRE(!result.ok());
  return result.error();
}

}  // namespace

TEST_CASE("Gate.ParsesComparison") {
  GateExpr gate = Gate("accuracy >= 0.9");
  CHECK(gate.kind == GateExpr::Kind::kComparison);
  CHECK(gate.comparison.metric == "accuracy");
  CHECK(gate.comparison.op == CompareOp::kGreaterEqual);
  CHECK(gate.comparison.threshold == 0.9);
}

TEST_CASE("Gate.ParsesEveryOperator") {
  CHECK(Gate("a < 1").comparison.op == CompareOp::kLess);
  CHECK(Gate("a <= 1").comparison.op == CompareOp::kLessEqual);
  CHECK(Gate("a > 1").comparison.op == CompareOp::kGreater);
  CHECK(Gate("a >= 1").comparison.op == CompareOp::kGreaterEqual);
  CHECK(Gate("a == 1").comparison.op == CompareOp::kEqual);
  CHECK(Gate("a != 1").comparison.op == CompareOp::kNotEqual);
}

TEST_CASE("Gate.ParsesNumberForms") {
  CHECK(Gate("a > 0.9").comparison.threshold == 0.9);
  CHECK(Gate("a > -1").comparison.threshold == -1);
  CHECK(Gate("a > +2").comparison.threshold == 2);
  CHECK(Gate("a < 1e-3").comparison.threshold == 1e-3);
  CHECK(Gate("a < 2E+2").comparison.threshold == 200);
  CHECK(Gate("a < .5").comparison.threshold == 0.5);
  CHECK(Gate("a < 5.").comparison.threshold == 5);
  CHECK(Gate("a>-1").comparison.threshold == -1);
}

TEST_CASE("Gate.ParsesMetricNames") {
  CHECK(Gate("eval.f1 > 0.8").comparison.metric == "eval.f1");
  CHECK(Gate("f1-score > 0.8").comparison.metric == "f1-score");
  CHECK(Gate("_x.top_5.class-0 > 0.8").comparison.metric == "_x.top_5.class-0");
  CHECK(Gate("per_class.0 > 0.8").comparison.metric == "per_class.0");
  CHECK(Gate("android > 1").comparison.metric == "android");  // starts with "and"
  CHECK(Gate("eval.and > 1").comparison.metric == "eval.and");
}

TEST_CASE("Gate.AndBindsTighterThanOr") {
  GateExpr gate = Gate("a > 1 or b < 2 and c == 3");
  REQUIRE(gate.kind == GateExpr::Kind::kOr);
  REQUIRE(gate.operands.size() == 2);
  CHECK(gate.operands[0].comparison.metric == "a");
  REQUIRE(gate.operands[1].kind == GateExpr::Kind::kAnd);
  CHECK(gate.operands[1].operands[0].comparison.metric == "b");
  CHECK(gate.operands[1].operands[1].comparison.metric == "c");
}

TEST_CASE("Gate.ParenthesesOverridePrecedence") {
  GateExpr gate = Gate("(a > 1 or b < 2) and c == 3");
  REQUIRE(gate.kind == GateExpr::Kind::kAnd);
  CHECK(gate.operands[0].kind == GateExpr::Kind::kOr);
  CHECK(Canonical("(a > 1 or b < 2) and c == 3") == "(a > 1 or b < 2) and c == 3");
  CHECK(Canonical("((a>1))") == "a > 1");
}

TEST_CASE("Gate.MergesChainsOfTheSameOperator") {
  GateExpr gate = Gate("a > 1 and (b > 1 and c > 1) and d > 1");
  REQUIRE(gate.kind == GateExpr::Kind::kAnd);
  CHECK(gate.operands.size() == 4);
  CHECK(Gate("a > 1 or (b > 1 or c > 1)").operands.size() == 3);
}

TEST_CASE("Gate.AcceptsNewlinesAndTabs") {
  CHECK(Canonical("a > 1\n  and\tb < 2") == "a > 1 and b < 2");
}

TEST_CASE("Gate.ToStringIsCanonicalAndRoundTrips") {
  CHECK(Canonical("eval.f1>0.8   and loss<.3") == "eval.f1 > 0.8 and loss < 0.3");
  CHECK(Canonical("a < 1e-3") == "a < 0.001");
  CHECK(Canonical("a > 1 or b < 2 and c == 3") == "a > 1 or b < 2 and c == 3");
  for (const char* text : {"a > 1 or b < 2 and c == 3", "(a > 1 or b < 2) and (c == 3 or d != 4)",
                           "x.y <= -0.000001", "big > 1e300"}) {
    GateExpr gate = Gate(text);
    CHECK(Gate(GateToString(gate)) == gate);
  }
}

TEST_CASE("Gate.ListsMetricNamesOnceInOrder") {
  CHECK(GateMetricNames(Gate("loss < 1 and (acc > 0.9 or loss < 0.1) and f1 > 0")) ==
        std::vector<std::string>{"loss", "acc", "f1"});
}

TEST_CASE("Gate.RejectsMissingOperator") {
  CHECK(
      GateError("accuracy 0.9") ==
      TextError{
          9, "expected a comparison operator (<, <=, >, >=, ==, !=) after 'accuracy', got '0.9'"});
  CHECK(GateError("accuracy") ==
        TextError{8, "expected a comparison operator (<, <=, >, >=, ==, !=) after 'accuracy'"});
}

TEST_CASE("Gate.RejectsMissingNumber") {
  CHECK(GateError("accuracy >= high") == TextError{12, "expected a number after '>=', got 'high'"});
  CHECK(GateError("accuracy >=") == TextError{11, "expected a number after '>='"});
  CHECK(GateError("a > (1)") == TextError{4, "expected a number after '>', got '('"});
}

TEST_CASE("Gate.RejectsDanglingAndOr") {
  CHECK(GateError("a > 1 and") ==
        TextError{6,
                  "unexpected 'and' at end of expression; add a comparison after it or remove it"});
  CHECK(
      GateError("a > 1 or  ") ==
      TextError{6, "unexpected 'or' at end of expression; add a comparison after it or remove it"});
  CHECK(GateError("and a > 1") ==
        TextError{0, "expected a metric name or '(' at the start of the gate, got 'and'"});
  CHECK(GateError("a > 1 and and b > 1") ==
        TextError{10, "expected a metric name or '(' after 'and', got 'and'"});
  CHECK(GateError("(a > 1 and)") ==
        TextError{10, "expected a metric name or '(' after 'and', got ')'"});
}

TEST_CASE("Gate.RejectsUnbalancedParenthesis") {
  CHECK(GateError("(a > 1") ==
        TextError{0, "unbalanced parenthesis: this '(' is never closed; add ')'"});
  CHECK(GateError("b > 2 and ((a > 1)") ==
        TextError{10, "unbalanced parenthesis: this '(' is never closed; add ')'"});
  CHECK(GateError("(") ==
        TextError{0, "unbalanced parenthesis: this '(' is never closed; add ')'"});
  CHECK(GateError("a > 1)") ==
        TextError{5, "unbalanced parenthesis: this ')' has no matching '('; remove it"});
  CHECK(GateError("()") ==
        TextError{
            1, "empty parentheses; put a comparison inside, e.g. accuracy >= 0.9 and loss < 0.3"});
  CHECK(GateError("(a > 1 b > 2)") ==
        TextError{7, "expected 'and', 'or' or ')' after '1', got 'b'"});
}

TEST_CASE("Gate.SuggestsTheRightOperator") {
  CHECK(GateError("a = 1") ==
        TextError{2, "'=' is not a comparison operator; use '==' to test equality"});
  CHECK(GateError("a => 1") == TextError{2, "'=>' is not a gate operator; use '>='"});
  CHECK(GateError("a =< 1") == TextError{2, "'=<' is not a gate operator; use '<='"});
  CHECK(GateError("a <> 1") == TextError{2, "'<>' is not a gate operator; use '!='"});
  CHECK(GateError("a ! 1") == TextError{2, "'!' is not a gate operator; use '!='"});
  CHECK(GateError("a > 1 && b < 2") == TextError{6, "'&&' is not a gate operator; use 'and'"});
  CHECK(GateError("a > 1 || b < 2") == TextError{6, "'||' is not a gate operator; use 'or'"});
  CHECK(GateError("a > 1 AND b < 2") == TextError{6,
                                                  "expected 'and', 'or' or the end of the gate "
                                                  "after '1', got 'AND' (write 'and' and 'or' in "
                                                  "lowercase)"});
  CHECK(GateError("not a > 1") == TextError{0,
                                            "'not' is not supported; invert the comparison "
                                            "instead, e.g. accuracy < 0.9 rather than not "
                                            "accuracy >= 0.9"});
}

TEST_CASE("Gate.RejectsBadTokens") {
  CHECK(GateError("") ==
        TextError{0, "empty gate; write a comparison, e.g. accuracy >= 0.9 and loss < 0.3"});
  CHECK(GateError("   ") ==
        TextError{0, "empty gate; write a comparison, e.g. accuracy >= 0.9 and loss < 0.3"});
  CHECK(GateError("0.9 <= a") ==
        TextError{
            0, "expected a metric name, got '0.9'; write the metric first, e.g. accuracy >= 0.9"});
  CHECK(GateError("a > 1.2.3") ==
        TextError{4, "'1.2.3' is not a number; write numbers like 0.9, -1, 1e-3 or .5"});
  CHECK(GateError("a > 1e") ==
        TextError{4, "'1e' is not a number; write numbers like 0.9, -1, 1e-3 or .5"});
  CHECK(GateError("a > -inf") ==
        TextError{4, "'-inf' is not a number; write numbers like 0.9, -1, 1e-3 or .5"});
  CHECK(GateError("a > 90%") ==
        TextError{6,
                  "unexpected character '%'; a gate compares metrics with numbers, e.g. "
                  "accuracy >= 0.9 and loss < 0.3"});
  CHECK(GateError("a > 1e999") == TextError{4, "number '1e999' is out of range"});
  CHECK(
      GateError("eval. > 1") ==
      TextError{4, "metric name 'eval.' ends with '.'; write the full dotted name, e.g. eval.f1"});
  CHECK(GateError("a > 1 b > 2") ==
        TextError{6, "expected 'and', 'or' or the end of the gate after '1', got 'b'"});
}

TEST_CASE("Gate.LimitsNesting") {
  const std::string deep = std::string(65, '(') + "a > 1" + std::string(65, ')');
  CHECK(GateError(deep) == TextError{64, "parentheses nest more than 64 deep; simplify the gate"});
  const std::string ok = std::string(64, '(') + "a > 1" + std::string(64, ')');
  CHECK(Canonical(ok) == "a > 1");
}

TEST_CASE("GateEval.ExplainsSingleComparison") {
  auto failed = EvaluateGate(Gate("accuracy >= 0.9"), {{"accuracy", 0.8667}});
  REQUIRE(failed.ok());
  CHECK_FALSE(failed->passed);
  CHECK(failed->explanation == "accuracy >= 0.9 failed: accuracy = 0.8667");
  auto passed = EvaluateGate(Gate("accuracy >= 0.9"), {{"accuracy", 0.9}});
  REQUIRE(passed.ok());
  CHECK(passed->passed);
  CHECK(passed->explanation == "accuracy >= 0.9 passed: accuracy = 0.9");
}

TEST_CASE("GateEval.ExplainsEveryComparison") {
  auto outcome =
      EvaluateGate(Gate("eval.f1 > 0.8 and loss < 0.3"), {{"eval.f1", 0.85}, {"loss", 0.41}});
  REQUIRE(outcome.ok());
  CHECK_FALSE(outcome->passed);
  CHECK(outcome->explanation ==
        "eval.f1 > 0.8 and loss < 0.3 failed: eval.f1 = 0.85 (> 0.8 holds), loss = 0.41 (< 0.3 "
        "fails)");
}

TEST_CASE("GateEval.AndBindsTighterThanOr") {
  const GateExpr gate = Gate("a > 1 or b < 2 and c == 3");
  CHECK(EvaluateGate(gate, {{"a", 5}, {"b", 9}, {"c", 9}})->passed);
  CHECK(EvaluateGate(gate, {{"a", 0}, {"b", 1}, {"c", 3}})->passed);
  CHECK_FALSE(EvaluateGate(gate, {{"a", 0}, {"b", 1}, {"c", 4}})->passed);
  CHECK_FALSE(
      EvaluateGate(Gate("(a > 1 or b < 2) and c == 3"), {{"a", 5}, {"b", 9}, {"c", 9}})->passed);
}

TEST_CASE("GateEval.EveryOperator") {
  const std::map<std::string, double> m = {{"x", 2}};
  CHECK(EvaluateGate(Gate("x < 3"), m)->passed);
  CHECK_FALSE(EvaluateGate(Gate("x < 2"), m)->passed);
  CHECK(EvaluateGate(Gate("x <= 2"), m)->passed);
  CHECK(EvaluateGate(Gate("x > 1"), m)->passed);
  CHECK_FALSE(EvaluateGate(Gate("x > 2"), m)->passed);
  CHECK(EvaluateGate(Gate("x >= 2"), m)->passed);
  CHECK(EvaluateGate(Gate("x == 2"), m)->passed);
  CHECK(EvaluateGate(Gate("x != 3"), m)->passed);
  CHECK_FALSE(EvaluateGate(Gate("x != 2"), m)->passed);
}

TEST_CASE("GateEval.NaNFailsEveryComparison") {
  const std::map<std::string, double> m = {{"loss", std::nan("")}};
  auto outcome = EvaluateGate(Gate("loss != 1"), m);
  REQUIRE(outcome.ok());
  CHECK_FALSE(outcome->passed);
  CHECK(outcome->explanation == "loss != 1 failed: loss = NaN (not a number)");
  CHECK_FALSE(EvaluateGate(Gate("loss < 1 or loss >= 1"), m)->passed);
}

TEST_CASE("GateEval.NamesMissingMetric") {
  auto result = EvaluateGate(Gate("accuracy >= 0.9"), {{"acuracy", 0.95}, {"loss", 0.1}});
  REQUIRE_FALSE(result.ok());
  CHECK(result.error() ==
        "gate 'accuracy >= 0.9' needs metric 'accuracy' (did you mean 'acuracy'?), which the "
        "metrics file does not "
        "have; available metrics: acuracy, loss; fix the gate or make the step write it");
  auto several = EvaluateGate(Gate("a > 1 and b > 1 and c > 1"), {{"c", 2}});
  REQUIRE_FALSE(several.ok());
  CHECK(several.error() ==
        "gate 'a > 1 and b > 1 and c > 1' needs metrics 'a', 'b', which the metrics file does not "
        "have; "
        "available metrics: c; fix the gate or make the step write them");
  auto none = EvaluateGate(Gate("a > 1"), {});
  REQUIRE_FALSE(none.ok());
  CHECK(none.error() ==
        "gate 'a > 1' needs metric 'a', which the metrics file does not have; the metrics file has "
        "no numeric "
        "values; fix the gate or make the step write it");
}

TEST_CASE("GateEval.ListsAtMostTwentyAvailableMetrics") {
  std::map<std::string, double> m;
  for (int i = 0; i < 25; ++i) m["m" + std::to_string(100 + i)] = i;
  auto result = EvaluateGate(Gate("zzz > 1"), m);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().find("m119 and 5 more;") != std::string::npos);
}

TEST_CASE("MetricsJson.FlattensNestedObjects") {
  const auto m =
      Metrics(R"({"accuracy": 0.93, "eval": {"f1": 0.8, "per_class": {"0": 1e-3}}, "n": -2})");
  CHECK(m == std::map<std::string, double>{
                 {"accuracy", 0.93}, {"eval.f1", 0.8}, {"eval.per_class.0", 1e-3}, {"n", -2}});
}

TEST_CASE("MetricsJson.KeepsBooleansDropsTheRest") {
  const auto m = Metrics(
      R"({"ok": true, "bad": false, "name": "rf", "none": null, "curve": [1, 2, {"x": 3}], "empty": {}})");
  CHECK(m == std::map<std::string, double>{{"ok", 1}, {"bad", 0}});
}

TEST_CASE("MetricsJson.AcceptsPythonNonFiniteNumbers") {
  const auto m = Metrics(R"({"a": NaN, "b": Infinity, "c": -Infinity})");
  CHECK(std::isnan(m.at("a")));
  CHECK(m.at("b") == HUGE_VAL);
  CHECK(m.at("c") == -HUGE_VAL);
}

TEST_CASE("MetricsJson.DecodesEscapesInKeys") {
  const auto m = Metrics(R"({"a\"b\\c\/\u00e9\ud83d\ude00\n": 1})");
  CHECK(m.count("a\"b\\c/\xC3\xA9\xF0\x9F\x98\x80\n") == 1);
}

TEST_CASE("MetricsJson.RejectsMalformedDocuments") {
  const std::string at = "invalid metrics JSON at ";
  CHECK(
      JsonError("") ==
      at + "line 1, column 1: the document is empty; write an object such as {\"accuracy\": 0.93}");
  CHECK(JsonError("[1]") == at + "line 1, column 1: the top level must be an object such as "
                                 "{\"accuracy\": 0.93}, got '['");
  CHECK(JsonError("{\"a\": 1,}") == at + "line 1, column 9: expected a key in double quotes, got "
                                         "'}' (JSON allows no comma before '}')");
  CHECK(JsonError("{'a': 1}") == at + "line 1, column 2: expected a key in double quotes, got ''' "
                                      "(JSON strings use double quotes)");
  CHECK(JsonError("{\"a\" 1}") ==
        at + "line 1, column 6: expected ':' after the key \"a\", got '1'");
  CHECK(JsonError("{\n  \"a\": 1\n  \"b\": 2\n}") ==
        at + "line 3, column 3: expected ',' or '}' after the value of \"a\", got '\"'");
  CHECK(JsonError("{\"a\": 1") == at + "line 1, column 8: expected ',' or '}' after the value of "
                                       "\"a\", got the end of the document");
  CHECK(JsonError("{\"a\": 1} x") ==
        at + "line 1, column 10: unexpected 'x' after the end of the document");
  CHECK(JsonError("{\"a\": [1,]}") ==
        at + "line 1, column 10: expected a value, got ']' (JSON allows no comma "
             "before ']')");
  CHECK(JsonError("{\"a\": [1 2]}") ==
        at + "line 1, column 10: expected ',' or ']' in an array, got '2'");
  CHECK(JsonError("{\"a\": tru}") == at + "line 1, column 7: expected a value (object, array, "
                                          "string, number, true, false or null), got 't'");
  CHECK(JsonError("{\"a\": 'x'}") ==
        at + "line 1, column 7: expected a value, got ''' (JSON strings use double quotes)");
}

TEST_CASE("MetricsJson.RejectsBadNumbers") {
  const std::string at = "invalid metrics JSON at line 1, column 7: ";
  const std::string forms = "; JSON numbers look like 12, -0.5 or 1e-3";
  CHECK(JsonError("{\"a\": 01}") == at + "invalid number '01'" + forms);
  CHECK(JsonError("{\"a\": 1.}") == at + "invalid number '1.'" + forms);
  CHECK(JsonError("{\"a\": -}") == at + "invalid number '-'" + forms);
  CHECK(JsonError("{\"a\": 1e}") == at + "invalid number '1e'" + forms);
  CHECK(JsonError("{\"a\": 1.2.3}") == at + "invalid number '1.2.3'" + forms);
  CHECK(JsonError("{\"a\": .5}") ==
        at + "expected a value (object, array, string, number, true, false or null), got '.'");
  CHECK(JsonError("{\"a\": 1e999}") == at + "number '1e999' is out of range");
}

TEST_CASE("MetricsJson.RejectsBadStrings") {
  const std::string at = "invalid metrics JSON at ";
  CHECK(JsonError("{\"a") == at + "line 1, column 2: unterminated string; close it with '\"'");
  CHECK(JsonError("{\"a\nb\": 1}") == at + "line 1, column 4: control character in a string; "
                                           "escape it (e.g. \\n) or close the string with '\"'");
  CHECK(
      JsonError(R"({"a\x": 1})") ==
      at +
          R"(line 1, column 4: invalid escape '\x'; use \", \\, \/, \b, \f, \n, \r, \t or \uXXXX)");
  CHECK(JsonError(R"({"\u12G4": 1})") ==
        at + R"(line 1, column 3: invalid \u escape; write \u and four hex digits)");
  CHECK(JsonError(R"({"\ud800": 1})") ==
        at + R"(line 1, column 3: \u escape is a high surrogate without a low surrogate after it)");
  CHECK(
      JsonError(R"({"\udc00": 1})") ==
      at + R"(line 1, column 3: \u escape is a lone low surrogate; pair it with a high surrogate)");
}

TEST_CASE("MetricsJson.RejectsDuplicateMetric") {
  CHECK(JsonError(R"({"a.b": 1, "a": {"b": 2}})") ==
        "invalid metrics JSON at line 1, column 18: metric 'a.b' appears twice; give each metric "
        "one name");
  CHECK(JsonError(R"({"x": 1, "x": 2})") ==
        "invalid metrics JSON at line 1, column 10: metric 'x' appears twice; give each metric one "
        "name");
}

TEST_CASE("MetricsJson.LimitsDepthAndSize") {
  // 64 nested objects pass, 65 fail.
  std::string ok = R"({"v": 1})";
  for (int i = 1; i < 64; ++i) ok = R"({"k": )" + ok + "}";
  CHECK(FlattenMetricsJson(ok).ok());
  const std::string deep = R"({"k": )" + ok + "}";
  CHECK(JsonError(deep).find("objects and arrays nest more than 64 deep; flatten the metrics") !=
        std::string::npos);
  const std::string arrays = "{\"a\": " + std::string(100, '[') + std::string(100, ']') + "}";
  CHECK(JsonError(arrays) ==
        "invalid metrics JSON at line 1, column 70: objects and arrays nest more than 64 "
        "deep; flatten the metrics");
  const std::string huge = "{\"a\": \"" + std::string(receta::kMaxMetricsJsonBytes, 'x') + "\"}";
  CHECK(JsonError(huge) ==
        "metrics JSON is 16777225 bytes, over the limit of 16777216; write only summary numbers "
        "to the metrics file");
}

TEST_CASE("MetricsJson.NeverCrashesOnTruncation") {
  const std::string doc =
      R"({"a": {"b": [1, 2.5e-3, "s\u00e9", null, true]}, "c": -0.5, "d": false})";
  REQUIRE(FlattenMetricsJson(doc).ok());
  for (size_t length = 0; length < doc.size(); ++length) {
    CHECK_FALSE(FlattenMetricsJson(doc.substr(0, length)).ok());
  }
}
