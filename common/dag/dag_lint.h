#pragma once
// Lints: DAGs that are valid and will run, but probably not as their author
// meant. They are warnings, printed by `receta dag validate`; they never
// stop a run.

#include "common/dag/dag.h"
#include "common/dag/dag_graph.h"
#include "common/dag/diagnostic.h"

namespace receta {

/// Adds a warning for each deploy step that no gate guards, and for each
/// cached step whose key can never change because it reads no inputs.
void LintDag(const Dag& dag, const DagGraph& graph, Diagnostics& warnings);

}  // namespace receta
