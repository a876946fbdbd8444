#pragma once
// DagPlan: what `receta submit` needs from parsing a DAG file (the warnings
// it prints and the workspace files it hashes), kept per DAG file so an
// unchanged DAG is not parsed again on the next submit.
//
// Why: the DAG changes far less often than the code and data it runs (the
// usual loop is edit, resubmit), and parsing is the largest part of a
// submit's own time: 7 ms for 200 steps, 40 ms for 1,001 on a 2-core
// machine. The scheduler parses again anyway (its own cache, by text) and
// checks everything the CLI sends.
//
// The key is everything the parse reads but the workspace: the DAG text,
// its default name (from the file name), the `-p` overrides, and the
// receta binary itself (its size and modification time, so a rebuilt
// parser never reads a plan its predecessor wrote). The workspace is not
// in the key: a plan lists the inputs, and hashing them finds any that is
// missing; the submit then parses after all, for the DAG's own diagnostic.
//
// One file per DAG path in CliCacheDirectory(), JSON, written to a temporary
// file and renamed (not synced: a plan lost or torn by a crash is only a
// miss, since a file that does not parse or carries another key is one).

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

/// The key of parsing `text` with `options`, by this binary. Pure but for
/// one stat of /proc/self/exe.
std::string DagPlanKey(std::string_view text, const ParseOptions& options);

/// Where the plan of the DAG at `dag_path` is kept; "" without a cache
/// directory (no HOME nor XDG_CACHE_HOME).
std::string DagPlanPathFor(const std::string& dag_path);

/// The plan kept at `path` for `key`; nullopt when there is none, it has
/// another key, or the file is not one (never an error: it is a cache).
std::optional<DagPlan> LoadDagPlan(const std::string& path, const std::string& key);

/// Keeps `plan` at `path` for `key` (making the directory). Error with the
/// path and errno text.
Status SaveDagPlan(const std::string& path, const std::string& key, const DagPlan& plan);

}  // namespace receta::cli
