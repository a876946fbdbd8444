#include "cli/dag_draw.h"

#include <algorithm>
#include <sstream>

namespace receta::cli {
namespace {

std::string EdgeLabel(const DagEdge& edge) {
  return edge.reason == DagEdge::Reason::kNeeds ? "needs" : edge.path;
}

std::string DrawText(const Dag& dag, const DagGraph& graph) {
  int layers = 0;
  for (int layer : graph.layer) layers = std::max(layers, layer + 1);
  size_t width = 0;
  for (const Step& step : dag.steps) width = std::max(width, step.name.size());
  std::ostringstream out;
  out << dag.name << ": " << dag.steps.size() << " step" << (dag.steps.size() == 1 ? "" : "s")
      << " in " << layers << " layer" << (layers == 1 ? "" : "s") << "\n";
  for (int layer = 0; layer < layers; ++layer) {
    out << (layer == 0 ? "\n" : "     │\n     ▼\n") << "layer " << layer << "\n";
    for (int index : graph.order) {
      if (graph.layer[index] != layer) continue;
      const Step& step = dag.steps[index];
      out << "  ■ " << step.name << std::string(width - step.name.size(), ' ') << "  "
          << StepKindName(step.kind);
      if (!graph.upstream[index].empty()) {
        out << "  ◄ ";
        for (size_t i = 0; i < graph.upstream[index].size(); ++i) {
          out << (i ? ", " : "") << dag.steps[graph.upstream[index][i].from].name;
        }
      }
      if (step.gate) out << "  [gate: " << step.gate_text << "]";
      if (!step.cache) out << "  [no cache]";
      out << "\n";
    }
  }
  return out.str();
}

std::string DotQuote(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

std::string DrawDot(const Dag& dag, const DagGraph& graph) {
  std::ostringstream out;
  out << "digraph " << DotQuote(dag.name) << " {\n";
  out << "  rankdir=LR;\n  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n";
  out << "  edge [fontname=\"Helvetica\", fontsize=10];\n";
  for (int index : graph.order) {
    const Step& step = dag.steps[index];
    std::string label = step.name + "\n" + StepKindName(step.kind);
    if (step.gate) label += "\ngate: " + step.gate_text;
    out << "  " << DotQuote(step.name) << " [label=" << DotQuote(label);
    if (step.gate) out << ", peripheries=2";
    if (step.kind == StepKind::kDeploy) out << ", style=\"rounded,bold\"";
    out << "];\n";
  }
  for (int index : graph.order) {
    for (const DagEdge& edge : graph.upstream[index]) {
      out << "  " << DotQuote(dag.steps[edge.from].name) << " -> "
          << DotQuote(dag.steps[edge.to].name) << " [label=" << DotQuote(EdgeLabel(edge));
      if (edge.reason == DagEdge::Reason::kNeeds) out << ", style=dashed";
      out << "];\n";
    }
  }
  out << "}\n";
  return out.str();
}

// Mermaid labels go inside "..."; quotes become #quot; (Mermaid's entity).
std::string MermaidText(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '"') {
      out += "#quot;";
    } else if (c == '\n') {
      out += "<br/>";
    } else {
      out += c;
    }
  }
  return out;
}

std::string DrawMermaid(const Dag& dag, const DagGraph& graph) {
  std::ostringstream out;
  out << "flowchart LR\n";
  // Why ids s0, s1...: step names may hold '.' and '-', which Mermaid ids
  // cannot; the name is shown as the label instead.
  for (int index : graph.order) {
    const Step& step = dag.steps[index];
    std::string label = step.name + "\n" + StepKindName(step.kind);
    if (step.gate) label += "\ngate: " + step.gate_text;
    out << "  s" << index << (step.gate ? "{{\"" : "[\"") << MermaidText(label)
        << (step.gate ? "\"}}" : "\"]") << "\n";
  }
  for (int index : graph.order) {
    for (const DagEdge& edge : graph.upstream[index]) {
      out << "  s" << edge.from << (edge.reason == DagEdge::Reason::kNeeds ? " -.->" : " -->")
          << "|\"" << MermaidText(EdgeLabel(edge)) << "\"| s" << edge.to << "\n";
    }
  }
  return out.str();
}

}  // namespace

std::string DrawDag(const LoadedDag& loaded, GraphFormat format) {
  switch (format) {
    case GraphFormat::kText:
      return DrawText(*loaded.dag, loaded.graph);
    case GraphFormat::kDot:
      return DrawDot(*loaded.dag, loaded.graph);
    case GraphFormat::kMermaid:
      return DrawMermaid(*loaded.dag, loaded.graph);
  }
  return "";
}

}  // namespace receta::cli
