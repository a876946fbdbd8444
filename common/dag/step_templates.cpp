#include "common/dag/step_templates.h"

#include "common/lang/did_you_mean.h"
#include "common/lang/template.h"

namespace receta {

bool StepTemplates::Check(const YAML::Node& node, const std::string& what,
                          const std::string& step_name) {
  if (!node.IsScalar()) return false;
  bool ok = true;
  std::vector<std::string> defined;
  for (const auto& [name, value] : dag_.params) defined.push_back(name);
  for (const TemplateRef& ref : FindTemplateRefs(node.Scalar())) {
    if (ref.kind == TemplateRefKind::kUnknown) {
      reader_.diagnostics().Add(reader_.LocationInScalar(node, ref.offset),
                                what + ": " + ref.error);
      ok = false;
    } else if (ref.kind == TemplateRefKind::kParam) {
      if (!dag_.params.count(ref.name)) {
        std::string message = what + " uses {{params." + ref.name +
                              "}}, but the DAG has no "
                              "param '" +
                              ref.name + "'" + DidYouMeanSuffix(ref.name, defined) +
                              "; declare it under `params:` with a default";
        reader_.diagnostics().Add(reader_.LocationInScalar(node, ref.offset), message);
        ok = false;
      } else {
        params_used_[step_name].insert(ref.name);
      }
    }
  }
  return ok;
}

std::optional<std::string> StepTemplates::RenderPath(const YAML::Node& node,
                                                     const std::string& what,
                                                     const std::string& step_name) {
  if (!Check(node, what, step_name)) return std::nullopt;
  for (const TemplateRef& ref : FindTemplateRefs(node.Scalar())) {
    if (ref.kind == TemplateRefKind::kRunId) {
      reader_.diagnostics().Add(reader_.LocationInScalar(node, ref.offset),
                                what +
                                    ": paths cannot use {{run.id}}, because a path that "
                                    "changes every run can never be cached or found by "
                                    "the next step; use {{params.NAME}} or a fixed path");
      return std::nullopt;
    }
  }
  Step step;
  step.name = step_name;
  TextResult<std::string> rendered =
      RenderTemplate(node.Scalar(), StepTemplateContext(dag_, step, ""));
  if (!rendered.ok()) {
    reader_.diagnostics().Add(reader_.LocationInScalar(node, rendered.error().offset),
                              what + ": " + rendered.error().message);
    return std::nullopt;
  }
  return rendered.value();
}

std::vector<std::string> StepTemplates::ParamsUsedBy(const std::string& step_name) const {
  auto it = params_used_.find(step_name);
  if (it == params_used_.end()) return {};
  return std::vector<std::string>(it->second.begin(), it->second.end());
}

TemplateContext StepTemplateContext(const Dag& dag, const Step& step, const std::string& run_id) {
  TemplateContext context;
  for (const auto& [name, value] : dag.params) context.params[name] = value.text;
  context.run_id = run_id;
  context.step_name = step.name;
  return context;
}

}  // namespace receta
