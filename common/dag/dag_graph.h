#pragma once
// The DAG's edges and order. Edges come from `needs` and from inputs that
// are another step's outputs (the same path, a path inside an output
// directory, or a directory that holds outputs). Pure: no file system.

#include <string>
#include <vector>

#include "common/dag/dag.h"
#include "common/dag/diagnostic.h"

namespace receta {

struct DagEdge {
  enum class Reason { kNeeds, kInput };
  int from = 0;  // upstream step index
  int to = 0;    // downstream step index
  Reason reason = Reason::kNeeds;
  std::string path;  // for kInput: the consumer's input path
};

struct DagGraph {
  std::vector<std::vector<DagEdge>> upstream;    // per step: edges into it
  std::vector<std::vector<DagEdge>> downstream;  // per step: edges out of it
  /// Steps in topological order; ties keep file order. Empty if cyclic.
  std::vector<int> order;
  /// Per step: 0 for steps with no upstream, else 1 + the max of upstream.
  std::vector<int> layer;
  /// Per step: the gate steps upstream of it (transitively), whose gates
  /// must pass for it to run. Sorted by index.
  std::vector<std::vector<int>> gated_by;
  /// Per step and input index: the steps producing it (empty: a workspace
  /// file). The step itself appears when it reads its own output, an error.
  std::vector<std::vector<std::vector<int>>> input_producers;
  bool acyclic = false;
};

/// Builds the graph and reports what makes it impossible: `needs` naming
/// no step or the step itself, a step reading its own output, cycles (with
/// the cycle's path). Assumes outputs were checked by ValidateOutputs.
DagGraph BuildDagGraph(const Dag& dag, Diagnostics& diagnostics);

}  // namespace receta
