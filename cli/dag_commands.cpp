#include <ostream>

#include "cli/commands.h"
#include "cli/dag_draw.h"
#include "cli/dag_view.h"
#include "common/dag/dag_load.h"
#include "common/dag/dag_schema.h"
#include "common/dag/params.h"
#include "common/hash/tree_hash.h"

namespace receta::cli {
namespace {

// Loads the DAG named by `args`; on any problem prints every error, sets
// `exit_code` (2 for a malformed -p, 1 for a bad DAG) and returns nothing.
std::optional<LoadedDag> LoadOrReport(const DagFileArgs& args, std::ostream& err, int& exit_code) {
  ParseOptions options;
  bool usage_ok = true;
  for (const std::string& text : args.params) {
    Result<std::pair<std::string, std::string>> split = SplitParamOverride(text);
    if (!split.ok()) {
      err << "receta: " << split.error() << "\n";
      usage_ok = false;
      continue;
    }
    options.param_overrides.push_back(split.value());
  }
  if (!usage_ok) {
    exit_code = 2;
    return std::nullopt;
  }
  LoadedDag loaded = LoadDagFile(args.file, options);
  if (!loaded.ok()) {
    err << loaded.diagnostics.Format();
    size_t count = loaded.diagnostics.size();
    err << count << " error" << (count == 1 ? "" : "s") << " in " << args.file << "\n";
    exit_code = 1;
    return std::nullopt;
  }
  // Why on stderr: stdout of show and graph is data (JSON, dot) for pipes.
  err << loaded.warnings.Format();
  return loaded;
}

}  // namespace

int DagValidate(const DagFileArgs& args, std::ostream& out, std::ostream& err) {
  int exit_code = 0;
  std::optional<LoadedDag> loaded = LoadOrReport(args, err, exit_code);
  if (!loaded) return exit_code;
  const Dag& dag = *loaded->dag;
  size_t edges = 0;
  int layers = 0;
  for (size_t i = 0; i < dag.steps.size(); ++i) {
    edges += loaded->graph.upstream[i].size();
    layers = std::max(layers, loaded->graph.layer[i] + 1);
  }
  size_t gates = 0;
  for (const Step& step : dag.steps) gates += step.gate ? 1 : 0;
  out << args.file << ": ok: DAG '" << dag.name << "', " << dag.steps.size() << " step"
      << (dag.steps.size() == 1 ? "" : "s") << ", " << edges << " edge" << (edges == 1 ? "" : "s")
      << ", " << layers << " layer" << (layers == 1 ? "" : "s") << ", " << gates << " gate"
      << (gates == 1 ? "" : "s") << ", " << dag.params.size() << " param"
      << (dag.params.size() == 1 ? "" : "s");
  size_t warnings = loaded->warnings.size();
  if (warnings > 0) out << "; " << warnings << " warning" << (warnings == 1 ? "" : "s") << " above";
  out << "\n";
  return 0;
}

int DagShow(const DagFileArgs& args, bool json, std::ostream& out, std::ostream& err) {
  int exit_code = 0;
  std::optional<LoadedDag> loaded = LoadOrReport(args, err, exit_code);
  if (!loaded) return exit_code;
  std::string root = loaded->workspace_root;
  std::vector<StepView> views =
      BuildStepViews(*loaded, [&root](const std::string& path) -> Result<std::string> {
        Result<Digest> digest = HashPath(root + "/" + path, nullptr);
        if (!digest.ok()) return digest.status();
        return digest->ToHex();
      });
  out << (json ? FormatDagJson(*loaded, views) : FormatDagText(*loaded, views));
  return 0;
}

int DagGraph(const DagFileArgs& args, const std::string& format, std::ostream& out,
             std::ostream& err) {
  GraphFormat graph_format;
  if (format == "text") {
    graph_format = GraphFormat::kText;
  } else if (format == "dot") {
    graph_format = GraphFormat::kDot;
  } else if (format == "mermaid") {
    graph_format = GraphFormat::kMermaid;
  } else {
    err << "receta: --format '" << format << "' is not known; use text, dot or mermaid\n";
    return 2;
  }
  int exit_code = 0;
  std::optional<LoadedDag> loaded = LoadOrReport(args, err, exit_code);
  if (!loaded) return exit_code;
  out << DrawDag(*loaded, graph_format);
  return 0;
}

int DagSchema(std::ostream& out) {
  out << DagJsonSchema();
  return 0;
}

}  // namespace receta::cli
