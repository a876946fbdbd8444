#include "scheduler/alert_rules.h"

#include <algorithm>

namespace receta::scheduler {
namespace {

void AddMatching(const std::vector<AlertSpec>& specs, std::string_view event,
                 std::vector<AlertSink>& sinks) {
  for (const AlertSpec& spec : specs) {
    if (std::find(spec.on.begin(), spec.on.end(), event) == spec.on.end()) continue;
    AlertSink sink{spec.webhook, spec.command};
    if (std::find(sinks.begin(), sinks.end(), sink) == sinks.end())
      sinks.push_back(std::move(sink));
  }
}

}  // namespace

std::vector<AlertSink> SinksFor(const Dag& dag, int step, std::string_view event) {
  std::vector<AlertSink> sinks;
  bool run_level = step < 0;
  if (run_level || event != "success") AddMatching(dag.alerts, event, sinks);
  if (!run_level) AddMatching(dag.steps[step].alerts, event, sinks);
  return sinks;
}

}  // namespace receta::scheduler
