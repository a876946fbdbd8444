#include "common/dag/dag_keys.h"

#include <cstdio>
#include <cstdlib>

namespace receta {

const std::vector<const char*>& StepKindNames() {
  static const std::vector<const char*> kNames = {"data-prep", "train", "evaluate", "deploy"};
  return kNames;
}

const std::vector<const char*>& AlertEventNames() {
  static const std::vector<const char*> kNames = {"failure", "retry",       "gate_failed",
                                                  "success", "worker_lost", "timeout"};
  return kNames;
}

const std::vector<KeySpec>& ResourcesKeys() {
  static const std::vector<KeySpec> kKeys = {
      {"cpus", KeyType::kNumber, "CPU cores the step needs (may be fractional); default 1"},
      {"memory", KeyType::kSize, "Memory the step needs, e.g. 512M or 4G"},
      {"gpus", KeyType::kInteger, "GPUs the step needs; default 0", nullptr, nullptr, 1024},
  };
  return kKeys;
}

const std::vector<KeySpec>& AlertKeys() {
  static const std::vector<KeySpec> kKeys = {
      {"on", KeyType::kEnumList, "Events that raise this alert", nullptr, &AlertEventNames()},
      {"webhook", KeyType::kString, "URL that receives an HTTP POST of the alert as JSON"},
      {"command", KeyType::kString,
       "Shell command run on the scheduler host with the alert JSON on stdin"},
  };
  return kKeys;
}

const std::vector<KeySpec>& DefaultsKeys() {
  static const std::vector<KeySpec> kKeys = {
      {"retries", KeyType::kInteger, "Retries after a failure of the step's own making", nullptr,
       nullptr, 100},
      {"retry_backoff", KeyType::kDuration, "First wait before a retry; doubles each time"},
      {"retry_on", KeyType::kRetryOn,
       "Failures that are retried: exit codes and `timeout`; default any failure"},
      {"timeout", KeyType::kDuration, "Longest a step may run before it is killed"},
      {"resources", KeyType::kObject, "CPUs, memory and GPUs a step needs", &ResourcesKeys()},
      {"labels", KeyType::kStringList, "Worker labels a step requires"},
      {"env", KeyType::kStringMap, "Environment variables set for every step"},
      {"cache", KeyType::kBoolean, "Whether step outputs are cached by input hash"},
  };
  return kKeys;
}

const std::vector<KeySpec>& StepKeys() {
  static const std::vector<KeySpec> kKeys = {
      {"kind", KeyType::kEnum, "What the step does: data-prep, train, evaluate or deploy", nullptr,
       &StepKindNames()},
      {"description", KeyType::kString, "What the step is for"},
      {"run", KeyType::kString,
       "Shell command; may use {{params.NAME}}, {{run.id}} and {{step.name}}"},
      {"inputs", KeyType::kStringList,
       "Workspace files or directories, or other steps' outputs, the step reads"},
      {"outputs", KeyType::kStringList, "Files or directories the step writes"},
      {"needs", KeyType::kStringList, "Steps that must finish first, besides those inferred"},
      {"env", KeyType::kStringMap, "Environment variables for the command"},
      {"resources", KeyType::kObject, "CPUs, memory and GPUs the step needs", &ResourcesKeys()},
      {"labels", KeyType::kStringList, "Labels a worker must have to run the step"},
      {"retries", KeyType::kInteger, "Retries after a failure of the step's own making", nullptr,
       nullptr, 100},
      {"retry_backoff", KeyType::kDuration, "First wait before a retry; doubles each time"},
      {"retry_on", KeyType::kRetryOn,
       "Failures that are retried: exit codes and `timeout`; default any failure"},
      {"timeout", KeyType::kDuration, "Longest the step may run before it is killed"},
      {"cache", KeyType::kBoolean, "Whether outputs are cached; deploy steps default to false"},
      {"cache_version", KeyType::kScalar, "Change it to invalidate cached results of this step"},
      {"metrics", KeyType::kString, "Path of the metrics JSON the step writes (an output)"},
      {"gate", KeyType::kGate,
       "Condition on metrics that must hold for downstream steps to run, "
       "e.g. accuracy >= 0.9 and eval.f1 > 0.8"},
      {"params", KeyType::kStringList,
       "DAG params the step sees (part of its cache key); default: those it references"},
      {"alerts", KeyType::kObjectList, "Alerts for this step only", &AlertKeys()},
  };
  return kKeys;
}

const std::vector<KeySpec>& DagKeys() {
  static const std::vector<KeySpec> kKeys = {
      {"name", KeyType::kString, "Name of the pipeline; default: the file name"},
      {"description", KeyType::kString, "What the pipeline does"},
      {"params", KeyType::kParamMap, "Parameters with their defaults; override with -p NAME=VALUE"},
      {"defaults", KeyType::kObject, "Settings every step inherits", &DefaultsKeys()},
      {"alerts", KeyType::kObjectList, "Where to send alerts, and on which events", &AlertKeys()},
      {"steps", KeyType::kStepMap, "The steps, by name", &StepKeys()},
  };
  return kKeys;
}

const KeySpec& FindKeySpec(const std::vector<KeySpec>& keys, const std::string& name) {
  for (const KeySpec& key : keys) {
    if (name == key.name) return key;
  }
  std::fprintf(stderr, "receta: fatal: no DAG key '%s' [this is a bug]\n", name.c_str());
  std::abort();
}

std::vector<std::string> KeyNames(const std::vector<KeySpec>& keys) {
  std::vector<std::string> names;
  names.reserve(keys.size());
  for (const KeySpec& key : keys) names.push_back(key.name);
  return names;
}

}  // namespace receta
