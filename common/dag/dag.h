#pragma once
// The DAG model: what a user's YAML file says once parsed and normalised.
// Plain data, no I/O. Produced by ParseDag (dag_parser.h), checked by
// ValidateDag (dag_validate.h), ordered by BuildDagGraph (dag_graph.h).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/lang/gate.h"

namespace receta {

/// Where something was written in the DAG file; 1-based, 0 when unknown.
struct SourceLocation {
  int line = 0;
  int column = 0;
};

enum class StepKind { kDataPrep, kTrain, kEvaluate, kDeploy };

/// "data-prep", "train", "evaluate", "deploy".
const char* StepKindName(StepKind kind);
std::optional<StepKind> ParseStepKind(const std::string& text);

/// A DAG parameter's value. `text` is canonical (what templates render);
/// `type` is fixed by the default in the file, and overrides must match it.
struct ParamValue {
  enum class Type { kString, kInt, kFloat, kBool };
  Type type = Type::kString;
  std::string text;
};
const char* ParamTypeName(ParamValue::Type type);

struct Resources {
  double cpus = 1;
  int64_t memory_bytes = 0;  // 0: no claim
  int gpus = 0;
};

/// An alert sink and the events it fires on (issue #4 delivers them).
struct AlertSpec {
  std::vector<std::string> on;  // failure, retry, gate_failed, success, worker_lost, timeout
  std::string webhook;          // HTTP(S) URL, or empty
  std::string command;          // shell command, or empty
  SourceLocation location;
};

/// Which failures of a step's own making are retried: exit codes, and
/// whether a timeout is. Empty: any failure (exit code, timeout, missing
/// output).
struct RetryOn {
  std::vector<int> exit_codes;
  bool timeout = false;
  bool any() const { return exit_codes.empty() && !timeout; }
  bool operator==(const RetryOn&) const = default;
};

/// Settings a step inherits unless it sets its own.
struct StepDefaults {
  int retries = 0;
  int64_t retry_backoff_ms = 5'000;
  RetryOn retry_on;
  int64_t timeout_ms = 0;  // 0: no timeout
  Resources resources;
  std::vector<std::string> labels;
  std::map<std::string, std::string> env;
  std::optional<bool> cache;
};

struct Step {
  std::string name;
  StepKind kind = StepKind::kDataPrep;
  std::string description;
  std::string run;  // the command template, as written
  /// Workspace-relative, normalised ("a/b", never "./a/" or "a//b").
  std::vector<std::string> inputs;
  std::vector<std::string> outputs;
  std::vector<std::string> needs;
  std::map<std::string, std::string> env;  // values are templates
  Resources resources;
  std::vector<std::string> labels;
  int retries = 0;
  int64_t retry_backoff_ms = 0;
  RetryOn retry_on;
  int64_t timeout_ms = 0;
  bool cache = true;
  std::string cache_version;
  std::string metrics;  // workspace-relative path of the metrics JSON, or empty
  std::optional<GateExpr> gate;
  std::string gate_text;
  /// The DAG params this step can see: those it declares in `params:`, or
  /// when it declares none, those its templates reference. Sorted.
  std::vector<std::string> visible_params;
  bool declares_params = false;
  std::vector<AlertSpec> alerts;

  SourceLocation location;                              // of the step's name
  std::map<std::string, SourceLocation> key_locations;  // of each key's value
  /// Where each input/output entry was written (same index as the vectors).
  std::vector<SourceLocation> input_locations;
  std::vector<SourceLocation> output_locations;
  std::vector<SourceLocation> need_locations;

  SourceLocation LocationOf(const std::string& key) const;
};

struct Dag {
  std::string file;  // as given by the user, for error messages
  std::string name;
  std::string description;
  std::map<std::string, ParamValue> params;
  std::map<std::string, SourceLocation> param_locations;
  StepDefaults defaults;
  std::vector<AlertSpec> alerts;
  std::vector<Step> steps;  // in file order

  /// Index into steps, or -1.
  int FindStep(const std::string& name) const;
};

}  // namespace receta
