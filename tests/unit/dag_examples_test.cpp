// The example pipelines under dags/ are documentation users copy from, so
// every one must load cleanly, and the two the README describes must have
// the shape it describes.

#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "common/dag/dag_load.h"

using receta::Dag;
using receta::DagEdge;
using receta::LoadDagFile;
using receta::LoadedDag;
using receta::Step;
using receta::StepKind;

namespace {

std::string DagsDir() { return std::string(RECETA_SOURCE_DIR) + "/dags"; }

LoadedDag LoadExample(const std::string& relative) {
  LoadedDag loaded = LoadDagFile(DagsDir() + "/" + relative, {});
  REQUIRE_MESSAGE(loaded.ok(), loaded.diagnostics.Format());
  return loaded;
}

std::vector<std::string> TopologicalNames(const LoadedDag& loaded) {
  std::vector<std::string> names;
  for (int index : loaded.graph.order) names.push_back(loaded.dag->steps[index].name);
  return names;
}

/// "prepare -> train (data/train.csv)" or "evaluate -> deploy (needs)", for
/// every edge into `step`, in the graph's order.
std::vector<std::string> EdgesInto(const LoadedDag& loaded, const std::string& step) {
  const Dag& dag = *loaded.dag;
  int index = dag.FindStep(step);
  REQUIRE(index >= 0);
  std::vector<std::string> edges;
  for (const DagEdge& edge : loaded.graph.upstream[index]) {
    edges.push_back(dag.steps[edge.from].name + " -> " + step + " (" +
                    (edge.reason == DagEdge::Reason::kNeeds ? "needs" : edge.path) + ")");
  }
  return edges;
}

const Step& StepNamed(const LoadedDag& loaded, const std::string& name) {
  int index = loaded.dag->FindStep(name);
  REQUIRE_MESSAGE(index >= 0, "no step " << name);
  return loaded.dag->steps[index];
}

std::vector<std::string> GatedBy(const LoadedDag& loaded, const std::string& name) {
  std::vector<std::string> names;
  for (int gate : loaded.graph.gated_by[loaded.dag->FindStep(name)]) {
    names.push_back(loaded.dag->steps[gate].name);
  }
  return names;
}

}  // namespace

TEST_CASE("DagExamples.EveryExampleLoadsWithoutDiagnostics") {
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(DagsDir())) {
    std::string extension = entry.path().extension().string();
    if (entry.is_regular_file() && (extension == ".yaml" || extension == ".yml")) {
      files.push_back(entry.path().string());
    }
  }
  std::sort(files.begin(), files.end());
  // The README lists iris and sweep; a new example joins this test by itself.
  REQUIRE(files.size() >= 2);
  for (const std::string& file : files) {
    INFO(file);
    LoadedDag loaded = LoadDagFile(file, {});
    CHECK_MESSAGE(loaded.diagnostics.empty(), loaded.diagnostics.Format());
    REQUIRE(loaded.dag.has_value());
    CHECK(loaded.graph.acyclic);
    CHECK(loaded.graph.order.size() == loaded.dag->steps.size());
  }
}

TEST_CASE("DagExamples.IrisHasTheDocumentedShape") {
  LoadedDag loaded = LoadExample("iris/iris.yaml");
  const Dag& dag = *loaded.dag;
  CHECK(dag.name == "iris");
  CHECK(TopologicalNames(loaded) ==
        std::vector<std::string>{"prepare", "train", "evaluate", "deploy"});
  CHECK(loaded.graph.layer == std::vector<int>{0, 1, 2, 3});

  CHECK(EdgesInto(loaded, "prepare").empty());
  CHECK(EdgesInto(loaded, "train") ==
        std::vector<std::string>{"prepare -> train (data/train.csv)"});
  CHECK(EdgesInto(loaded, "evaluate") ==
        std::vector<std::string>{"train -> evaluate (model/model.pkl)",
                                 "prepare -> evaluate (data/test.csv)"});
  // `needs: [evaluate]` comes first; the input eval/metrics.json adds no
  // second edge from evaluate.
  CHECK(
      EdgesInto(loaded, "deploy") ==
      std::vector<std::string>{"evaluate -> deploy (needs)", "train -> deploy (model/model.pkl)"});

  const Step& evaluate = StepNamed(loaded, "evaluate");
  CHECK(evaluate.kind == StepKind::kEvaluate);
  REQUIRE(evaluate.gate.has_value());
  CHECK(evaluate.gate_text == "accuracy >= 0.9 and macro_f1 >= 0.85");
  CHECK(evaluate.metrics == "eval/metrics.json");

  const Step& deploy = StepNamed(loaded, "deploy");
  CHECK(deploy.kind == StepKind::kDeploy);
  CHECK(deploy.cache);  // opted in: re-deploying the same model is a no-op
  CHECK(StepNamed(loaded, "train").cache);
  CHECK(GatedBy(loaded, "deploy") == std::vector<std::string>{"evaluate"});
  CHECK(GatedBy(loaded, "evaluate").empty());
  CHECK(GatedBy(loaded, "train").empty());

  // Defaults reach every step.
  for (const Step& step : dag.steps) {
    INFO(step.name);
    CHECK(step.retries == 2);
    CHECK(step.retry_backoff_ms == 5'000);
    CHECK(step.timeout_ms == 600'000);
    CHECK(step.resources.memory_bytes == int64_t{1} << 30);
  }
  CHECK(StepNamed(loaded, "prepare").visible_params ==
        std::vector<std::string>{"seed", "test_size"});
  CHECK(dag.params.at("test_size").type == receta::ParamValue::Type::kFloat);
  CHECK(dag.params.at("seed").type == receta::ParamValue::Type::kInt);
  CHECK(loaded.workspace_root == DagsDir() + "/iris");
}

TEST_CASE("DagExamples.SweepRunsFiveTrainStepsInOneLayer") {
  LoadedDag loaded = LoadExample("sweep/sweep.yaml");
  const Dag& dag = *loaded.dag;
  std::vector<std::string> train_steps;
  for (size_t i = 0; i < dag.steps.size(); ++i) {
    if (dag.steps[i].kind != StepKind::kTrain) continue;
    train_steps.push_back(dag.steps[i].name);
    INFO(dag.steps[i].name);
    CHECK(loaded.graph.layer[i] == 1);
    CHECK(EdgesInto(loaded, dag.steps[i].name).size() == 1);  // only prepare
    CHECK(dag.steps[i].visible_params == std::vector<std::string>{"max_iter"});
  }
  CHECK(train_steps == std::vector<std::string>{"train_c_0_001", "train_c_0_01", "train_c_0_1",
                                                "train_c_1", "train_c_10"});
  // Nothing else shares their layer: they are the parallel fan-out.
  CHECK(std::count(loaded.graph.layer.begin(), loaded.graph.layer.end(), 1) == 5);
  CHECK(TopologicalNames(loaded) ==
        std::vector<std::string>{"prepare", "train_c_0_001", "train_c_0_01", "train_c_0_1",
                                 "train_c_1", "train_c_10", "select", "deploy"});
  CHECK(loaded.graph.layer[dag.FindStep("select")] == 2);
  CHECK(EdgesInto(loaded, "select").size() == 6);  // five candidates and prepare's test split
  CHECK(GatedBy(loaded, "deploy") == std::vector<std::string>{"select"});
  CHECK_FALSE(StepNamed(loaded, "deploy").cache);
}

TEST_CASE("DagExamples.MissingFileAndDirectoryAreClearErrors") {
  LoadedDag missing = LoadDagFile(DagsDir() + "/iris/nope.yaml", {});
  CHECK(missing.diagnostics.Format() ==
        DagsDir() +
            "/iris/nope.yaml: error: cannot open the DAG file: No such file or "
            "directory; check the path\n");
  LoadedDag directory = LoadDagFile(DagsDir() + "/iris", {});
  CHECK(directory.diagnostics.Format() ==
        DagsDir() + "/iris: error: this is a directory; give the DAG's YAML file, e.g. " +
            DagsDir() + "/iris/pipeline.yaml\n");
}
