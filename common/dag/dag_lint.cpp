#include "common/dag/dag_lint.h"

namespace receta {

void LintDag(const Dag& dag, const DagGraph& graph, Diagnostics& warnings) {
  if (!graph.acyclic) return;
  bool has_gate = false;
  for (const Step& step : dag.steps) has_gate = has_gate || step.gate.has_value();
  for (size_t i = 0; i < dag.steps.size(); ++i) {
    const Step& step = dag.steps[i];
    if (step.kind == StepKind::kDeploy && graph.gated_by[i].empty()) {
      warnings.Add(step.location,
                   "deploy step '" + step.name + "' runs behind no gate, so it deploys whatever "
                   "upstream produced; " +
                       (has_gate ? "add the gated evaluate step to its `needs`"
                                 : "add an evaluate step with `metrics` and a `gate`, and "
                                   "list it in the deploy step's `needs`"));
    }
    if (step.cache && step.inputs.empty()) {
      warnings.Add(step.location,
                   "step '" + step.name + "' reads no declared inputs, so its cache key covers "
                   "only its command: once it succeeds it is skipped on every rerun; list the "
                   "files it reads in `inputs`, or set `cache: false`");
    }
  }
}

}  // namespace receta
