// Lints: valid DAGs that will run, but probably not as meant. They come
// back as warnings, never as errors.

#include <doctest/doctest.h>

#include <algorithm>
#include <string>

#include "common/dag/dag_load.h"

using receta::LoadDagText;
using receta::LoadedDag;
using receta::MemoryFileSystem;

namespace {

LoadedDag Load(const std::string& yaml) {
  MemoryFileSystem workspace;
  workspace.AddFile("src/train.py");
  workspace.AddFile("src/evaluate.py");
  return LoadDagText(yaml, "lint.yaml", {}, workspace);
}

}  // namespace

TEST_CASE("DagLint.WarnsOfDeployStepBehindNoGate") {
  LoadedDag loaded = Load(R"(steps:
  train:
    run: python3 src/train.py
    inputs: [src/train.py]
    outputs: [model.pkl]
  deploy:
    kind: deploy
    run: cp model.pkl /srv/models
    inputs: [model.pkl]
)");
  REQUIRE(loaded.ok());
  CHECK(loaded.warnings.Format() ==
        "lint.yaml:6:3: warning: deploy step 'deploy' runs behind no gate, so it deploys "
        "whatever upstream produced; add an evaluate step with `metrics` and a `gate`, and list "
        "it in the deploy step's `needs`\n");
}

TEST_CASE("DagLint.DeployBehindAGateIsQuietAndUngatedOneIsToldWhichGate") {
  std::string dag = R"(steps:
  train:
    run: python3 src/train.py
    inputs: [src/train.py]
    outputs: [model.pkl]
  evaluate:
    kind: evaluate
    run: python3 src/evaluate.py
    inputs: [src/evaluate.py, model.pkl]
    outputs: [metrics.json]
    metrics: metrics.json
    gate: accuracy >= 0.9
  deploy:
    kind: deploy
    needs: [evaluate]
    run: cp model.pkl /srv/models
    inputs: [model.pkl]
)";
  LoadedDag gated = Load(dag);
  REQUIRE(gated.ok());
  CHECK(gated.warnings.empty());

  std::string ungated = dag.substr(0, dag.find("    needs: [evaluate]\n")) +
                        dag.substr(dag.find("    run: cp"));
  LoadedDag loaded = Load(ungated);
  REQUIRE(loaded.ok());
  CHECK(loaded.warnings.Format() ==
        "lint.yaml:13:3: warning: deploy step 'deploy' runs behind no gate, so it deploys "
        "whatever upstream produced; add the gated evaluate step to its `needs`\n");
}

TEST_CASE("DagLint.WarnsOfCachedStepWithNoInputsButNotUncachedOne") {
  LoadedDag loaded = Load(R"(steps:
  download:
    run: curl -o raw.csv https://example.com/raw.csv
    outputs: [raw.csv]
  health:
    run: curl http://localhost:8080/health
    cache: false
)");
  REQUIRE(loaded.ok());
  CHECK(loaded.warnings.Format() ==
        "lint.yaml:2:3: warning: step 'download' reads no declared inputs, so its cache key "
        "covers only its command: once it succeeds it is skipped on every rerun; list the files "
        "it reads in `inputs`, or set `cache: false`\n");
}

TEST_CASE("DagLint.NoWarningsWhenTheDagHasErrors") {
  LoadedDag loaded = Load("steps:\n  a: {run: echo, kind: deploy, needs: [nope]}\n");
  CHECK_FALSE(loaded.ok());
  CHECK(loaded.warnings.empty());
}

TEST_CASE("Diagnostics.FormatShowsTheFirstFiftyAndCountsTheRest") {
  receta::Diagnostics warnings("big.yaml", "warning");
  for (int line = 1; line <= 60; ++line) warnings.Add({line, 3}, "same mistake");
  std::string text = warnings.Format();
  CHECK(std::count(text.begin(), text.end(), '\n') == 51);
  CHECK(text.find("big.yaml:50:3: warning: same mistake\n") != std::string::npos);
  CHECK(text.find("big.yaml:51:3:") == std::string::npos);
  CHECK(text.substr(text.rfind('\n', text.size() - 2) + 1) ==
        "big.yaml: ... and 10 more warnings like these\n");
}
