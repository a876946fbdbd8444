#pragma once
// ParseDag: YAML text -> Dag. It checks everything that can be judged one
// key at a time (unknown keys, types, units, paths, templates, gate syntax).
// Checks across steps (edges, cycles, outputs, inputs on disk) belong to
// ValidateDag; LoadDag (dag_load.h) runs both.

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/dag/dag.h"
#include "common/dag/diagnostic.h"
#include "common/dag/yaml_reader.h"

namespace receta {

struct ParseOptions {
  /// `-p name=value` pairs, applied over the file's defaults.
  std::vector<std::pair<std::string, std::string>> param_overrides;
  /// Name used when the file has no `name:` (usually the file's stem).
  std::string default_name = "dag";
  YamlLimits limits;
};

/// Adds a diagnostic for every problem found and returns the DAG as far as
/// it could be read (nothing if the text is not a YAML map at all).
std::optional<Dag> ParseDag(const std::string& text, const ParseOptions& options,
                            Diagnostics& diagnostics);

}  // namespace receta
