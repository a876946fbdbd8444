// The CLI's DAG verbs driven in-process: exit codes, what goes to stdout and
// stderr, and whether what they print is what other tools expect (JSON that
// parses, dot that Graphviz draws, Mermaid with one line per edge).

#include <doctest/doctest.h>

#include <cstdlib>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "common/dag/dag_keys.h"
#include "common/dag/dag_load.h"
#include "common/json/json_value.h"
#include "tests/unit/test_files.h"

namespace cli = receta::cli;
using receta::JsonValue;
using receta::testing::ReadFile;
using receta::testing::TempDir;

namespace {

/// The JSON document `text` (what a verb printed), failing the test with the
/// parse error and the text when it is not JSON.
JsonValue ParseOrFail(const std::string& text) {
  receta::Result<JsonValue> value = receta::ParseJson(text);
  REQUIRE_MESSAGE(value.ok(), "not JSON: " << value.error() << "\n" << text);
  return *value;
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
  JsonValue dag = ParseOrFail(result.out);
  CHECK(dag["name"].AsString() == "iris");
  CHECK(dag["file"].AsString() == iris);
  CHECK(dag["params"]["seed"]["value"].AsNumber() == 2024);
  CHECK(dag["params"]["seed"]["text"].AsString() == "2024");
  CHECK(dag["params"]["test_size"]["value"].AsNumber() == doctest::Approx(0.2));
  CHECK(dag["params"]["seed"]["type"].AsString() == "integer");
  CHECK(dag["params"]["test_size"]["type"].AsString() == "number");

  const std::vector<JsonValue>& steps = dag["steps"].Items();
  REQUIRE(steps.size() == 4);
  std::vector<std::string> order;
  for (const JsonValue& step : steps) order.push_back(step["name"].AsString());
  CHECK(order == std::vector<std::string>{"prepare", "train", "evaluate", "deploy"});

  const JsonValue& prepare = steps[0];
  CHECK(prepare["command"].AsString() ==
        "python3 src/prepare.py --test-size 0.2 --seed 2024 --train-out data/train.csv "
        "--test-out data/test.csv");
  CHECK(prepare["run"].AsString().find("{{params.test_size}}") != std::string::npos);
  // Every input of prepare is a workspace file, so its key is known now.
  REQUIRE(prepare["cache_key"].is_string());
  CHECK(prepare["cache_key"].AsString().size() == 64);
  CHECK(prepare["inputs"][0]["source"].AsString() == "workspace");
  CHECK(prepare["inputs"][0]["digest"].AsString().size() == 64);
  CHECK(prepare["cache_key_inputs"]["params"]["seed"].AsString() == "2024");
  CHECK(prepare["cache_key_inputs"]["version"].AsNumber() == 1);

  const JsonValue& train = steps[1];
  CHECK(train["cache_key"].is_null());  // waits for prepare's outputs
  CHECK(train["layer"].AsNumber() == 1);
  REQUIRE(train["edges"].size() == 1);
  CHECK(train["edges"][0]["from"].AsString() == "prepare");
  CHECK(train["edges"][0]["reason"].AsString() == "input");
  CHECK(train["edges"][0]["path"].AsString() == "data/train.csv");
  CHECK(train["cache_key_inputs"]["inputs"]["data/train.csv"].AsString() == "<output of prepare>");

  const JsonValue& evaluate = steps[2];
  CHECK(evaluate["gate"].AsString() == "accuracy >= 0.9 and macro_f1 >= 0.85");
  CHECK(evaluate["metrics"].AsString() == "eval/metrics.json");

  const JsonValue& deploy = steps[3];
  CHECK(deploy["cache"].is_bool());
  CHECK(deploy["cache"].AsBool());
  REQUIRE(deploy["gated_by"].size() == 1);
  CHECK(deploy["gated_by"][0].AsString() == "evaluate");
  CHECK(deploy["command"].AsString().find("--run-id {{run.id}}") != std::string::npos);
  CHECK(deploy["cache_key_inputs"]["command"].AsString() == deploy["command"].AsString());
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
const JsonValue& ObjectSchema(const JsonValue& schema) {
  if (schema.Has("properties")) return schema;
  if (schema.Has("allOf")) return ObjectSchema(schema["allOf"].Items().at(0));
  if (schema.Has("items")) return ObjectSchema(schema["items"]);
  if (schema.Has("additionalProperties") && schema["additionalProperties"].is_object()) {
    return ObjectSchema(schema["additionalProperties"]);
  }
  FAIL("no object schema in a key that has fields");
  return schema;
}

void CheckKeysListed(const JsonValue& object_schema, const std::vector<receta::KeySpec>& keys,
                     const std::string& where) {
  const JsonValue& properties = object_schema["properties"];
  CHECK_MESSAGE(properties.size() == keys.size(), where);
  for (const receta::KeySpec& key : keys) {
    INFO(where << "." << key.name);
    REQUIRE(properties.Has(key.name));
    const JsonValue& schema = properties[key.name];
    CHECK(schema["description"].AsString() == key.description);
    if (key.enum_values != nullptr) {
      std::string text;
      std::function<void(const JsonValue&)> collect = [&](const JsonValue& node) {
        if (node.is_string()) text += node.AsString() + "\n";
        for (const JsonValue& item : node.Items()) collect(item);
        for (const receta::JsonMember& member : node.Members()) collect(member.value);
      };
      collect(schema);
      for (const char* value : *key.enum_values) {
        CHECK_MESSAGE(text.find(std::string(value) + "\n") != std::string::npos, value);
      }
    }
    if (key.fields != nullptr)
      CheckKeysListed(ObjectSchema(schema), *key.fields, where + "." + key.name);
  }
  CHECK(object_schema["additionalProperties"].is_bool());
}

}  // namespace

TEST_CASE("CliDagTest.SchemaIsJsonListingEveryKey") {
  Output result = Run([](std::ostream& out, std::ostream&) { return cli::DagSchema(out); });
  CHECK(result.exit_code == 0);
  JsonValue schema = ParseOrFail(result.out);
  CHECK(schema["$schema"].AsString() == "http://json-schema.org/draft-07/schema#");
  CHECK(schema["required"].Items().at(0).AsString() == "steps");
  // Walks DagKeys and, through each key's fields, StepKeys, DefaultsKeys,
  // ResourcesKeys and AlertKeys at every place they appear.
  CheckKeysListed(schema, receta::DagKeys(), "dag");
  const JsonValue& step = ObjectSchema(schema["properties"]["steps"]);
  CHECK(step["required"].Items().at(0).AsString() == "run");
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
  JsonValue list = ParseOrFail(json.out);
  REQUIRE(list.size() == 2);
  CHECK(list[0]["path"].AsString() == abc);
  CHECK(list[0]["sha256"].AsString() == kAbcSha256);
  CHECK(list[1]["path"].AsString() == missing);
  CHECK(list[1].Has("error"));
  CHECK_FALSE(list[1].Has("sha256"));
}
