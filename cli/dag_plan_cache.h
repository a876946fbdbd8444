#pragma once
// DagPlan: what `receta submit` needs from parsing a DAG file (the warnings
// it prints and the workspace files it hashes), kept by what the parse
// reads so an unchanged DAG is not parsed again on the next submit, from
// the same checkout or another one.
//
// Why: the DAG changes far less often than the code and data it runs (the
// usual loop is edit, resubmit), and parsing is the largest part of a
// submit's own time: 7 ms for 200 steps, 40 ms for 1,001 on a 2-core
// machine. The scheduler parses again anyway (its own cache, by text) and
// checks everything the CLI sends.
//
// The key is everything the parse reads but the workspace: the DAG text,
// the DAG file's path as given (the warnings name it), its default name
// (from the file name), the `-p` overrides, and the receta binary itself
// (its size and modification time, so a rebuilt parser never reads a plan
// its predecessor wrote). The workspace is not in the key: a plan lists the
// inputs, and hashing them finds any that is missing; the submit then
// parses after all, for the DAG's own diagnostic.
//
// Why by key, not by the DAG file's absolute path: a fresh checkout or
// worktree of the same pipeline (CI jobs, a colleague's branch, a bench
// workspace) submits the same text from a new directory, and parsing a DAG
// of 1,000 steps is most of the CLI's time before its first step runs.
//
// One file per key in CliCacheDirectory(), JSON, written to a temporary
// file and renamed (not synced: a plan lost or torn by a crash is only a
// miss, since a file that does not parse or carries another key is one).
// At most kMaxDagPlans are kept: each edit of a DAG makes a new key, and
// the least recently used plans go when a new one is saved.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/dag/dag_parser.h"
#include "common/status.h"

namespace receta::cli {

struct DagPlan {
  std::string warnings;                  // as printed (Diagnostics::Format)
  std::vector<std::string> input_paths;  // WorkspaceInputPaths of the parse
  bool operator==(const DagPlan&) const = default;
};

/// Plan files kept at most in the cache directory.
constexpr size_t kMaxDagPlans = 64;

/// The key of parsing `text`, read from `dag_file` (as given on the command
/// line), with `options`, by this binary. Pure but for one stat of
/// /proc/self/exe.
std::string DagPlanKey(std::string_view dag_file, std::string_view text,
                       const ParseOptions& options);

/// Where the plan for `key` is kept; "" without a cache directory (no HOME
/// nor XDG_CACHE_HOME).
std::string DagPlanPathFor(const std::string& key);

/// The plan kept at `path` for `key`; nullopt when there is none, it has
/// another key, or the file is not one (never an error: it is a cache).
/// A plan found is marked used (its modification time), for pruning.
std::optional<DagPlan> LoadDagPlan(const std::string& path, const std::string& key);

/// Keeps `plan` at `path` for `key` (making the directory), then removes
/// the least recently used plan files beside it beyond `max_plans`. Error
/// with the path and errno text (pruning never fails the save).
Status SaveDagPlan(const std::string& path, const std::string& key, const DagPlan& plan,
                   size_t max_plans = kMaxDagPlans);

}  // namespace receta::cli
