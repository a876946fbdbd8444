// The CLI's DAG verbs driven in-process: exit codes, what goes to stdout and
// stderr, and whether what they print is what other tools expect (JSON that
// parses, dot that Graphviz draws, Mermaid with one line per edge).

#include <doctest/doctest.h>

#include <cctype>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "common/dag/dag_keys.h"
#include "common/dag/dag_load.h"
#include "tests/unit/test_files.h"

namespace cli = receta::cli;
using receta::testing::ReadFile;
using receta::testing::TempDir;

namespace {

// --- a strict little JSON reader (RFC 8259), enough to check our output ---

struct Json {
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
  Type type = Type::kNull;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<Json> array;
  std::map<std::string, Json> object;

  bool Has(const std::string& key) const { return type == Type::kObject && object.count(key); }
  const Json& operator[](const std::string& key) const {
    static const Json kNull;
    auto it = object.find(key);
    return it == object.end() ? kNull : it->second;
  }
};

class JsonReader {
 public:
  explicit JsonReader(const std::string& text) : text_(text) {}

  /// The value, or an error naming the offset where the text stops being JSON.
  bool Parse(Json& out, std::string& error) {
    bool ok = Value(out, 0);
    SkipSpace();
    if (ok && pos_ != text_.size()) ok = Fail("trailing text");
    if (!ok) error = error_ + " at offset " + std::to_string(pos_);
    return ok;
  }

 private:
  bool Fail(const std::string& message) {
    if (error_.empty()) error_ = message;
    return false;
  }
  void SkipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n' ||
                                   text_[pos_] == '\r' || text_[pos_] == '\t')) {
      ++pos_;
    }
  }
  bool Literal(const char* word) {
    std::string w = word;
    if (text_.compare(pos_, w.size(), w) != 0) return Fail("bad literal");
    pos_ += w.size();
    return true;
  }
  bool String(std::string& out) {
    if (text_[pos_] != '"') return Fail("expected a string");
    ++pos_;
    while (pos_ < text_.size() && text_[pos_] != '"') {
      unsigned char c = text_[pos_];
      if (c < 0x20) return Fail("control character in string");
      if (c == '\\') {
        if (++pos_ >= text_.size()) return Fail("unfinished escape");
        char e = text_[pos_];
        if (e == 'u') {
          for (int i = 1; i <= 4; ++i) {
            if (pos_ + i >= text_.size() ||
                !std::isxdigit(static_cast<unsigned char>(text_[pos_ + i]))) {
              return Fail("bad \\u escape");
            }
          }
          out += '?';
          pos_ += 4;
        } else if (std::string("\"\\/bfnrt").find(e) != std::string::npos) {
          const std::map<char, char> kEscapes = {{'"', '"'},  {'\\', '\\'}, {'/', '/'},
                                                 {'b', '\b'}, {'f', '\f'},  {'n', '\n'},
                                                 {'r', '\r'}, {'t', '\t'}};
          out += kEscapes.at(e);
        } else {
          return Fail("bad escape");
        }
      } else {
        out += static_cast<char>(c);
      }
      ++pos_;
    }
    if (pos_ >= text_.size()) return Fail("unterminated string");
    ++pos_;
    return true;
  }
  bool Number(double& out) {
    size_t start = pos_;
    if (text_[pos_] == '-') ++pos_;
    auto digits = [&] {
      size_t from = pos_;
      while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) ++pos_;
      return pos_ > from;
    };
    if (pos_ < text_.size() && text_[pos_] == '0') {
      ++pos_;
    } else if (!digits()) {
      return Fail("bad number");
    }
    if (pos_ < text_.size() && text_[pos_] == '.') {
      ++pos_;
      if (!digits()) return Fail("bad fraction");
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
      if (!digits()) return Fail("bad exponent");
    }
    out = std::stod(text_.substr(start, pos_ - start));
    return true;
  }
  bool Value(Json& out, int depth) {
    if (depth > 100) return Fail("too deep");
    SkipSpace();
    if (pos_ >= text_.size()) return Fail("unexpected end");
    char c = text_[pos_];
    if (c == '{') {
      out.type = Json::Type::kObject;
      ++pos_;
      SkipSpace();
      if (pos_ < text_.size() && text_[pos_] == '}') return ++pos_, true;
      while (true) {
        SkipSpace();
        std::string key;
        if (pos_ >= text_.size() || !String(key)) return Fail("expected a key");
        if (out.object.count(key)) return Fail("duplicate key '" + key + "'");
        SkipSpace();
        if (pos_ >= text_.size() || text_[pos_] != ':') return Fail("expected ':'");
        ++pos_;
        if (!Value(out.object[key], depth + 1)) return false;
        SkipSpace();
        if (pos_ < text_.size() && text_[pos_] == ',') {
          ++pos_;
          continue;
        }
        if (pos_ < text_.size() && text_[pos_] == '}') return ++pos_, true;
        return Fail("expected ',' or '}'");
      }
    }
    if (c == '[') {
      out.type = Json::Type::kArray;
      ++pos_;
      SkipSpace();
      if (pos_ < text_.size() && text_[pos_] == ']') return ++pos_, true;
      while (true) {
        out.array.emplace_back();
        if (!Value(out.array.back(), depth + 1)) return false;
        SkipSpace();
        if (pos_ < text_.size() && text_[pos_] == ',') {
          ++pos_;
          continue;
        }
        if (pos_ < text_.size() && text_[pos_] == ']') return ++pos_, true;
        return Fail("expected ',' or ']'");
      }
    }
    if (c == '"') {
      out.type = Json::Type::kString;
      return String(out.string);
    }
    if (c == 't' || c == 'f') {
      out.type = Json::Type::kBool;
      out.boolean = c == 't';
      return Literal(c == 't' ? "true" : "false");
    }
    if (c == 'n') return Literal("null");
    out.type = Json::Type::kNumber;
    return Number(out.number);
  }

  const std::string& text_;
  size_t pos_ = 0;
  std::string error_;
};

Json ParseJson(const std::string& text) {
  Json value;
  std::string error;
  bool ok = JsonReader(text).Parse(value, error);
  REQUIRE_MESSAGE(ok, "not JSON: " << error << "\n" << text);
  return value;
}

// --- helpers --------------------------------------------------------------

std::string Example(const std::string& relative) {
  return std::string(RECETA_SOURCE_DIR) + "/dags/" + relative;
}

struct Output {
  int exit_code = -1;
  std::string out;
  std::string err;
};

template <typename Command>
Output Run(Command command) {
  std::ostringstream out;
  std::ostringstream err;
  Output result;
  result.exit_code = command(out, err);
  result.out = out.str();
  result.err = err.str();
  return result;
}

Output Validate(const std::string& file, std::vector<std::string> params = {}) {
  return Run([&](std::ostream& out, std::ostream& err) {
    return cli::DagValidate({file, params}, out, err);
  });
}

Output Show(const std::string& file, bool json, std::vector<std::string> params = {}) {
  return Run([&](std::ostream& out, std::ostream& err) {
    return cli::DagShow({file, params}, json, out, err);
  });
}

Output Graph(const std::string& file, const std::string& format) {
  return Run([&](std::ostream& out, std::ostream& err) {
    return cli::DagGraph({file, {}}, format, out, err);
  });
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

const char* kBadDag = R"(steps:
  train:
    run: python3 train.py --seed {{params.seed}}
    retries: lots
)";

}  // namespace

TEST_CASE("CliDagTest.JsonReaderRejectsWhatIsNotJson") {
  for (const char* bad : {"", "{", "{\"a\": 1,}", "[1 2]", "{\"a\": 01}", "\"tab\there\"",
                          "{\"a\": 1, \"a\": 2}", "{a: 1}", "[1] x", "'s'"}) {
    Json value;
    std::string error;
    CHECK_MESSAGE(!JsonReader(bad).Parse(value, error), bad);
  }
  Json ok = ParseJson(R"({"a": [1, -2.5e3, true, null, "x\"\n"], "b": {}})");
  CHECK(ok["a"].array.size() == 5);
  CHECK(ok["a"].array[4].string == "x\"\n");
}

// --- dag validate ---------------------------------------------------------

TEST_CASE("CliDagTest.ValidatePrintsSummaryOfAGoodDag") {
  std::string iris = Example("iris/iris.yaml");
  Output result = Validate(iris);
  CHECK(result.exit_code == 0);
  CHECK(result.out == iris + ": ok: DAG 'iris', 4 steps, 5 edges, 4 layers, 1 gate, 4 params\n");
  CHECK(result.err.empty());

  std::string sweep = Example("sweep/sweep.yaml");
  CHECK(Validate(sweep).out ==
        sweep + ": ok: DAG 'sweep', 8 steps, 12 edges, 4 layers, 1 gate, 5 params\n");
}

TEST_CASE("CliDagTest.ValidateListsEveryErrorAndExitsOne") {
  TempDir dir;
  std::string bad = dir.Write("bad.yaml", kBadDag);
  Output result = Validate(bad);
  CHECK(result.exit_code == 1);
  CHECK(result.out.empty());
  CHECK(result.err ==
        bad +
            ":3:34: error: `run` of step 'train' uses {{params.seed}}, but the DAG has no param "
            "'seed'; declare it under `params:` with a default\n" +
            bad +
            ":4:14: error: `retries` of step 'train' must be an integer from 0 to 100, got "
            "'lots'\n"
            "2 errors in " +
            bad + "\n");

  // One error: singular.
  std::string one = dir.Write("one.yaml", "steps:\n  a: {}\n");
  CHECK(Validate(one).err == one +
                                 ":2:3: error: step 'a' has no `run:`; give the shell command "
                                 "it runs\n1 error in " +
                                 one + "\n");

  Output missing = Validate(dir.Path() + "/nope.yaml");
  CHECK(missing.exit_code == 1);
  CHECK(missing.err == dir.Path() +
                           "/nope.yaml: error: cannot open the DAG file: No such file "
                           "or directory; check the path\n1 error in " +
                           dir.Path() + "/nope.yaml\n");
}

TEST_CASE("CliDagTest.ParamOverridesAreCheckedAgainstTheDag") {
  std::string iris = Example("iris/iris.yaml");
  CHECK(Validate(iris, {"n_estimators=200", "test_size=0.3"}).exit_code == 0);

  Output wrong_type = Validate(iris, {"seed=abc"});
  CHECK(wrong_type.exit_code == 1);
  CHECK(wrong_type.err ==
        iris +
            ": error: -p seed=abc: param 'seed' is an integer, and 'abc' is not; give an "
            "integer like its default, -p seed=2024\n1 error in " +
            iris + "\n");

  Output unknown = Validate(iris, {"n_estimator=5"});
  CHECK(unknown.exit_code == 1);
  CHECK(unknown.err == iris +
                           ": error: -p n_estimator=5: the DAG has no param 'n_estimator'; "
                           "did you mean 'n_estimators'?\n1 error in " +
                           iris + "\n");

  // Not NAME=VALUE: refused before the DAG is read.
  Output malformed = Validate(iris, {"seed"});
  CHECK(malformed.exit_code == 2);
  CHECK(malformed.out.empty());
  CHECK(malformed.err == "receta: -p 'seed' is not of the form NAME=VALUE, e.g. -p seed=7\n");
}

// --- dag show -------------------------------------------------------------

TEST_CASE("CliDagTest.ShowTextListsStepsInOrderWithRenderedCommands") {
  Output result = Show(Example("iris/iris.yaml"), false, {"n_estimators=250"});
  REQUIRE(result.exit_code == 0);
  CHECK(result.err.empty());
  const std::string& text = result.out;
  size_t prepare = text.find("\n1. prepare  [data-prep]\n");
  size_t train = text.find("\n2. train  [train]\n");
  size_t evaluate = text.find("\n3. evaluate  [evaluate]\n");
  size_t deploy = text.find("\n4. deploy  [deploy]\n");
  REQUIRE(prepare != std::string::npos);
  CHECK(prepare < train);
  CHECK(train < evaluate);
  CHECK(evaluate < deploy);
  CHECK(deploy != std::string::npos);
  CHECK(text.find("   run:       python3 src/train.py --train data/train.csv --model-out "
                  "model/model.pkl --n-estimators 250 --max-depth 0 --seed 2024\n") !=
        std::string::npos);
  CHECK(text.find("--run-id {{run.id}}\n") != std::string::npos);
  CHECK(text.find("   input:     data/train.csv  (from prepare)\n") != std::string::npos);
  CHECK(text.find("   runs only if the gate of evaluate passes\n") != std::string::npos);
  // iris opts its deploy step into the cache; the sweep's deploy stays off.
  CHECK(text.find("   cache:     off (deploy step)\n") == std::string::npos);
  CHECK(text.find("   cache key: known when upstream outputs exist\n") != std::string::npos);
}

TEST_CASE("CliDagTest.ShowJsonParsesAndHoldsOrderCommandsAndKeys") {
  std::string iris = Example("iris/iris.yaml");
  Output result = Show(iris, true);
  REQUIRE(result.exit_code == 0);
  CHECK(result.err.empty());
  Json dag = ParseJson(result.out);
  CHECK(dag["name"].string == "iris");
  CHECK(dag["file"].string == iris);
  CHECK(dag["params"]["seed"]["value"].number == 2024);
  CHECK(dag["params"]["seed"]["text"].string == "2024");
  CHECK(dag["params"]["test_size"]["value"].number == doctest::Approx(0.2));
  CHECK(dag["params"]["seed"]["type"].string == "integer");
  CHECK(dag["params"]["test_size"]["type"].string == "number");

  const std::vector<Json>& steps = dag["steps"].array;
  REQUIRE(steps.size() == 4);
  std::vector<std::string> order;
  for (const Json& step : steps) order.push_back(step["name"].string);
  CHECK(order == std::vector<std::string>{"prepare", "train", "evaluate", "deploy"});

  const Json& prepare = steps[0];
  CHECK(prepare["command"].string ==
        "python3 src/prepare.py --test-size 0.2 --seed 2024 --train-out data/train.csv "
        "--test-out data/test.csv");
  CHECK(prepare["run"].string.find("{{params.test_size}}") != std::string::npos);
  // Every input of prepare is a workspace file, so its key is known now.
  REQUIRE(prepare["cache_key"].type == Json::Type::kString);
  CHECK(prepare["cache_key"].string.size() == 64);
  CHECK(prepare["inputs"].array[0]["source"].string == "workspace");
  CHECK(prepare["inputs"].array[0]["digest"].string.size() == 64);
  CHECK(prepare["cache_key_inputs"]["params"]["seed"].string == "2024");
  CHECK(prepare["cache_key_inputs"]["version"].number == 1);

  const Json& train = steps[1];
  CHECK(train["cache_key"].type == Json::Type::kNull);  // waits for prepare's outputs
  CHECK(train["layer"].number == 1);
  REQUIRE(train["edges"].array.size() == 1);
  CHECK(train["edges"].array[0]["from"].string == "prepare");
  CHECK(train["edges"].array[0]["reason"].string == "input");
  CHECK(train["edges"].array[0]["path"].string == "data/train.csv");
  CHECK(train["cache_key_inputs"]["inputs"]["data/train.csv"].string == "<output of prepare>");

  const Json& evaluate = steps[2];
  CHECK(evaluate["gate"].string == "accuracy >= 0.9 and macro_f1 >= 0.85");
  CHECK(evaluate["metrics"].string == "eval/metrics.json");

  const Json& deploy = steps[3];
  CHECK(deploy["cache"].type == Json::Type::kBool);
  CHECK(deploy["cache"].boolean);
  REQUIRE(deploy["gated_by"].array.size() == 1);
  CHECK(deploy["gated_by"].array[0].string == "evaluate");
  CHECK(deploy["command"].string.find("--run-id {{run.id}}") != std::string::npos);
  CHECK(deploy["cache_key_inputs"]["command"].string == deploy["command"].string);
  for (const char* key :
       {"description", "upstream", "inputs", "outputs", "needs", "env", "resources", "labels",
        "retries", "retry_backoff_ms", "timeout_ms", "cache_version", "params"}) {
    CHECK_MESSAGE(deploy.Has(key), key);
  }
}

TEST_CASE("CliDagTest.ShowOfABadDagPrintsErrorsOnly") {
  TempDir dir;
  std::string bad = dir.Write("bad.yaml", kBadDag);
  for (bool json : {false, true}) {
    Output result = Show(bad, json);
    CHECK(result.exit_code == 1);
    CHECK(result.out.empty());
    CHECK(Lines(result.err).size() == 3);
    CHECK(Lines(result.err).back() == "2 errors in " + bad);
  }
}

// --- dag graph ------------------------------------------------------------

TEST_CASE("CliDagTest.GraphDotIsAcceptedByGraphviz") {
  // CI installs graphviz (README); a missing `dot` fails rather than hides.
  REQUIRE_MESSAGE(std::system("command -v dot >/dev/null 2>&1") == 0,
                  "Graphviz `dot` is not installed: apt-get install graphviz");
  TempDir dir;
  for (const char* example : {"iris/iris.yaml", "sweep/sweep.yaml"}) {
    INFO(example);
    Output result = Graph(Example(example), "dot");
    REQUIRE(result.exit_code == 0);
    CHECK(result.out.rfind("digraph ", 0) == 0);
    std::string dot_file = dir.Write("graph.dot", result.out);
    std::string svg_file = dir.Path("graph.svg");
    std::string command =
        "dot -Tsvg '" + dot_file + "' -o '" + svg_file + "' 2>'" + dir.Path("dot.err") + "'";
    int status = std::system(command.c_str());
    std::string dot_errors = ReadFile(dir.Path("dot.err"));
    CHECK_MESSAGE(status == 0, "dot rejected:\n" << result.out << dot_errors);
    CHECK(dot_errors.empty());  // not even a warning
    std::string svg = ReadFile(svg_file);
    CHECK(svg.find("<svg") != std::string::npos);
  }
}

TEST_CASE("CliDagTest.GraphMermaidHasOneLinePerEdge") {
  Output result = Graph(Example("iris/iris.yaml"), "mermaid");
  REQUIRE(result.exit_code == 0);
  std::vector<std::string> lines = Lines(result.out);
  REQUIRE_FALSE(lines.empty());
  CHECK(lines[0].rfind("flowchart", 0) == 0);
  std::vector<std::string> edges;
  for (const std::string& line : lines) {
    if (line.find("-->") != std::string::npos || line.find("-.->") != std::string::npos) {
      edges.push_back(line);
    }
  }
  CHECK(edges == std::vector<std::string>{
                     "  s0 -->|\"data/train.csv\"| s1",
                     "  s1 -->|\"model/model.pkl\"| s2",
                     "  s0 -->|\"data/test.csv\"| s2",
                     "  s2 -.->|\"needs\"| s3",
                     "  s1 -->|\"model/model.pkl\"| s3",
                 });
  CHECK(lines.size() == 1 + 4 + 5);  // header, one node per step, one line per edge

  Output sweep = Graph(Example("sweep/sweep.yaml"), "mermaid");
  size_t sweep_edges = 0;
  for (const std::string& line : Lines(sweep.out)) {
    sweep_edges += line.find("-->") != std::string::npos || line.find("-.->") != std::string::npos;
  }
  CHECK(sweep_edges == 12);  // 5 fan-out, 6 fan-in (5 + prepare), deploy
}

TEST_CASE("CliDagTest.GraphTextAndUnknownFormat") {
  Output text = Graph(Example("sweep/sweep.yaml"), "text");
  CHECK(text.exit_code == 0);
  CHECK(text.out.rfind("sweep: 8 steps in 4 layers\n", 0) == 0);
  CHECK(text.out.find("[gate: accuracy >= 0.9 and macro_f1 >= 0.9]") != std::string::npos);

  Output unknown = Graph(Example("iris/iris.yaml"), "png");
  CHECK(unknown.exit_code == 2);
  CHECK(unknown.out.empty());
  CHECK(unknown.err == "receta: --format 'png' is not known; use text, dot or mermaid\n");

  TempDir dir;
  CHECK(Graph(dir.Write("bad.yaml", kBadDag), "dot").exit_code == 1);
}

// --- dag schema -----------------------------------------------------------

namespace {

/// The object schema (the one with "properties") inside a key's schema.
const Json& ObjectSchema(const Json& schema) {
  if (schema.Has("properties")) return schema;
  if (schema.Has("allOf")) return ObjectSchema(schema["allOf"].array.at(0));
  if (schema.Has("items")) return ObjectSchema(schema["items"]);
  if (schema.Has("additionalProperties") &&
      schema["additionalProperties"].type == Json::Type::kObject) {
    return ObjectSchema(schema["additionalProperties"]);
  }
  FAIL("no object schema in a key that has fields");
  return schema;
}

void CheckKeysListed(const Json& object_schema, const std::vector<receta::KeySpec>& keys,
                     const std::string& where) {
  const Json& properties = object_schema["properties"];
  CHECK_MESSAGE(properties.object.size() == keys.size(), where);
  for (const receta::KeySpec& key : keys) {
    INFO(where << "." << key.name);
    REQUIRE(properties.Has(key.name));
    const Json& schema = properties[key.name];
    CHECK(schema["description"].string == key.description);
    if (key.enum_values != nullptr) {
      std::string text;
      std::function<void(const Json&)> collect = [&](const Json& node) {
        if (node.type == Json::Type::kString) text += node.string + "\n";
        for (const Json& item : node.array) collect(item);
        for (const auto& [name, child] : node.object) collect(child);
      };
      collect(schema);
      for (const char* value : *key.enum_values) {
        CHECK_MESSAGE(text.find(std::string(value) + "\n") != std::string::npos, value);
      }
    }
    if (key.fields != nullptr)
      CheckKeysListed(ObjectSchema(schema), *key.fields, where + "." + key.name);
  }
  CHECK(object_schema["additionalProperties"].type == Json::Type::kBool);
}

}  // namespace

TEST_CASE("CliDagTest.SchemaIsJsonListingEveryKey") {
  Output result = Run([](std::ostream& out, std::ostream&) { return cli::DagSchema(out); });
  CHECK(result.exit_code == 0);
  Json schema = ParseJson(result.out);
  CHECK(schema["$schema"].string == "http://json-schema.org/draft-07/schema#");
  CHECK(schema["required"].array.at(0).string == "steps");
  // Walks DagKeys and, through each key's fields, StepKeys, DefaultsKeys,
  // ResourcesKeys and AlertKeys at every place they appear.
  CheckKeysListed(schema, receta::DagKeys(), "dag");
  const Json& step = ObjectSchema(schema["properties"]["steps"]);
  CHECK(step["required"].array.at(0).string == "run");
  for (const receta::KeySpec& key : receta::StepKeys()) CHECK(step["properties"].Has(key.name));
  for (const char* kind : receta::StepKindNames()) {
    CHECK(result.out.find(std::string("\"") + kind + "\"") != std::string::npos);
  }
  for (const char* event : receta::AlertEventNames()) {
    CHECK(result.out.find(std::string("\"") + event + "\"") != std::string::npos);
  }
}

// --- hash -----------------------------------------------------------------

TEST_CASE("CliDagTest.HashPrintsSha256sumLinesAndJson") {
  TempDir dir;
  std::string abc = dir.Write("abc.txt", "abc");
  const std::string kAbcSha256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  Output text =
      Run([&](std::ostream& out, std::ostream& err) { return cli::Hash({abc}, false, out, err); });
  CHECK(text.exit_code == 0);
  CHECK(text.out == kAbcSha256 + "  " + abc + "\n");
  CHECK(text.err.empty());

  std::string missing = dir.Path() + "/missing.txt";
  Output json = Run([&](std::ostream& out, std::ostream& err) {
    return cli::Hash({abc, missing}, true, out, err);
  });
  CHECK(json.exit_code == 1);
  CHECK(json.err.rfind("receta: ", 0) == 0);
  CHECK(json.err.find("missing.txt") != std::string::npos);
  Json list = ParseJson(json.out);
  REQUIRE(list.array.size() == 2);
  CHECK(list.array[0]["path"].string == abc);
  CHECK(list.array[0]["sha256"].string == kAbcSha256);
  CHECK(list.array[1]["path"].string == missing);
  CHECK(list.array[1].Has("error"));
  CHECK_FALSE(list.array[1].Has("sha256"));
}
