#include "common/json/json_value.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

using receta::JsonLimits;
using receta::JsonValue;
using receta::ParseJson;
using receta::ParseJsonText;

namespace {

JsonValue Parse(const std::string& text, const JsonLimits& limits = {}) {
  auto result = ParseJson(text, limits);
  REQUIRE_MESSAGE(result.ok(), text << ": " << result.error());
  return *result;
}

std::string Error(const std::string& text, const JsonLimits& limits = {}) {
  auto result = ParseJson(text, limits);
  REQUIRE_MESSAGE(!result.ok(), text << " parsed");
  return result.error();
}

}  // namespace

TEST_CASE("JsonValue.ReadsEveryKind") {
  const JsonValue doc = Parse(R"({
    "id": "r-1", "count": 3, "ratio": -0.25, "ok": true, "no": false, "none": null,
    "steps": [{"name": "a"}, {"name": "b"}], "empty": {}, "list": []
  })");
  CHECK(doc.is_object());
  CHECK(doc["id"].AsString() == "r-1");
  CHECK(doc["count"].is_integer());
  CHECK(doc["count"].AsInt() == 3);
  CHECK(doc["count"].AsNumber() == 3.0);
  CHECK(doc["ratio"].AsNumber() == -0.25);
  CHECK(doc["ok"].AsBool() == true);
  CHECK(doc["no"].AsBool(true) == false);
  CHECK(doc["none"].is_null());
  CHECK(doc["steps"].size() == 2);
  CHECK(doc["steps"][1]["name"].AsString() == "b");
  CHECK(doc["empty"].is_object());
  CHECK(doc["empty"].size() == 0);
  CHECK(doc["list"].is_array());
  CHECK(doc["list"].Items().empty());
}

TEST_CASE("JsonValue.KeepsKeyOrderAndOffsets") {
  const std::string text = R"({"z": 1, "a": 2, "m": {"k": 3}})";
  const JsonValue doc = Parse(text);
  REQUIRE(doc.Members().size() == 3);
  CHECK(doc.Members()[0].key == "z");
  CHECK(doc.Members()[1].key == "a");
  CHECK(doc.Members()[2].key == "m");
  CHECK(doc.Members()[1].key_offset == text.find("\"a\""));
  CHECK(doc["m"].offset() == text.find("{\"k\""));
  CHECK(doc["m"]["k"].offset() == text.find('3'));
}

TEST_CASE("JsonValue.MissingAndMistypedReadsGiveFallbacks") {
  const JsonValue doc = Parse(R"({"s": "x", "n": 1.5, "b": true, "a": [1]})");
  CHECK(doc["absent"].is_null());
  CHECK(doc["absent"]["deeper"][3]["still"].AsString("none") == "none");
  CHECK_FALSE(doc.Has("absent"));
  CHECK(doc.Has("s"));
  CHECK(doc.Find("absent") == nullptr);
  CHECK(doc["s"].AsInt(-1) == -1);
  CHECK(doc["s"].AsNumber(2.5) == 2.5);
  CHECK(doc["s"].AsBool(true) == true);
  CHECK(doc["n"].AsInt(7) == 7);  // 1.5 is not an integer
  CHECK(doc["n"].AsString("d") == "d");
  CHECK(doc["b"].AsNumber(9) == 9);
  CHECK(doc["a"][5].is_null());
  CHECK(doc["a"][-1].is_null());
  CHECK(doc["a"]["key"].is_null());
  CHECK(doc["s"][0].is_null());
  CHECK(doc["s"].Items().empty());
  CHECK(doc["a"].Members().empty());
  CHECK(doc["s"].size() == 0);
}

TEST_CASE("JsonValue.FirstOfRepeatedKeysWhenAllowed") {
  JsonLimits limits;
  limits.allow_duplicate_keys = true;
  const JsonValue doc = Parse(R"({"x": 1, "x": 2})", limits);
  CHECK(doc["x"].AsInt() == 1);
  CHECK(doc.size() == 2);
}

TEST_CASE("JsonValue.TopLevelScalars") {
  CHECK(Parse("  42 \n").AsInt() == 42);
  CHECK(Parse("\"s\"").AsString() == "s");
  CHECK(Parse("null").is_null());
  CHECK(Parse("false").is_bool());
  CHECK(Parse("[1, \"a\", null]").size() == 3);
}

TEST_CASE("JsonValue.BigNumbers") {
  const JsonValue doc = Parse(
      R"({"max": 9223372036854775807, "min": -9223372036854775808, "past": 9223372036854775808,
          "odd": 9007199254740993, "big": 1e300, "two": 2.0, "exp": 1e3, "neg0": -0,
          "tiny": 5e-324, "frac": 0.1})");
  CHECK(doc["max"].AsInt() == std::numeric_limits<int64_t>::max());
  CHECK(doc["min"].AsInt() == std::numeric_limits<int64_t>::min());
  CHECK(doc["past"].is_number());
  CHECK_FALSE(doc["past"].is_integer());
  CHECK(doc["past"].AsNumber() == 9223372036854775808.0);
  CHECK(doc["past"].AsInt(-1) == -1);
  CHECK(doc["odd"].AsInt() == 9007199254740993);  // not representable as a double
  CHECK(doc["big"].AsNumber() == 1e300);
  CHECK(doc["big"].AsInt(-1) == -1);
  CHECK(doc["two"].AsInt() == 2);
  CHECK(doc["exp"].AsInt() == 1000);
  CHECK(doc["neg0"].AsInt(5) == 0);
  CHECK(std::signbit(doc["neg0"].AsNumber()));
  CHECK(doc["tiny"].AsNumber() > 0);
  CHECK(doc["frac"].AsNumber() == 0.1);
}

TEST_CASE("JsonValue.PythonNonFiniteNumbers") {
  const JsonValue doc = Parse(R"([NaN, Infinity, -Infinity])");
  CHECK(std::isnan(doc[0].AsNumber()));
  CHECK(doc[1].AsNumber() == HUGE_VAL);
  CHECK(doc[2].AsNumber() == -HUGE_VAL);
  CHECK_FALSE(doc[1].is_integer());
}

TEST_CASE("JsonValue.UnicodeEscapes") {
  const JsonValue doc = Parse(R"(["\u00e9", "\u20AC", "\ud83d\ude00", "\u0000x", "a\"b\\c\/\b\f\n\r\t", "é raw"])");
  CHECK(doc[0].AsString() == "\xC3\xA9");
  CHECK(doc[1].AsString() == "\xE2\x82\xAC");
  CHECK(doc[2].AsString() == "\xF0\x9F\x98\x80");
  CHECK(doc[3].AsString() == std::string("\0x", 2));
  CHECK(doc[4].AsString() == "a\"b\\c/\b\f\n\r\t");
  CHECK(doc[5].AsString() == "\xC3\xA9 raw");
}

TEST_CASE("JsonValue.RejectsMalformedDocuments") {
  CHECK(Error("") == "at line 1, column 1: the document is empty");
  CHECK(Error(" \n ") == "at line 2, column 2: the document is empty");
  CHECK(Error("{\"a\": 1,}") ==
        "at line 1, column 9: expected a key in double quotes, got '}' (JSON allows no comma "
        "before '}')");
  CHECK(Error("{'a': 1}") ==
        "at line 1, column 2: expected a key in double quotes, got ''' (JSON strings use double "
        "quotes)");
  CHECK(Error("{1: 2}") == "at line 1, column 2: expected a key in double quotes, got '1'");
  CHECK(Error("{\"a\" 1}") == "at line 1, column 6: expected ':' after the key \"a\", got '1'");
  CHECK(Error("{\n  \"a\": 1\n  \"b\": 2\n}") ==
        "at line 3, column 3: expected ',' or '}' after the value of \"a\", got '\"'");
  CHECK(Error("{\"a\": 1") ==
        "at line 1, column 8: expected ',' or '}' after the value of \"a\", got the end of the "
        "document");
  CHECK(Error("{\"a\":") == "at line 1, column 6: expected a value, got the end of the document");
  CHECK(Error("[1] x") == "at line 1, column 5: unexpected 'x' after the end of the document");
  CHECK(Error("[1,]") ==
        "at line 1, column 4: expected a value, got ']' (JSON allows no comma before ']')");
  CHECK(Error("[1 2]") == "at line 1, column 4: expected ',' or ']' in an array, got '2'");
  CHECK(Error("[1") == "at line 1, column 3: expected ',' or ']' in an array, got the end of the "
                       "document");
  CHECK(Error("tru") == "at line 1, column 1: expected a value (object, array, string, number, "
                        "true, false or null), got 't'");
  CHECK(Error("'x'") ==
        "at line 1, column 1: expected a value, got ''' (JSON strings use double quotes)");
  CHECK(Error("\x01") == "at line 1, column 1: expected a value (object, array, string, number, "
                         "true, false or null), got a control character");
  CHECK(Error("{\"x\": 1, \"x\": 2}") ==
        "at line 1, column 10: key \"x\" appears twice in this object; keep one of them");
  // Columns count code points, not bytes.
  CHECK(Error("[\"\xC3\xA9\xC3\xA9\", ?]") ==
        "at line 1, column 8: expected a value (object, array, string, number, true, false or "
        "null), got '?'");
}

TEST_CASE("JsonValue.RejectsBadNumbers") {
  const std::string forms = "; JSON numbers look like 12, -0.5 or 1e-3";
  CHECK(Error("01") == "at line 1, column 1: invalid number '01'" + forms);
  CHECK(Error("[1.]") == "at line 1, column 2: invalid number '1.'" + forms);
  CHECK(Error("-") == "at line 1, column 1: invalid number '-'" + forms);
  CHECK(Error("1e") == "at line 1, column 1: invalid number '1e'" + forms);
  CHECK(Error("1e+") == "at line 1, column 1: invalid number '1e+'" + forms);
  CHECK(Error("1.2.3") == "at line 1, column 1: invalid number '1.2.3'" + forms);
  CHECK(Error("+1") == "at line 1, column 1: expected a value (object, array, string, number, "
                       "true, false or null), got '+'");
  CHECK(Error(".5") == "at line 1, column 1: expected a value (object, array, string, number, "
                       "true, false or null), got '.'");
  CHECK(Error("1e999") == "at line 1, column 1: number '1e999' is out of range");
  CHECK(Error("-1e999") == "at line 1, column 1: number '-1e999' is out of range");
}

TEST_CASE("JsonValue.RejectsBadStrings") {
  CHECK(Error("\"abc") == "at line 1, column 1: unterminated string; close it with '\"'");
  CHECK(Error("\"abc\\") == "at line 1, column 1: unterminated string; close it with '\"'");
  CHECK(Error("\"a\nb\"") == "at line 1, column 3: control character in a string; escape it "
                             "(e.g. \\n) or close the string with '\"'");
  CHECK(Error(R"("a\x")") ==
        R"(at line 1, column 3: invalid escape '\x'; use \", \\, \/, \b, \f, \n, \r, \t or \uXXXX)");
  CHECK(Error(R"("\u12G4")") ==
        R"(at line 1, column 2: invalid \u escape; write \u and four hex digits)");
  CHECK(Error(R"("\u12")") ==
        R"(at line 1, column 2: invalid \u escape; write \u and four hex digits)");
  CHECK(Error(R"("\ud800")") ==
        R"(at line 1, column 2: \u escape is a high surrogate without a low surrogate after it)");
  CHECK(Error(R"("\ud800\u0041")") ==
        R"(at line 1, column 2: \u escape is a high surrogate without a low surrogate after it)");
  CHECK(Error(R"("\udc00")") ==
        R"(at line 1, column 2: \u escape is a lone low surrogate; pair it with a high surrogate)");
}

TEST_CASE("JsonValue.LimitsDepth") {
  // 64 nested arrays pass, 65 fail at the 65th bracket.
  CHECK(Parse(std::string(64, '[') + std::string(64, ']')).is_array());
  CHECK(Error(std::string(65, '[') + std::string(65, ']')) ==
        "at line 1, column 65: objects and arrays nest more than 64 deep; flatten the document");
  // A hostile depth fails cleanly instead of overflowing the stack.
  CHECK(Error(std::string(1000000, '[')).find("nest more than 64 deep") != std::string::npos);
  JsonLimits limits;
  limits.max_depth = 2;
  limits.too_deep_advice = "";
  CHECK(Parse(R"({"a": [1]})", limits)["a"][0].AsInt() == 1);
  CHECK(Error(R"({"a": [{}]})", limits) ==
        "at line 1, column 8: objects and arrays nest more than 2 deep");
}

TEST_CASE("JsonValue.LimitsSize") {
  JsonLimits limits;
  limits.max_bytes = 8;
  CHECK(Parse("[1,2,3] ", limits).size() == 3);
  CHECK(Error("[1,2,3,4]", limits) == "the JSON document is 9 bytes, over the limit of 8 bytes");
  auto text = ParseJsonText("[1,2,3,4]", limits);
  REQUIRE_FALSE(text.ok());
  CHECK(text.error().offset == 0);
}

TEST_CASE("JsonValue.ParseJsonTextKeepsTheOffset") {
  auto result = ParseJsonText("{\n\"a\": x}");
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().offset == 7);
  CHECK(result.error().message ==
        "expected a value (object, array, string, number, true, false or null), got 'x'");
}

TEST_CASE("JsonValue.BuiltInCode") {
  std::vector<receta::JsonMember> members;
  members.push_back({"n", JsonValue::Integer(-5), 0});
  members.push_back({"list", JsonValue::Array({JsonValue::String("x"), JsonValue::Bool(true)}), 0});
  const JsonValue doc = JsonValue::Object(std::move(members));
  CHECK(doc["n"].AsInt() == -5);
  CHECK(doc["list"][0].AsString() == "x");
  CHECK(doc["list"][1].AsBool() == true);
  CHECK(JsonValue::Number(3.0).AsInt() == 3);
  CHECK(JsonValue::Number(1e18).AsInt(-1) == -1);  // past 2^53: not known exact
  const JsonValue copy = doc;
  CHECK(copy["list"].size() == 2);
}

TEST_CASE("JsonValue.NeverCrashesOnTruncation") {
  const std::string doc =
      R"({"a": {"b": [1, 2.5e-3, "s\u00e9\ud83d\ude00", null, true]}, "c": -0.5, "d": false})";
  REQUIRE(ParseJson(doc).ok());
  for (size_t length = 0; length < doc.size(); ++length) {
    CHECK_FALSE(ParseJson(doc.substr(0, length)).ok());
  }
}
