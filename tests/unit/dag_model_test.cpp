// The DAG model once a file has loaded: typed params and their overrides,
// rendered templates, the params each step sees, inherited settings, the
// edges inferred from paths, gates downstream, and the order steps run in.

#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

#include "common/dag/dag_load.h"
#include "common/dag/dag_render.h"
#include "common/dag/params.h"
#include "common/dag/workspace_path.h"

using receta::Dag;
using receta::DagEdge;
using receta::LoadDagText;
using receta::LoadedDag;
using receta::MemoryFileSystem;
using receta::ParamValue;
using receta::ParseOptions;
using receta::Step;

namespace {

using Names = std::vector<std::string>;

std::string Dedent(const char* text) {
  std::string yaml = text;
  if (!yaml.empty() && yaml.front() == '\n') yaml.erase(0, 1);
  return yaml;
}

/// Loads `yaml` (which must be valid) over a workspace holding `files`.
LoadedDag LoadOk(const char* yaml, const Names& files = {},
                 std::vector<std::pair<std::string, std::string>> overrides = {}) {
  MemoryFileSystem workspace;
  for (const std::string& file : files) workspace.AddFile(file);
  ParseOptions options;
  options.param_overrides = std::move(overrides);
  LoadedDag loaded = LoadDagText(Dedent(yaml), "model.yaml", options, workspace);
  REQUIRE_MESSAGE(loaded.ok(), loaded.diagnostics.Format());
  return loaded;
}

const Step& StepNamed(const LoadedDag& loaded, const std::string& name) {
  int index = loaded.dag->FindStep(name);
  REQUIRE_MESSAGE(index >= 0, "no step " << name);
  return loaded.dag->steps[index];
}

Names Order(const LoadedDag& loaded) {
  Names names;
  for (int index : loaded.graph.order) names.push_back(loaded.dag->steps[index].name);
  return names;
}

/// "from (path)" for each edge into `step`; "from (needs)" for needs edges.
Names Upstream(const LoadedDag& loaded, const std::string& step) {
  Names edges;
  for (const DagEdge& edge : loaded.graph.upstream[loaded.dag->FindStep(step)]) {
    edges.push_back(loaded.dag->steps[edge.from].name + " (" +
                    (edge.reason == DagEdge::Reason::kNeeds ? "needs" : edge.path) + ")");
  }
  return edges;
}

Names GatedBy(const LoadedDag& loaded, const std::string& step) {
  Names names;
  for (int gate : loaded.graph.gated_by[loaded.dag->FindStep(step)]) {
    names.push_back(loaded.dag->steps[gate].name);
  }
  return names;
}

}  // namespace

// --- params --------------------------------------------------------------

TEST_CASE("DagParams.TypeComesFromHowTheDefaultIsWritten") {
  LoadedDag loaded = LoadOk(R"(
params:
  n: 42
  negative: -3
  ratio: 0.2
  tiny: 1e-3
  flag: true
  name: forest
  quoted_number: "42"
steps:
  s: {run: echo}
)");
  const auto& params = loaded.dag->params;
  CHECK(params.at("n").type == ParamValue::Type::kInt);
  CHECK(params.at("negative").type == ParamValue::Type::kInt);
  CHECK(params.at("ratio").type == ParamValue::Type::kFloat);
  CHECK(params.at("tiny").type == ParamValue::Type::kFloat);
  CHECK(params.at("flag").type == ParamValue::Type::kBool);
  CHECK(params.at("name").type == ParamValue::Type::kString);
  CHECK(params.at("quoted_number").type == ParamValue::Type::kString);
  CHECK(params.at("ratio").text == "0.2");  // as written, no float round trip
  CHECK(params.at("tiny").text == "1e-3");
}

TEST_CASE("DagParams.OverridesMustHaveTheDefaultsType") {
  const char* yaml = R"(
params: {n: 42, ratio: 0.2, flag: true, name: forest, quoted_number: "42"}
steps:
  s:
    run: echo {{params.n}} {{params.ratio}} {{params.flag}} {{params.name}} {{params.quoted_number}}
)";
  LoadedDag loaded = LoadOk(yaml, {},
                            {{"n", "7"},
                             {"ratio", "3"},
                             {"flag", "false"},
                             {"name", "42"},
                             {"quoted_number", "forty-two"}});
  const Dag& dag = *loaded.dag;
  CHECK(dag.params.at("n").text == "7");
  CHECK(dag.params.at("n").type == ParamValue::Type::kInt);
  CHECK(dag.params.at("ratio").text == "3");  // an integer is a number
  CHECK(dag.params.at("ratio").type == ParamValue::Type::kFloat);
  CHECK(dag.params.at("name").type == ParamValue::Type::kString);  // "42" stays a string
  CHECK(receta::RenderStepCommand(dag, dag.steps[0], "r") == "echo 7 3 false 42 forty-two");

  // Each misfit is its own error.
  MemoryFileSystem workspace;
  ParseOptions options;
  options.param_overrides = {{"n", "1.5"}, {"ratio", "abc"}, {"flag", "yes"}, {"n", "7"}};
  LoadedDag bad = LoadDagText(Dedent(yaml), "model.yaml", options, workspace);
  CHECK(bad.diagnostics.Format() ==
        "model.yaml: error: -p n=1.5: param 'n' is an integer, and '1.5' is not; give an integer "
        "like its default, -p n=42\n"
        "model.yaml: error: -p ratio=abc: param 'ratio' is a number, and 'abc' is not; give a "
        "number like its default, -p ratio=0.2\n"
        "model.yaml: error: -p flag=yes: param 'flag' is a boolean, and 'yes' is not; give a "
        "boolean like its default, -p flag=true\n");
}

TEST_CASE("DagParams.SplitsOverrideTextAtTheFirstEquals") {
  auto split = receta::SplitParamOverride("query=a=b");
  REQUIRE(split.ok());
  CHECK(split->first == "query");
  CHECK(split->second == "a=b");
  auto empty_value = receta::SplitParamOverride("name=");
  REQUIRE(empty_value.ok());
  CHECK(empty_value->second == "");
  CHECK(receta::SplitParamOverride("seed").error() ==
        "-p 'seed' is not of the form NAME=VALUE, e.g. -p seed=7");
  CHECK_FALSE(receta::SplitParamOverride("=7").ok());
}

// --- templates -----------------------------------------------------------

TEST_CASE("DagTemplates.RenderParamsStepNameAndRunId") {
  LoadedDag loaded = LoadOk(R"(
params: {seed: 42, split: val}
steps:
  train:
    run: python3 train.py --seed {{ params.seed }} --name {{step.name}} --run {{run.id}}
    env: {SEED: "{{params.seed}}", RUN: "{{run.id}}", LITERAL: "{{ '{{' }}x"}
    outputs: ["out/{{step.name}}/{{params.split}}.csv"]
)",
                            {}, {{"seed", "7"}});
  const Dag& dag = *loaded.dag;
  const Step& train = StepNamed(loaded, "train");
  CHECK(receta::RenderStepCommand(dag, train, "run-20260101-1") ==
        "python3 train.py --seed 7 --name train --run run-20260101-1");
  CHECK(receta::RenderStepEnv(dag, train, "run-9") ==
        std::map<std::string, std::string>{{"LITERAL", "{{x"}, {"RUN", "run-9"}, {"SEED", "7"}});
  // Paths are rendered once, at load.
  CHECK(train.outputs == Names{"out/train/val.csv"});
  CHECK(train.run.find("{{ params.seed }}") != std::string::npos);  // kept as written

  // The cache key sees the run id as written, never a real one.
  receta::CacheKeyInputs key = receta::StepCacheKeyInputs(dag, train, {});
  CHECK(key.command == "python3 train.py --seed 7 --name train --run {{run.id}}");
  CHECK(key.env.at("RUN") == "{{run.id}}");
  CHECK(key.env.at("SEED") == "7");
}

TEST_CASE("DagTemplates.VisibleParamsAreDeclaredOrElseReferenced") {
  LoadedDag loaded = LoadOk(R"(
params: {seed: 42, lr: 0.1, epochs: 10, unused: x, split: a}
steps:
  referenced:
    run: train --lr {{params.lr}} --seed {{params.seed}}
    env: {EPOCHS: "{{params.epochs}}"}
    outputs: ["data/{{params.split}}.csv"]
  declared:
    run: train --seed {{params.seed}}
    params: [seed, unused]
  none:
    run: echo hello
  declared_empty:
    run: echo hello
    params: []
)");
  // Sorted, from run, env and paths alike.
  CHECK(StepNamed(loaded, "referenced").visible_params == Names{"epochs", "lr", "seed", "split"});
  CHECK_FALSE(StepNamed(loaded, "referenced").declares_params);
  // Declaring widens what a step sees (e.g. a param its script reads itself).
  CHECK(StepNamed(loaded, "declared").visible_params == Names{"seed", "unused"});
  CHECK(StepNamed(loaded, "declared").declares_params);
  CHECK(StepNamed(loaded, "none").visible_params.empty());
  CHECK(StepNamed(loaded, "declared_empty").visible_params.empty());
  CHECK(StepNamed(loaded, "declared_empty").declares_params);
}

// --- settings: cache, defaults -------------------------------------------

TEST_CASE("DagSettings.DeployStepsAreNotCachedByDefault") {
  LoadedDag loaded = LoadOk(R"(
steps:
  train: {kind: train, run: echo}
  deploy: {kind: deploy, run: echo}
  deploy_cached: {kind: deploy, run: echo, cache: true}
  train_uncached: {kind: train, run: echo, cache: false}
)");
  CHECK(StepNamed(loaded, "train").cache);
  CHECK_FALSE(StepNamed(loaded, "deploy").cache);
  CHECK(StepNamed(loaded, "deploy_cached").cache);
  CHECK_FALSE(StepNamed(loaded, "train_uncached").cache);
  CHECK(StepNamed(loaded, "train").kind == receta::StepKind::kTrain);
  CHECK(LoadOk("steps: {s: {run: echo}}").dag->steps[0].kind == receta::StepKind::kDataPrep);
}

TEST_CASE("DagSettings.DefaultsCacheAppliesToEveryStepUnlessItSaysOtherwise") {
  LoadedDag loaded = LoadOk(R"(
defaults: {cache: false}
steps:
  train: {kind: train, run: echo}
  evaluate: {kind: evaluate, run: echo, cache: true}
)");
  CHECK_FALSE(StepNamed(loaded, "train").cache);
  CHECK(StepNamed(loaded, "evaluate").cache);
}

TEST_CASE("DagSettings.DefaultsCacheTrueDoesNotCacheDeploySteps") {
  LoadedDag loaded = LoadOk(R"(
defaults: {cache: true}
steps:
  deploy: {kind: deploy, run: echo}
  deploy_cached: {kind: deploy, run: echo, cache: true}
)");
  CHECK_FALSE(StepNamed(loaded, "deploy").cache);
  CHECK(StepNamed(loaded, "deploy_cached").cache);
}

TEST_CASE("DagSettings.StepsInheritDefaultsAndTheirOwnSettingsWin") {
  // `defaults` after `steps` still applies: it is read first, whatever the order.
  LoadedDag loaded = LoadOk(R"(
steps:
  inherits:
    run: echo
  overrides:
    run: echo
    retries: 0
    timeout: 1h30m
    resources: {memory: 4G, gpus: 1}
    labels: [gpu]
    env: {B: "3", C: "4"}
defaults:
  retries: 2
  retry_backoff: 10s
  timeout: 30m
  resources: {cpus: 2, memory: 1G}
  labels: [cpu]
  env: {A: "1", B: "2"}
)");
  const Step& inherits = StepNamed(loaded, "inherits");
  CHECK(inherits.retries == 2);
  CHECK(inherits.retry_backoff_ms == 10'000);
  CHECK(inherits.timeout_ms == 30 * 60'000);
  CHECK(inherits.resources.cpus == 2);
  CHECK(inherits.resources.memory_bytes == int64_t{1} << 30);
  CHECK(inherits.resources.gpus == 0);
  CHECK(inherits.labels == Names{"cpu"});
  CHECK(inherits.env == std::map<std::string, std::string>{{"A", "1"}, {"B", "2"}});

  const Step& overrides = StepNamed(loaded, "overrides");
  CHECK(overrides.retries == 0);
  CHECK(overrides.retry_backoff_ms == 10'000);
  CHECK(overrides.timeout_ms == 90 * 60'000);
  CHECK(overrides.resources.cpus == 2);  // resources merge key by key
  CHECK(overrides.resources.memory_bytes == int64_t{4} << 30);
  CHECK(overrides.resources.gpus == 1);
  CHECK(overrides.labels == Names{"gpu"});  // a list replaces the default list
  CHECK(overrides.env ==                    // env merges name by name
        std::map<std::string, std::string>{{"A", "1"}, {"B", "3"}, {"C", "4"}});
}

TEST_CASE("DagSettings.BuiltInDefaultsWhenTheFileSetsNone") {
  const Step& step = LoadOk("steps: {s: {run: echo}}").dag->steps[0];
  CHECK(step.retries == 0);
  CHECK(step.retry_backoff_ms == 5'000);
  CHECK(step.timeout_ms == 0);
  CHECK(step.resources.cpus == 1);
  CHECK(step.resources.memory_bytes == 0);
  CHECK(step.cache);
  CHECK(step.cache_version.empty());
}

// --- edges ---------------------------------------------------------------

TEST_CASE("DagGraph.InfersEdgeFromInputEqualToOutput") {
  LoadedDag loaded = LoadOk(R"(
steps:
  prepare: {run: echo, outputs: [data/train.csv, data/test.csv]}
  train: {run: echo, inputs: [src/train.py, ./data//train.csv]}
  unrelated: {run: echo, inputs: [data/train.csv.bak]}
)",
                            {"src/train.py", "data/train.csv.bak"});
  CHECK(Upstream(loaded, "train") == Names{"prepare (data/train.csv)"});
  // A longer name is not inside the output: no edge, the workspace file is read.
  CHECK(Upstream(loaded, "unrelated").empty());
  const auto& producers = loaded.graph.input_producers[loaded.dag->FindStep("train")];
  CHECK(producers[0].empty());  // src/train.py: a workspace file
  CHECK(producers[1] == std::vector<int>{0});
}

TEST_CASE("DagGraph.InfersEdgeFromInputInsideAnOutputDirectory") {
  LoadedDag loaded = LoadOk(R"(
steps:
  prepare: {run: echo, outputs: [data/splits]}
  train: {run: echo, inputs: [data/splits/train.csv]}
  sibling: {run: echo, inputs: [data/splits_old/train.csv]}
)",
                            {"data/splits_old/train.csv"});
  CHECK(Upstream(loaded, "train") == Names{"prepare (data/splits/train.csv)"});
  CHECK(Upstream(loaded, "sibling").empty());
}

TEST_CASE("DagGraph.InfersEdgesFromAnInputDirectoryHoldingOutputs") {
  LoadedDag loaded = LoadOk(R"(
steps:
  train_a: {run: echo, outputs: [sweep/a/model.pkl]}
  train_b: {run: echo, outputs: [sweep/b/model.pkl]}
  other: {run: echo, outputs: [sweeps/c/model.pkl]}
  select: {run: echo, inputs: [sweep]}
)");
  CHECK(Upstream(loaded, "select") == Names{"train_a (sweep)", "train_b (sweep)"});
  CHECK(loaded.graph.input_producers[loaded.dag->FindStep("select")][0] == std::vector<int>{0, 1});
}

TEST_CASE("DagGraph.NeedsAndInputsToTheSameStepMakeOneEdge") {
  LoadedDag loaded = LoadOk(R"(
steps:
  evaluate: {run: echo, outputs: [metrics.json]}
  deploy: {run: echo, needs: [evaluate], inputs: [metrics.json]}
)");
  CHECK(Upstream(loaded, "deploy") == Names{"evaluate (needs)"});
}

TEST_CASE("DagGraph.GatedByIsTransitive") {
  LoadedDag loaded = LoadOk(R"(
steps:
  check_data:
    run: echo
    outputs: [data/stats.json, data/clean.csv]
    metrics: data/stats.json
    gate: rows > 1000
  train:
    run: echo
    inputs: [data/clean.csv]
    outputs: [model.pkl]
  evaluate:
    run: echo
    inputs: [model.pkl]
    outputs: [eval.json]
    metrics: eval.json
    gate: accuracy >= 0.9
  package:
    run: echo
    inputs: [model.pkl]
  deploy:
    needs: [evaluate, package]
    run: echo
  report:
    run: echo
)");
  CHECK(GatedBy(loaded, "check_data").empty());  // its own gate does not block it
  CHECK(GatedBy(loaded, "train") == Names{"check_data"});
  CHECK(GatedBy(loaded, "evaluate") == Names{"check_data"});
  CHECK(GatedBy(loaded, "package") == Names{"check_data"});
  CHECK(GatedBy(loaded, "deploy") == Names{"check_data", "evaluate"});
  CHECK(GatedBy(loaded, "report").empty());
}

TEST_CASE("DagGraph.TopologicalOrderKeepsFileOrderAmongTies") {
  LoadedDag independent = LoadOk(R"(
steps:
  zebra: {run: echo}
  yak: {run: echo}
  ant: {run: echo}
)");
  CHECK(Order(independent) == Names{"zebra", "yak", "ant"});

  LoadedDag diamond = LoadOk(R"(
steps:
  last: {run: echo, needs: [right, left]}
  root: {run: echo}
  right: {run: echo, needs: [root]}
  left: {run: echo, needs: [root]}
  loner: {run: echo}
)");
  // Ready steps run in file order: root and loner are ready at once, but
  // root comes first in the file; right before left, as written.
  CHECK(Order(diamond) == Names{"root", "right", "left", "last", "loner"});
  CHECK(diamond.graph.layer == std::vector<int>{2, 0, 1, 1, 0});
}

// --- paths ---------------------------------------------------------------

TEST_CASE("WorkspacePath.NormalisesToOneSpelling") {
  auto normalize = [](const char* path) {
    auto result = receta::NormalizeWorkspacePath(path);
    REQUIRE_MESSAGE(result.ok(), path << ": " << result.error().message);
    return result.value();
  };
  CHECK(normalize("./a//b/") == "a/b");
  CHECK(normalize("a/./b/../c") == "a/c");
  CHECK(normalize("data/train.csv") == "data/train.csv");
  CHECK(normalize("a/..//b") == "b");
  CHECK_FALSE(receta::NormalizeWorkspacePath("").ok());
  CHECK_FALSE(receta::NormalizeWorkspacePath("a/../..").ok());
  CHECK_FALSE(receta::NormalizeWorkspacePath(".").ok());

  CHECK(receta::PathIsWithin("model/a.pkl", "model"));
  CHECK(receta::PathIsWithin("model", "model"));
  CHECK_FALSE(receta::PathIsWithin("models/a.pkl", "model"));
  CHECK_FALSE(receta::PathIsWithin("model", "model/a.pkl"));

  LoadedDag loaded = LoadOk(R"(
steps:
  s: {run: echo, inputs: [./src//prepare.py, src/./lib/], outputs: [out/./x/../y/]}
)",
                            {"src/prepare.py", "src/lib/util.py"});
  CHECK(loaded.dag->steps[0].inputs == Names{"src/prepare.py", "src/lib"});
  CHECK(loaded.dag->steps[0].outputs == Names{"out/y"});
}

TEST_CASE("DagParams.Yaml12BooleansInAnyCaseAreBooleans") {
  LoadedDag loaded = LoadOk(R"(
x-shared: &shared
  retries: 3
params: {amp: True, fast: FALSE, name: "True"}
steps:
  a:
    <<: *shared
    run: echo {{params.amp}} {{params.fast}} {{params.name}}
)");
  const auto& params = loaded.dag->params;
  CHECK(params.at("amp").type == receta::ParamValue::Type::kBool);
  CHECK(params.at("fast").type == receta::ParamValue::Type::kBool);
  CHECK(params.at("name").type == receta::ParamValue::Type::kString);
  // x- keys hold shared anchors and are otherwise ignored.
  CHECK(loaded.dag->steps[0].retries == 3);
}
