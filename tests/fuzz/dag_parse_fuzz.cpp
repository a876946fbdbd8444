// libFuzzer target for the DAG language: any bytes given as a DAG file must
// load or fail with diagnostics, never crash, hang or exhaust memory; a DAG
// that loads must be ordered, and rendering it and keying its steps must
// work. Seed it with the example DAGs (see tests/fuzz/README.md):
//   mkdir -p /tmp/dag-corpus && cp dags/*/*.yaml /tmp/dag-corpus/
//   build-fuzz/tests/fuzz/dag_parse_fuzz -max_total_time=60 /tmp/dag-corpus

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/cache/cache_key.h"
#include "common/dag/dag_load.h"
#include "common/dag/dag_render.h"

namespace {

const receta::MemoryFileSystem& Workspace() {
  static const receta::MemoryFileSystem* workspace = [] {
    auto* fs = new receta::MemoryFileSystem;
    for (const char* path : {"src/prepare.py", "src/train.py", "src/evaluate.py",
                             "src/deploy.py", "src/select.py", "src/iris_common.py",
                             "src/sweep_common.py", "data/raw.csv"}) {
      fs->AddFile(path);
    }
    return fs;
  }();
  return *workspace;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  receta::ParseOptions options;
  // Why smaller limits than the defaults: the defaults admit 4M nodes, which
  // under ASan takes seconds per alias bomb and starves the search. The
  // limit logic is the same at any size.
  options.limits.max_expanded_nodes = 100'000;
  options.limits.max_bytes = 1 << 20;
  receta::LoadedDag loaded = receta::LoadDagText(text, "fuzz.yaml", options, Workspace());
  std::string report = loaded.diagnostics.Format();
  if (!loaded.dag.has_value() && loaded.diagnostics.empty()) __builtin_trap();
  if (!loaded.ok()) return 0;

  const receta::Dag& dag = *loaded.dag;
  if (loaded.graph.order.size() != dag.steps.size() || !loaded.graph.acyclic) __builtin_trap();
  for (int index : loaded.graph.order) {
    const receta::Step& step = dag.steps[index];
    (void)receta::RenderStepCommand(dag, step, "run-1");
    (void)receta::RenderStepEnv(dag, step, "run-1");
    std::map<std::string, std::string> digests;
    for (const std::string& input : step.inputs) digests[input] = "00";
    receta::CacheKeyInputs key = receta::StepCacheKeyInputs(dag, step, digests);
    // A run id must never reach a cache key.
    if (key.command != receta::RenderStepCommand(dag, step, receta::kRunIdUnrendered)) {
      __builtin_trap();
    }
    (void)receta::ComputeCacheKey(key);
  }
  return 0;
}
