#include "common/dag/dag_parser.h"

#include <algorithm>
#include <limits>
#include <regex>
#include <set>

#include "common/dag/dag_keys.h"
#include "common/dag/params.h"
#include "common/dag/step_templates.h"
#include "common/dag/workspace_path.h"
#include "common/lang/did_you_mean.h"

namespace receta {
namespace {

// What IsValidStepName accepts, for error messages.
constexpr const char* kNameRule =
    "may only use letters, digits, '_', '-' and '.', and must not start with '-' or '.'";

bool IsValidStepName(const std::string& name) {
  static const std::regex kName("[A-Za-z0-9_][A-Za-z0-9_.-]*");
  return name.size() <= 128 && std::regex_match(name, kName);
}

bool IsValidEnvName(const std::string& name) {
  static const std::regex kName("[A-Za-z_][A-Za-z0-9_]*");
  return std::regex_match(name, kName);
}

std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& name : names) out += (out.empty() ? "" : ", ") + name;
  return out;
}

class DagParser {
 public:
  DagParser(const std::string& text, const ParseOptions& options, Diagnostics& diagnostics)
      : options_(options), reader_(text, diagnostics), diagnostics_(diagnostics) {}

  std::optional<Dag> Parse(const std::string& text) {
    std::optional<YAML::Node> root = LoadYaml(text, options_.limits, diagnostics_);
    if (!root) return std::nullopt;
    if (!root->IsDefined() || root->IsNull()) {
      diagnostics_.Add({1, 1},
                       "the DAG is empty; write at least `steps:` with one step "
                       "(`receta dag schema` prints the format)");
      return std::nullopt;
    }
    if (!root->IsMap()) {
      reader_.Error(*root,
                    "a DAG file must be a map with `steps:` (and optionally name, "
                    "params, defaults, alerts), got " +
                        DescribeNodeType(*root));
      return std::nullopt;
    }
    dag_.name = options_.default_name;
    std::vector<MapEntry> entries = Known(*root, "the top level of the DAG", DagKeys(),
                                          /*allow_extensions=*/true);
    const YAML::Node* steps = nullptr;
    // Why: params and defaults must be known before any step is read, whatever
    // order the file lists them in.
    for (const MapEntry& entry : entries) {
      if (entry.key == "params") ReadParams(entry.value);
      if (entry.key == "defaults") ReadDefaults(entry.value);
    }
    // Why here, not in ReadParams: `-p` on a DAG without `params:` is an error too.
    ApplyOverrides();
    for (const MapEntry& entry : entries) {
      if (entry.key == "name") ReadDagName(entry.value);
      if (entry.key == "description") {
        if (auto text = reader_.String(entry.value, "`description`")) dag_.description = *text;
      }
      if (entry.key == "alerts") dag_.alerts = ReadAlerts(entry.value, "the DAG's `alerts`");
      if (entry.key == "steps") steps = &entry.value;
    }
    if (steps == nullptr) {
      diagnostics_.Add(LocationOf(*root),
                       "the DAG has no `steps:`; add at least one step, "
                       "e.g. steps: {hello: {run: echo hello}}");
    } else {
      ReadSteps(*steps);
    }
    return std::move(dag_);
  }

 private:
  // Map entries of `node` whose keys are in `keys`; the rest are reported
  // as unknown, with a did-you-mean.
  // `allow_extensions`: keys starting "x-" are the user's own (as in Docker
  // Compose), a place to keep YAML anchors shared by steps; they are skipped.
  std::vector<MapEntry> Known(const YAML::Node& node, const std::string& where,
                              const std::vector<KeySpec>& keys, bool allow_extensions = false) {
    std::vector<std::string> names = KeyNames(keys);
    std::vector<MapEntry> known;
    for (MapEntry& entry : reader_.MapEntries(node, where)) {
      if (std::find(names.begin(), names.end(), entry.key) != names.end()) {
        known.push_back(std::move(entry));
        continue;
      }
      if (allow_extensions && entry.key.rfind("x-", 0) == 0) continue;
      std::string message = "unknown key '" + entry.key + "' in " + where;
      if (std::optional<std::string> close = ClosestMatch(entry.key, names)) {
        message += "; did you mean '" + *close + "'?";
      } else {
        message += "; valid keys are: " + JoinNames(names);
      }
      diagnostics_.Add(entry.key_location, message);
    }
    return known;
  }

  void ReadDagName(const YAML::Node& node) {
    std::optional<std::string> name = reader_.String(node, "`name`");
    if (!name) return;
    if (!IsValidStepName(*name)) {
      reader_.Error(node, "`name` '" + *name + "' " + kNameRule);
      return;
    }
    dag_.name = *name;
  }

  void ReadParams(const YAML::Node& node) {
    for (const MapEntry& entry : reader_.MapEntries(node, "`params`")) {
      if (!IsValidParamName(entry.key)) {
        diagnostics_.Add(entry.key_location, "param name '" + entry.key +
                                                 "' is not valid; use letters, digits, "
                                                 "'_' and '-', starting with a letter or '_'");
        continue;
      }
      if (!entry.value.IsScalar()) {
        reader_.Error(entry.value, "param '" + entry.key +
                                       "' must have a string, number or "
                                       "boolean default, got " +
                                       DescribeNodeType(entry.value));
        continue;
      }
      dag_.params[entry.key] = ParamFromScalar(entry.value.Scalar(), IsPlainScalar(entry.value));
      dag_.param_locations[entry.key] = entry.key_location;
    }
  }

  void ApplyOverrides() {
    for (const std::string& error : ApplyParamOverrides(options_.param_overrides, dag_.params)) {
      diagnostics_.Add({}, error);
    }
  }

  void ReadResources(const YAML::Node& node, const std::string& where, Resources& resources) {
    for (const MapEntry& entry : Known(node, where, ResourcesKeys())) {
      std::string what = "`" + entry.key + "` in " + where;
      if (entry.key == "cpus") {
        // Why: no lower bound here, so -1 and 0 get the same "more than 0".
        if (auto cpus =
                reader_.Number(entry.value, what, -std::numeric_limits<double>::infinity())) {
          if (*cpus <= 0) {
            reader_.Error(entry.value,
                          what + " must be more than 0, got '" + entry.value.Scalar() + "'");
          } else {
            resources.cpus = *cpus;
          }
        }
      } else if (entry.key == "memory") {
        if (auto bytes = reader_.SizeBytes(entry.value, what)) resources.memory_bytes = *bytes;
      } else if (entry.key == "gpus") {
        if (auto gpus = reader_.Integer(entry.value, what, 0,
                                        FindKeySpec(ResourcesKeys(), "gpus").max_integer)) resources.gpus = *gpus;
      }
    }
  }

  void ReadDefaults(const YAML::Node& node) {
    StepDefaults& defaults = dag_.defaults;
    for (const MapEntry& entry : Known(node, "`defaults`", DefaultsKeys())) {
      std::string what = "`" + entry.key + "` in `defaults`";
      ReadSharedSetting(entry, what, defaults.retries, defaults.retry_backoff_ms,
                        defaults.retry_on, defaults.timeout_ms);
      if (entry.key == "resources") {
        ReadResources(entry.value, "`defaults.resources`", defaults.resources);
      } else if (entry.key == "labels") {
        if (auto labels = reader_.StringList(entry.value, what, nullptr)) defaults.labels = *labels;
      } else if (entry.key == "env") {
        if (auto env = ReadEnv(entry.value, what, "")) defaults.env = *env;
      } else if (entry.key == "cache") {
        if (auto cache = reader_.Boolean(entry.value, what)) defaults.cache = *cache;
      }
    }
  }

  // retries, retry_backoff, retry_on and timeout read the same in defaults
  // and steps.
  void ReadSharedSetting(const MapEntry& entry, const std::string& what, int& retries,
                         int64_t& retry_backoff_ms, RetryOn& retry_on, int64_t& timeout_ms) {
    if (entry.key == "retries") {
      if (auto value = reader_.Integer(entry.value, what, 0,
                                            FindKeySpec(StepKeys(), "retries").max_integer)) retries = *value;
    } else if (entry.key == "retry_backoff") {
      if (auto value = reader_.DurationMs(entry.value, what)) retry_backoff_ms = *value;
    } else if (entry.key == "retry_on") {
      if (auto value = ReadRetryOn(entry.value, what)) retry_on = *value;
    } else if (entry.key == "timeout") {
      if (auto value = reader_.DurationMs(entry.value, what)) {
        if (*value <= 0) {
          reader_.Error(entry.value, what +
                                         " must be longer than 0; leave it out for no "
                                         "timeout");
        } else {
          timeout_ms = *value;
        }
      }
    }
  }

  // A list of exit codes (1-255) and the word `timeout`.
  std::optional<RetryOn> ReadRetryOn(const YAML::Node& node, const std::string& what) {
    std::vector<SourceLocation> locations;
    std::optional<std::vector<std::string>> items = reader_.StringList(node, what, &locations);
    if (!items) return std::nullopt;
    RetryOn retry_on;
    bool ok = true;
    for (size_t i = 0; i < items->size(); ++i) {
      const std::string& item = (*items)[i];
      int code = 0;
      bool numeric = !item.empty() && item.size() <= 3 &&
                     item.find_first_not_of("0123456789") == std::string::npos;
      if (numeric) code = std::stoi(item);
      if (item == "timeout") {
        retry_on.timeout = true;
      } else if (numeric && code >= 1 && code <= 255) {
        retry_on.exit_codes.push_back(code);
      } else {
        diagnostics_.Add(locations[i], "'" + item + "' in " + what +
                                           " is neither an exit code (1 to 255) nor `timeout`; "
                                           "write e.g. retry_on: [1, 137, timeout]");
        ok = false;
      }
    }
    if (!ok) return std::nullopt;
    return retry_on;
  }

  std::optional<std::map<std::string, std::string>> ReadEnv(const YAML::Node& node,
                                                            const std::string& what,
                                                            const std::string& step_name) {
    // One pass: each entry's value, name and templates are checked, so one
    // bad entry does not hide the others' errors.
    std::map<std::string, std::string> env;
    if (node.IsNull()) return env;
    bool ok = node.IsMap();
    for (const MapEntry& entry : reader_.MapEntries(node, what)) {
      std::string entry_what = "'" + entry.key + "' in " + what;
      std::optional<std::string> value = reader_.Scalar(entry.value, entry_what);
      if (!IsValidEnvName(entry.key)) {
        diagnostics_.Add(entry.key_location,
                         entry_what + " is not a valid environment variable name; use letters, "
                                      "digits and '_', not starting with a digit");
      }
      if (!value) {
        ok = false;
        continue;
      }
      templates_.Check(entry.value, entry_what, step_name);
      env[entry.key] = *value;
    }
    if (!ok) return std::nullopt;
    return env;
  }

  std::vector<AlertSpec> ReadAlerts(const YAML::Node& node, const std::string& where) {
    std::vector<AlertSpec> alerts;
    if (!node.IsSequence()) {
      reader_.Error(node, where +
                              " must be a list of alerts, each with `on:` and a `webhook:` "
                              "or `command:`, got " +
                              DescribeNodeType(node));
      return alerts;
    }
    for (auto it = node.begin(); it != node.end(); ++it) {
      AlertSpec alert;
      alert.location = LocationOf(*it);
      std::string what = "an alert in " + where;
      std::set<std::string> present;  // keys given, merge keys (<<) included
      for (const MapEntry& entry : Known(*it, what, AlertKeys())) {
        present.insert(entry.key);
        std::string key_what = "`" + entry.key + "` of " + what;
        if (entry.key == "on") {
          std::vector<SourceLocation> locations;
          auto events = reader_.StringList(entry.value, key_what, &locations);
          if (!events) continue;
          std::vector<std::string> known(AlertEventNames().begin(), AlertEventNames().end());
          for (size_t i = 0; i < events->size(); ++i) {
            const std::string& event = (*events)[i];
            if (std::find(known.begin(), known.end(), event) == known.end()) {
              diagnostics_.Add(locations[i], "'" + event + "' is not an alert event" +
                                                 DidYouMeanSuffix(event, known) +
                                                 "; use one of: " + JoinNames(known));
            } else {
              alert.on.push_back(event);
            }
          }
        } else if (entry.key == "webhook") {
          if (auto url = reader_.String(entry.value, key_what)) {
            templates_.Check(entry.value, key_what, "");
            if (url->rfind("http://", 0) != 0 && url->rfind("https://", 0) != 0) {
              reader_.Error(entry.value, key_what + " is '" + *url +
                                             "', which is not an http:// or https:// URL; "
                                             "give the URL that receives the alert as JSON");
            } else {
              alert.webhook = *url;
            }
          }
        } else if (entry.key == "command") {
          if (auto command = reader_.String(entry.value, key_what)) {
            templates_.Check(entry.value, key_what, "");
            alert.command = *command;
          }
        }
      }
      if (!it->IsMap()) continue;
      if (!present.count("on")) {
        diagnostics_.Add(alert.location, what +
                                             " has no `on:`; list the events that raise "
                                             "it, e.g. on: [failure, gate_failed]");
      }
      if (present.count("webhook") == present.count("command")) {
        diagnostics_.Add(alert.location, what +
                                             " needs exactly one of `webhook:` (a URL) or "
                                             "`command:` (a shell command)");
      }
      alerts.push_back(std::move(alert));
    }
    return alerts;
  }

  void ReadSteps(const YAML::Node& node) {
    if (node.IsNull() || (node.IsMap() && node.size() == 0)) {
      reader_.Error(node, "`steps` is empty; a DAG needs at least one step");
      return;
    }
    if (node.IsSequence()) {
      reader_.Error(node,
                    "`steps` must be a map of step names to steps (name: {run: ...}), "
                    "not a list");
      return;
    }
    for (const MapEntry& entry : reader_.MapEntries(node, "`steps`")) {
      if (!IsValidStepName(entry.key)) {
        diagnostics_.Add(entry.key_location, "step name '" + entry.key + "' " + kNameRule);
        continue;
      }
      ReadStep(entry);
    }
  }

  void ReadStep(const MapEntry& step_entry) {
    Step step;
    step.name = step_entry.key;
    step.location = step_entry.key_location;
    const StepDefaults& defaults = dag_.defaults;
    step.retries = defaults.retries;
    step.retry_backoff_ms = defaults.retry_backoff_ms;
    step.retry_on = defaults.retry_on;
    step.timeout_ms = defaults.timeout_ms;
    step.resources = defaults.resources;
    step.labels = defaults.labels;
    step.env = defaults.env;
    std::string where = "step '" + step.name + "'";
    if (!step_entry.value.IsMap()) {
      diagnostics_.Add(
          step_entry.value.IsNull() ? step.location : LocationOf(step_entry.value),
          where + " must be a map with at least `run:`, got " + DescribeNodeType(step_entry.value));
      dag_.steps.push_back(std::move(step));
      return;
    }
    std::vector<MapEntry> entries = Known(step_entry.value, where, StepKeys());
    const YAML::Node* gate_node = nullptr;
    const YAML::Node* cache_node = nullptr;
    const YAML::Node* params_node = nullptr;
    for (const MapEntry& entry : entries) {
      std::string what = "`" + entry.key + "` of " + where;
      step.key_locations[entry.key] = LocationOf(entry.value);
      ReadSharedSetting(entry, what, step.retries, step.retry_backoff_ms, step.retry_on,
                        step.timeout_ms);
      if (entry.key == "kind") {
        if (auto text = reader_.String(entry.value, what)) {
          if (auto kind = ParseStepKind(*text)) {
            step.kind = *kind;
          } else {
            std::vector<std::string> kinds(StepKindNames().begin(), StepKindNames().end());
            reader_.Error(entry.value, what + " is '" + *text + "'" +
                                           DidYouMeanSuffix(*text, kinds) +
                                           "; use one of: " + JoinNames(kinds));
          }
        }
      } else if (entry.key == "description") {
        if (auto text = reader_.String(entry.value, what)) step.description = *text;
      } else if (entry.key == "run") {
        if (auto text = reader_.String(entry.value, what)) {
          if (text->find_first_not_of(" \t\r\n") == std::string::npos) {
            reader_.Error(entry.value, what + " is empty; give the shell command the step runs");
          } else {
            step.run = *text;
            templates_.Check(entry.value, what, step.name);
          }
        }
      } else if (entry.key == "inputs") {
        ReadPaths(entry.value, what, step.name, step.inputs, step.input_locations);
      } else if (entry.key == "outputs") {
        ReadPaths(entry.value, what, step.name, step.outputs, step.output_locations);
      } else if (entry.key == "needs") {
        if (auto needs = reader_.StringList(entry.value, what, &step.need_locations)) {
          step.needs = *needs;
        }
      } else if (entry.key == "env") {
        if (auto env = ReadEnv(entry.value, what, step.name)) {
          for (auto& [name, value] : *env) step.env[name] = value;
        }
      } else if (entry.key == "resources") {
        ReadResources(entry.value, "`resources` of " + where, step.resources);
      } else if (entry.key == "labels") {
        if (auto labels = reader_.StringList(entry.value, what, nullptr)) step.labels = *labels;
      } else if (entry.key == "cache") {
        cache_node = &entry.value;
      } else if (entry.key == "cache_version") {
        if (auto version = reader_.Scalar(entry.value, what)) step.cache_version = *version;
      } else if (entry.key == "metrics") {
        std::vector<std::string> paths;
        std::vector<SourceLocation> locations;
        if (!entry.value.IsScalar()) {
          reader_.Error(entry.value, what + " must be the path of one JSON file, got " +
                                         DescribeNodeType(entry.value));
        } else {
          ReadPaths(entry.value, what, step.name, paths, locations);
          if (!paths.empty()) step.metrics = paths.front();
        }
      } else if (entry.key == "gate") {
        gate_node = &entry.value;
      } else if (entry.key == "params") {
        params_node = &entry.value;
      } else if (entry.key == "alerts") {
        step.alerts = ReadAlerts(entry.value, "`alerts` of " + where);
      }
    }
    // Why: not step_entry.value["run"], which misses a `run` merged in by `<<`.
    if (std::none_of(entries.begin(), entries.end(),
                     [](const MapEntry& entry) { return entry.key == "run"; })) {
      diagnostics_.Add(step.location, where + " has no `run:`; give the shell command it runs");
    }
    // Why: deploy steps change the world outside the workspace (a model
    // server, a registry), so replaying them from cache would be a lie;
    // only the step's own `cache: true` turns caching on for one.
    step.cache = step.kind != StepKind::kDeploy && defaults.cache.value_or(true);
    if (cache_node) {
      if (auto cache = reader_.Boolean(*cache_node, "`cache` of " + where)) step.cache = *cache;
    }
    if (gate_node) ReadGate(*gate_node, where, step);
    ReadVisibleParams(params_node, where, step);
    dag_.steps.push_back(std::move(step));
  }

  void ReadPaths(const YAML::Node& node, const std::string& what, const std::string& step_name,
                 std::vector<std::string>& paths, std::vector<SourceLocation>& locations) {
    std::vector<SourceLocation> raw_locations;
    auto raw = reader_.StringList(node, what, &raw_locations);
    if (!raw) return;
    std::vector<YAML::Node> items;
    if (node.IsSequence()) {
      for (auto it = node.begin(); it != node.end(); ++it) items.push_back(*it);
    } else {
      items.push_back(node);
    }
    for (size_t i = 0; i < raw->size(); ++i) {
      std::optional<std::string> rendered = templates_.RenderPath(items[i], what, step_name);
      if (!rendered) continue;
      TextResult<std::string> normalized = NormalizeWorkspacePath(*rendered);
      if (!normalized.ok()) {
        diagnostics_.Add(raw_locations[i], what + ": " + normalized.error().message);
        continue;
      }
      paths.push_back(normalized.value());
      locations.push_back(raw_locations[i]);
    }
  }

  void ReadGate(const YAML::Node& node, const std::string& where, Step& step) {
    std::string what = "`gate` of " + where;
    std::optional<std::string> text = reader_.String(node, what);
    if (!text) return;
    TextResult<GateExpr> gate = ParseGate(*text);
    if (!gate.ok()) {
      diagnostics_.Add(reader_.LocationInScalar(node, gate.error().offset),
                       what + " is not a valid gate: " + gate.error().message);
      return;
    }
    step.gate = gate.value();
    step.gate_text = *text;
    if (step.metrics.empty()) {
      reader_.Error(node, where +
                              " has a `gate` but no `metrics`; add `metrics: PATH` naming "
                              "the JSON file the step writes, with the metrics the gate reads");
    }
  }

  void ReadVisibleParams(const YAML::Node* node, const std::string& where, Step& step) {
    std::vector<std::string> referenced = templates_.ParamsUsedBy(step.name);
    std::vector<std::string> defined;
    for (const auto& [name, value] : dag_.params) defined.push_back(name);
    if (node == nullptr) {
      step.visible_params = referenced;
      return;
    }
    step.declares_params = true;
    std::vector<SourceLocation> locations;
    auto declared = reader_.StringList(*node, "`params` of " + where, &locations);
    if (!declared) return;
    std::set<std::string> visible;
    for (size_t i = 0; i < declared->size(); ++i) {
      const std::string& name = (*declared)[i];
      if (!dag_.params.count(name)) {
        diagnostics_.Add(locations[i], "`params` of " + where + " lists '" + name +
                                           "', which is not a DAG param" +
                                           DidYouMeanSuffix(name, defined) +
                                           "; declare it under the top-level `params:`");
        continue;
      }
      visible.insert(name);
    }
    for (const std::string& name : referenced) {
      if (!visible.count(name) && dag_.params.count(name)) {
        diagnostics_.Add(LocationOf(*node), where + " uses {{params." + name +
                                                "}} but its `params` list leaves '" + name +
                                                "' out; add it, so changing it reruns the step");
      }
    }
    step.visible_params.assign(visible.begin(), visible.end());
  }

  const ParseOptions& options_;
  YamlReader reader_;
  Diagnostics& diagnostics_;
  Dag dag_;
  StepTemplates templates_{reader_, dag_};
};

}  // namespace

std::optional<Dag> ParseDag(const std::string& text, const ParseOptions& options,
                            Diagnostics& diagnostics) {
  DagParser parser(text, options, diagnostics);
  return parser.Parse(text);
}

}  // namespace receta
