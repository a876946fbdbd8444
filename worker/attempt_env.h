#pragma once
// The environment a step's command sees. Pure: the worker's own environment
// is passed in, so tests need not touch the process's.
//
// What a step gets, in order of precedence (later wins):
//   1. from the worker's environment, only kInheritedVariables (PATH, HOME,
//      USER, LOGNAME, LANG, TMPDIR, TZ): enough for `python3` to be found and
//      behave; nothing else leaks in, so a step sees the same variables on
//      every worker. PATH falls back to kDefaultPath when the worker has none.
//   2. PYTHONUNBUFFERED=1 unless the step sets it: Python buffers stdout on a
//      pipe, which would hold back the live log until the step ends. It does
//      not change what a step computes.
//   3. the step's declared env (Dispatch.env; part of its cache key);
//   4. RECETA_RUN_ID, RECETA_STEP, RECETA_ATTEMPT (cannot be overridden).

#include <map>
#include <string>
#include <string_view>

#include "common/protocol/messages.h"
#include "common/status.h"

namespace receta::worker {

inline constexpr const char* kInheritedVariables[] = {"PATH", "HOME",   "USER", "LOGNAME",
                                                       "LANG", "TMPDIR", "TZ"};
inline constexpr const char* kDefaultPath = "/usr/local/bin:/usr/bin:/bin";

/// The attempt number of an attempt id "<run_id>.<step index>-<N>": the
/// digits after the last '-'. An id without such a suffix is an error.
Result<std::string> AttemptNumber(std::string_view attempt_id);

/// The complete environment for `dispatch`'s command. `worker_env` is the
/// worker's own environment (only kInheritedVariables are read from it).
std::map<std::string, std::string> BuildAttemptEnv(
    const protocol::Dispatch& dispatch, const std::map<std::string, std::string>& worker_env);

/// The current process's environment as a map (for BuildAttemptEnv).
std::map<std::string, std::string> CurrentEnvironment();

/// Ok when `attempt_id` can name a sandbox directory: 1-200 characters of
/// [A-Za-z0-9._-], not starting with '.'.
Status ValidateAttemptId(std::string_view attempt_id);

}  // namespace receta::worker
