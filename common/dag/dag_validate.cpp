#include "common/dag/dag_validate.h"

#include <map>

#include "common/dag/workspace_path.h"
#include "common/lang/did_you_mean.h"

namespace receta {
namespace {

struct OutputOwner {
  int step;
  size_t index;
};

SourceLocation OutputLocation(const Step& step, size_t index) {
  return index < step.output_locations.size() ? step.output_locations[index] : step.location;
}

// Candidates for "did you mean": other steps' outputs and the names beside
// the missing path on disk.
std::vector<std::string> NearbyPaths(const Dag& dag, const FileSystem& workspace,
                                     const std::string& path) {
  std::vector<std::string> candidates;
  for (const Step& step : dag.steps) {
    candidates.insert(candidates.end(), step.outputs.begin(), step.outputs.end());
  }
  size_t slash = path.rfind('/');
  std::string parent = slash == std::string::npos ? "" : path.substr(0, slash);
  for (const std::string& name : workspace.List(parent)) {
    candidates.push_back(parent.empty() ? name : parent + "/" + name);
  }
  return candidates;
}

}  // namespace

void ValidateOutputs(const Dag& dag, Diagnostics& diagnostics) {
  std::map<std::string, OutputOwner> owners;
  for (size_t s = 0; s < dag.steps.size(); ++s) {
    const Step& step = dag.steps[s];
    for (size_t k = 0; k < step.outputs.size(); ++k) {
      const std::string& output = step.outputs[k];
      auto [it, inserted] = owners.emplace(output, OutputOwner{static_cast<int>(s), k});
      if (inserted) continue;
      const Step& first = dag.steps[it->second.step];
      if (it->second.step == static_cast<int>(s)) {
        diagnostics.Add(OutputLocation(step, k),
                        "step '" + step.name + "' lists output '" + output + "' twice; remove one");
      } else {
        diagnostics.Add(OutputLocation(step, k),
                        "steps '" + first.name + "' and '" + step.name + "' both write '" + output +
                            "'; each output must have one producer, so rename one "
                            "(e.g. " +
                            step.name + "/" + output + ")");
      }
    }
  }
  // Nesting: look up every directory above each output.
  for (const auto& [output, owner] : owners) {
    for (size_t slash = output.rfind('/'); slash != std::string::npos && slash > 0;
         slash = output.rfind('/', slash - 1)) {
      auto parent = owners.find(output.substr(0, slash));
      if (parent == owners.end()) continue;
      const Step& inner = dag.steps[owner.step];
      const Step& outer = dag.steps[parent->second.step];
      std::string message =
          parent->second.step == owner.step
              ? "step '" + inner.name + "' lists output '" + output + "' inside its own output '" +
                    parent->first + "'; list only '" + parent->first + "'"
              : "output '" + output + "' of step '" + inner.name + "' lies inside output '" +
                    parent->first + "' of step '" + outer.name +
                    "'; a directory output belongs to one step, so move one of them elsewhere";
      diagnostics.Add(OutputLocation(inner, owner.index), message);
      break;
    }
  }
}

void ValidateInputs(const Dag& dag, const DagGraph& graph, const FileSystem& workspace,
                    Diagnostics& diagnostics) {
  for (size_t s = 0; s < dag.steps.size(); ++s) {
    const Step& step = dag.steps[s];
    for (size_t k = 0; k < step.inputs.size(); ++k) {
      const std::string& input = step.inputs[k];
      bool produced = s < graph.input_producers.size() && k < graph.input_producers[s].size() &&
                      !graph.input_producers[s][k].empty();
      if (produced) continue;
      if (workspace.Kind(input) != PathKind::kMissing) continue;
      SourceLocation at = k < step.input_locations.size() ? step.input_locations[k] : step.location;
      diagnostics.Add(at, "input '" + input + "' of step '" + step.name +
                              "' is neither a file in the workspace nor an output of any step" +
                              DidYouMeanSuffix(input, NearbyPaths(dag, workspace, input)) +
                              "; create it, fix the path, or add the step that writes it");
    }
    if (!step.metrics.empty()) {
      bool is_output = false;
      for (const std::string& output : step.outputs) {
        is_output = is_output || PathIsWithin(step.metrics, output);
      }
      if (!is_output) {
        diagnostics.Add(step.LocationOf("metrics"),
                        "`metrics` of step '" + step.name + "' is '" + step.metrics +
                            "', which is not among its outputs; add it to `outputs` so receta "
                            "collects it");
      }
    }
  }
}

}  // namespace receta
