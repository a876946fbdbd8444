#pragma once
// LoadDag: the whole journey from a DAG file to a checked, ordered DAG, or
// the complete list of what is wrong with it.

#include <optional>
#include <string>

#include "common/dag/dag.h"
#include "common/dag/dag_graph.h"
#include "common/dag/dag_parser.h"
#include "common/dag/diagnostic.h"
#include "common/fs/file_system.h"
#include "common/status.h"

namespace receta {

struct LoadedDag {
  explicit LoadedDag(std::string file) : diagnostics(file), warnings(file, "warning") {}
  std::optional<Dag> dag;  // set when the file was read and parsed at all
  DagGraph graph;
  Diagnostics diagnostics;  // errors: the DAG cannot run
  Diagnostics warnings;     // lints (dag_lint.h), set only when there are no errors
  /// The directory holding the DAG file; workspace paths are relative to it.
  std::string workspace_root;

  bool ok() const { return dag.has_value() && diagnostics.empty(); }
};

/// Parses and validates `text` as if it were the file `file_label` in a
/// workspace seen through `workspace`. Pure given the FileSystem.
LoadedDag LoadDagText(const std::string& text, const std::string& file_label,
                      const ParseOptions& options, const FileSystem& workspace);

/// The name a DAG file without `name:` gets: the file's stem
/// ("dags/iris.yaml" -> "iris").
std::string DagNameFromPath(const std::string& path);

/// The directory holding the DAG file at `path` (its workspace root).
std::string DagDirectory(const std::string& path);

/// The text of the DAG file at `path`; errors say what is wrong with the
/// path (missing, a directory, over `limits.max_bytes`, unreadable).
Result<std::string> ReadDagFile(const std::string& path, const YamlLimits& limits);

/// Checks `text`, read from the DAG file at `path`, against the workspace
/// around it. `options.default_name` is replaced by the file's stem.
LoadedDag LoadDagFileText(const std::string& path, const std::string& text, ParseOptions options);

/// ReadDagFile, then LoadDagFileText; a file that cannot be read is the
/// load's one diagnostic.
LoadedDag LoadDagFile(const std::string& path, ParseOptions options);

}  // namespace receta
