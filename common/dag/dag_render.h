#pragma once
// What a step will run: its command and env with templates substituted, and
// the inputs of its cache key. Pure.

#include <map>
#include <string>

#include "common/cache/cache_key.h"
#include "common/dag/dag.h"

namespace receta {

/// Stands in for the run id where none exists yet (dag show, cache keys):
/// the reference itself, as written.
inline constexpr const char* kRunIdUnrendered = "{{run.id}}";

/// `step.run` with params, {{step.name}} and `run_id` substituted. The DAG
/// must have loaded without errors (its templates are then known good).
std::string RenderStepCommand(const Dag& dag, const Step& step, const std::string& run_id);

/// `step.env` with each value rendered like the command.
std::map<std::string, std::string> RenderStepEnv(const Dag& dag, const Step& step,
                                                 const std::string& run_id);

/// The cache-key inputs of `step`; `input_digests` maps each input path to
/// its digest (hex) as known at the moment the step is ready.
CacheKeyInputs StepCacheKeyInputs(const Dag& dag, const Step& step,
                                  std::map<std::string, std::string> input_digests);

}  // namespace receta
