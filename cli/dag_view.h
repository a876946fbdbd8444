#pragma once
// DagView: a loaded DAG as `dag show` presents it: steps in topological
// order with rendered commands, where each input comes from, and each
// step's cache-key inputs. Built once, printed as text or JSON.

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/cache/cache_key.h"
#include "common/dag/dag_load.h"
#include "common/status.h"

namespace receta::cli {

struct InputView {
  std::string path;
  std::vector<std::string> producers;  // steps writing it; empty: a workspace file
  std::string digest;                  // hex, workspace inputs only
  std::string digest_error;            // why the digest could not be taken
};

struct StepView {
  const Step* step = nullptr;
  int index = 0;  // into Dag::steps and the DagGraph's per-step vectors
  std::string command;
  std::map<std::string, std::string> env;
  std::vector<InputView> inputs;
  std::vector<std::string> upstream;  // step names, in DAG order
  std::vector<std::string> gated_by;  // gate steps that must pass first
  int layer = 0;
  CacheKeyInputs key_inputs;  // upstream outputs' digests shown as "<output of STEP>"
  /// Set when every input is a workspace file, so the key is known now.
  std::optional<std::string> cache_key;
};

/// Digest (hex) of a workspace path, given relative to the workspace root.
using DigestFunction = std::function<Result<std::string>(const std::string& path)>;

/// Views of every step of a DAG that loaded without errors, in topological
/// order.
std::vector<StepView> BuildStepViews(const LoadedDag& loaded, const DigestFunction& digest_of);

std::string FormatDagText(const LoadedDag& loaded, const std::vector<StepView>& views);
std::string FormatDagJson(const LoadedDag& loaded, const std::vector<StepView>& views);

}  // namespace receta::cli
