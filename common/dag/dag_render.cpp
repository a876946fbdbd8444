#include "common/dag/dag_render.h"

#include "common/dag/step_templates.h"
#include "common/lang/template.h"

namespace receta {
namespace {

std::string Render(const Dag& dag, const Step& step, const std::string& text,
                   const std::string& run_id) {
  TextResult<std::string> rendered = RenderTemplate(text, StepTemplateContext(dag, step, run_id));
  // Why: a DAG that loaded has had every template checked; falling back to
  // the raw text keeps a bug visible in output rather than crashing.
  return rendered.ok() ? rendered.value() : text;
}

}  // namespace

std::string RenderStepCommand(const Dag& dag, const Step& step, const std::string& run_id) {
  return Render(dag, step, step.run, run_id);
}

std::map<std::string, std::string> RenderStepEnv(const Dag& dag, const Step& step,
                                                 const std::string& run_id) {
  std::map<std::string, std::string> env;
  for (const auto& [name, value] : step.env) env[name] = Render(dag, step, value, run_id);
  return env;
}

CacheKeyInputs StepCacheKeyInputs(const Dag& dag, const Step& step,
                                  std::map<std::string, std::string> input_digests) {
  CacheKeyInputs inputs;
  inputs.command = RenderStepCommand(dag, step, kRunIdUnrendered);
  inputs.env = RenderStepEnv(dag, step, kRunIdUnrendered);
  for (const std::string& name : step.visible_params) {
    auto it = dag.params.find(name);
    if (it != dag.params.end()) inputs.params[name] = it->second;
  }
  inputs.input_digests = std::move(input_digests);
  inputs.cache_version = step.cache_version;
  return inputs;
}

}  // namespace receta
