#pragma once
// AlertRules: which sinks an event reaches. Pure.
//
// DAG-level `alerts:` hear about every step and the run; a step's own
// `alerts:` hear about that step only. `success` is the one event that
// means different things at the two levels: at DAG level the run
// succeeded, at step level the step did (a DAG-level success alert per
// step would be noise).

#include <string_view>
#include <vector>

#include "common/dag/dag.h"
#include "scheduler/alert.h"

namespace receta::scheduler {

/// Sinks for `event` of step `step` (an index into dag.steps), or of the
/// run when `step` is -1. Each sink once, DAG-level first.
std::vector<AlertSink> SinksFor(const Dag& dag, int step, std::string_view event);

}  // namespace receta::scheduler
