#pragma once
// The CLI verbs that talk to the scheduler. Like commands.h: results on
// `out`, problems on `err`, the exit code returned (0 success, 1 a failure
// the scheduler reported or could not be reached, 2 usage error).

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "cli/scheduler_client.h"

namespace receta::cli {

struct SubmitArgs {
  ClientArgs client;
  std::string file;
  std::vector<std::string> params;  // "-p key=value" texts
  bool no_cache = false;
  bool wait = false;
};
/// `receta submit`. Prints the run id alone on `out` (progress on `err`);
/// with --wait then follows the run like watch. `tty`: `out` is a terminal.
int SubmitCommand(const SubmitArgs& args, std::ostream& out, std::ostream& err, bool tty);

struct RunsArgs {
  ClientArgs client;
  uint32_t limit = 20;
  std::string dag;
};
/// `receta runs`: the newest `limit` runs (of `dag` if set) as a table, or
/// the scheduler's runs_json with --json.
int RunsCommand(const RunsArgs& args, std::ostream& out, std::ostream& err);

/// `receta status RUN`: one line per step (state, attempts, worker,
/// duration, why it waits or failed), or run_json with --json.
int StatusCommand(const ClientArgs& client, const std::string& run_id, std::ostream& out,
                  std::ostream& err);

/// Follows the run to its end; 0 only if it succeeded.
int WatchCommand(const ClientArgs& client, const std::string& run_id, std::ostream& out,
                 std::ostream& err, bool tty);

struct LogsArgs {
  ClientArgs client;
  std::string run_id;
  std::string step;
  int attempt = 0;  // 0: the latest
  bool follow = false;
};
/// `receta logs RUN STEP`: the attempt's output as it was captured; with
/// -f keeps long-polling until the attempt ends. 2 for --attempt below 1.
int LogsCommand(const LogsArgs& args, std::ostream& out, std::ostream& err);

struct EventsArgs {
  ClientArgs client;
  std::string run_id;  // empty: every run's events, and worker events
  uint64_t since = 0;  // print events with seq > since
  bool follow = false;
};
/// `receta events`: the event log after --since, one line per event (with
/// --json the scheduler's arrays); with -f keeps long-polling for new ones
/// until interrupted. 1 for an unknown run.
int EventsCommand(const EventsArgs& args, std::ostream& out, std::ostream& err);

/// `receta cancel RUN`: asks the scheduler to cancel the run and prints how
/// many steps it stopped.
int CancelCommand(const ClientArgs& client, const std::string& run_id, std::ostream& out,
                  std::ostream& err);

/// `receta retry RUN [STEP]`: reopens a failed or cancelled run (its failed,
/// skipped and cancelled steps, or STEP and what is downstream of it) and
/// prints how many steps run again.
int RetryCommand(const ClientArgs& client, const std::string& run_id, const std::string& step,
                 std::ostream& out, std::ostream& err);

/// `receta workers`: the registered workers as a table, or workers_json.
int WorkersCommand(const ClientArgs& client, std::ostream& out, std::ostream& err);

/// `receta artifacts ls RUN [STEP]`: the run's output files (of `step` if
/// set) as a table, or artifacts_json.
int ArtifactsLsCommand(const ClientArgs& client, const std::string& run_id, const std::string& step,
                       std::ostream& out, std::ostream& err);

struct ArtifactGetArgs {
  ClientArgs client;
  std::string run_id;
  std::string step;
  std::string path;
  std::string output;  // -o; empty: the artifact's file name in the current directory
};
/// `receta artifacts get RUN STEP PATH`: downloads one artifact (verified
/// by digest) to args.output; the error lists the step's artifacts when
/// PATH is not one of them.
int ArtifactsGetCommand(const ArtifactGetArgs& args, std::ostream& out, std::ostream& err);

/// `receta cache ls`: the cache entries as a table, or entries_json.
int CacheLsCommand(const ClientArgs& client, std::ostream& out, std::ostream& err);

struct CacheRmArgs {
  ClientArgs client;
  std::string key;  // a full key or a unique prefix of one
  std::string dag;
  std::string step;
};
/// `receta cache rm`: removes the entry whose key is (or starts with)
/// args.key, or every entry of --dag/--step. 2 unless exactly one of the two
/// forms is given.
int CacheRmCommand(const CacheRmArgs& args, std::ostream& out, std::ostream& err);

/// `receta cache gc`: removes the CAS blobs that no cache entry, no
/// unfinished run and none of the newest `keep_runs` runs (0: the
/// scheduler's default) refer to, and prints what it freed.
int CacheGcCommand(const ClientArgs& client, uint32_t keep_runs, std::ostream& out,
                   std::ostream& err);

/// The watch loop on an open connection, shared by watch and submit --wait:
/// snapshot, then events after its event_seq until the run ends. With
/// `json`, prints only the final run_json. 0 if the run succeeded, else 1.
int FollowRun(SchedulerClient& client, const std::string& run_id, std::ostream& out,
              std::ostream& err, bool tty, bool json);

}  // namespace receta::cli
