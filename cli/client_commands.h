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
int RunsCommand(const RunsArgs& args, std::ostream& out, std::ostream& err);

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
int LogsCommand(const LogsArgs& args, std::ostream& out, std::ostream& err);

int CancelCommand(const ClientArgs& client, const std::string& run_id, std::ostream& out,
                  std::ostream& err);

int WorkersCommand(const ClientArgs& client, std::ostream& out, std::ostream& err);

int ArtifactsLsCommand(const ClientArgs& client, const std::string& run_id, const std::string& step,
                       std::ostream& out, std::ostream& err);

struct ArtifactGetArgs {
  ClientArgs client;
  std::string run_id;
  std::string step;
  std::string path;
  std::string output;  // -o; empty: the artifact's file name in the current directory
};
int ArtifactsGetCommand(const ArtifactGetArgs& args, std::ostream& out, std::ostream& err);

int CacheLsCommand(const ClientArgs& client, std::ostream& out, std::ostream& err);

struct CacheRmArgs {
  ClientArgs client;
  std::string key;  // a full key or a unique prefix of one
  std::string dag;
  std::string step;
};
int CacheRmCommand(const CacheRmArgs& args, std::ostream& out, std::ostream& err);

int CacheGcCommand(const ClientArgs& client, uint32_t keep_runs, std::ostream& out,
                   std::ostream& err);

/// The watch loop on an open connection, shared by watch and submit --wait:
/// snapshot, then events after its event_seq until the run ends. With
/// `json`, prints only the final run_json. 0 if the run succeeded, else 1.
int FollowRun(SchedulerClient& client, const std::string& run_id, std::ostream& out,
              std::ostream& err, bool tty, bool json);

}  // namespace receta::cli
