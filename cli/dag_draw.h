#pragma once
// Drawings of a DAG's shape: layered text for the terminal, Graphviz dot
// and Mermaid flowcharts for documents. Pure: strings in, strings out.

#include <string>

#include "common/dag/dag_load.h"

namespace receta::cli {

enum class GraphFormat { kText, kDot, kMermaid };

/// Draws a DAG that loaded without errors.
std::string DrawDag(const LoadedDag& loaded, GraphFormat format);

}  // namespace receta::cli
