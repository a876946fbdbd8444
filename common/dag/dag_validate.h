#pragma once
// Checks across steps that need the whole DAG, or the workspace on disk:
// outputs written twice or nested in another step's output, metrics files
// that are not outputs, inputs that nothing provides.

#include "common/dag/dag.h"
#include "common/dag/dag_graph.h"
#include "common/dag/diagnostic.h"
#include "common/fs/file_system.h"

namespace receta {

/// Two steps writing the same output, or one output inside another step's
/// (or the same step's) output. Run before BuildDagGraph.
void ValidateOutputs(const Dag& dag, Diagnostics& diagnostics);

/// Inputs with no producer must exist in the workspace; metrics files must
/// be among their step's outputs.
void ValidateInputs(const Dag& dag, const DagGraph& graph, const FileSystem& workspace,
                    Diagnostics& diagnostics);

}  // namespace receta
