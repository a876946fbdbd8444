#pragma once
// Template checks for the parser: every {{...}} in a step's `run`, `env`
// values and paths must be well formed and name a defined param. Also
// records which params each step references (its visible params by default).

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/dag/dag.h"
#include "common/dag/yaml_reader.h"
#include "common/lang/template.h"

namespace receta {

class StepTemplates {
 public:
  /// `dag` must have its params read before any Check.
  StepTemplates(YamlReader& reader, const Dag& dag) : reader_(reader), dag_(dag) {}

  /// Reports every malformed reference and undefined param in the scalar
  /// `node`, located at the reference. Returns true when all are fine.
  bool Check(const YAML::Node& node, const std::string& what, const std::string& step_name);

  /// A path with params and {{step.name}} substituted; {{run.id}} is an
  /// error here, since a path that changes every run defeats caching.
  std::optional<std::string> RenderPath(const YAML::Node& node, const std::string& what,
                                        const std::string& step_name);

  /// Params referenced by the step's checked texts, sorted.
  std::vector<std::string> ParamsUsedBy(const std::string& step_name) const;

 private:
  YamlReader& reader_;
  const Dag& dag_;
  std::map<std::string, std::set<std::string>> params_used_;
};

/// The context that renders `step`'s texts: the DAG's params, its name and
/// `run_id` (pass "{{run.id}}" to keep the reference as written).
TemplateContext StepTemplateContext(const Dag& dag, const Step& step, const std::string& run_id);

}  // namespace receta
