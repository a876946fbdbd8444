#include "cli/client_app.h"

#include <unistd.h>

#include <iostream>

namespace receta::cli {
namespace {

void AddClientOptions(CLI::App* command, ClientArgs& args, bool json = true) {
  command->add_option("--scheduler", args.scheduler,
                      "Scheduler endpoint, e.g. tcp://127.0.0.1:7700 (default: $RECETA_SCHEDULER, "
                      "then ./.receta/scheduler.endpoint, then tcp://127.0.0.1:7700)");
  if (json) command->add_flag("--json", args.json, "Print the scheduler's JSON document");
}

}  // namespace

void AddClientVerbs(CLI::App& app, ClientVerbs& v) {
  v.submit_cmd = app.add_subcommand("submit", "Upload a DAG's workspace inputs and start a run");
  v.submit_cmd->add_option("FILE", v.submit.file, "The DAG's YAML file")->required();
  v.submit_cmd
      ->add_option("-p,--param", v.submit.params,
                   "Override a param: -p NAME=VALUE (typed like its default); repeatable")
      ->allow_extra_args(false);
  v.submit_cmd->add_flag("--no-cache", v.submit.no_cache, "Run every step, even cached ones");
  v.submit_cmd->add_flag("--wait", v.submit.wait,
                         "Follow the run like `watch`; exit 0 only if it succeeded");
  AddClientOptions(v.submit_cmd, v.submit.client);

  v.runs_cmd = app.add_subcommand("runs", "Recent runs, newest first");
  v.runs_cmd->add_option("--limit", v.runs.limit, "How many runs to show")
      ->capture_default_str()
      ->check(CLI::Range(1u, 100000u));
  v.runs_cmd->add_option("--dag", v.runs.dag, "Only runs of this DAG");
  AddClientOptions(v.runs_cmd, v.runs.client);

  v.status_cmd =
      app.add_subcommand("status", "A run's steps: state, worker, duration, cache, errors");
  v.status_cmd->add_option("RUN", v.status_run, "Run id (see `receta runs`)")->required();
  AddClientOptions(v.status_cmd, v.status_client);

  v.watch_cmd = app.add_subcommand("watch", "Follow a run live until it ends");
  v.watch_cmd->add_option("RUN", v.watch_run, "Run id")->required();
  AddClientOptions(v.watch_cmd, v.watch_client);

  v.logs_cmd = app.add_subcommand("logs", "A step's output (stdout and stderr interleaved)");
  v.logs_cmd->add_option("RUN", v.logs.run_id, "Run id")->required();
  v.logs_cmd->add_option("STEP", v.logs.step, "Step name")->required();
  v.logs_cmd->add_option("--attempt", v.logs.attempt, "Attempt number (default: the latest)")
      ->check(CLI::Range(1, 1000000));
  v.logs_cmd->add_flag("-f,--follow", v.logs.follow, "Keep printing until the attempt ends");
  AddClientOptions(v.logs_cmd, v.logs.client, /*json=*/false);

  v.events_cmd = app.add_subcommand("events", "The event log: every transition, by sequence number");
  v.events_cmd->add_option("--run", v.events.run_id, "Only this run's events");
  v.events_cmd->add_option("--since", v.events.since, "Only events after this sequence number")
      ->capture_default_str();
  v.events_cmd->add_flag("-f,--follow", v.events.follow, "Keep printing new events (Ctrl-C stops)");
  AddClientOptions(v.events_cmd, v.events.client);

  v.cancel_cmd = app.add_subcommand("cancel", "Cancel a run: stop its running steps");
  v.cancel_cmd->add_option("RUN", v.cancel_run, "Run id")->required();
  AddClientOptions(v.cancel_cmd, v.cancel_client, /*json=*/false);

  v.retry_cmd = app.add_subcommand(
      "retry", "Resume a failed or cancelled run: its failed, skipped and cancelled steps run again; "
               "succeeded and cached steps keep their results");
  v.retry_cmd->add_option("RUN", v.retry_run, "Run id")->required();
  v.retry_cmd->add_option("STEP", v.retry_step, "Only this step and the steps downstream of it");
  AddClientOptions(v.retry_cmd, v.retry_client, /*json=*/false);

  v.workers_cmd = app.add_subcommand("workers", "Registered workers, their slots and heartbeats");
  AddClientOptions(v.workers_cmd, v.workers_client);

  CLI::App* artifacts = app.add_subcommand("artifacts", "List and fetch the files steps made");
  artifacts->require_subcommand(1);
  v.artifacts_ls_cmd = artifacts->add_subcommand("ls", "A run's output files");
  v.artifacts_ls_cmd->add_option("RUN", v.artifacts_ls_run, "Run id")->required();
  v.artifacts_ls_cmd->add_option("STEP", v.artifacts_ls_step, "Only this step's files");
  AddClientOptions(v.artifacts_ls_cmd, v.artifacts_ls_client);
  v.artifacts_get_cmd = artifacts->add_subcommand("get", "Download one output file");
  v.artifacts_get_cmd->add_option("RUN", v.artifacts_get.run_id, "Run id")->required();
  v.artifacts_get_cmd->add_option("STEP", v.artifacts_get.step, "Step name")->required();
  v.artifacts_get_cmd->add_option("PATH", v.artifacts_get.path, "The file's path, as `ls` shows it")
      ->required();
  v.artifacts_get_cmd->add_option("-o,--output", v.artifacts_get.output,
                                  "Where to write it: a file, or - for stdout (default: its file name, here)");
  AddClientOptions(v.artifacts_get_cmd, v.artifacts_get.client, /*json=*/false);

  CLI::App* cache = app.add_subcommand("cache", "Inspect and prune the step cache");
  cache->require_subcommand(1);
  v.cache_ls_cmd = cache->add_subcommand("ls", "Cache entries");
  AddClientOptions(v.cache_ls_cmd, v.cache_ls_client);
  v.cache_rm_cmd = cache->add_subcommand("rm", "Remove cache entries: KEY, or --dag D --step S");
  v.cache_rm_cmd->add_option("KEY", v.cache_rm.key, "A cache key, or a unique prefix of one");
  v.cache_rm_cmd->add_option("--dag", v.cache_rm.dag, "DAG name (with --step)");
  v.cache_rm_cmd->add_option("--step", v.cache_rm.step, "Step name (with --dag)");
  AddClientOptions(v.cache_rm_cmd, v.cache_rm.client, /*json=*/false);
  v.cache_gc_cmd = cache->add_subcommand(
      "gc", "Delete stored blobs that no cache entry or recent run references");
  v.cache_gc_cmd->add_option("--keep-runs", v.cache_gc_keep_runs,
                             "Keep the blobs of this many newest runs (default: the scheduler's)");
  AddClientOptions(v.cache_gc_cmd, v.cache_gc_client);
}

std::optional<int> RunClientVerb(const ClientVerbs& v) {
  std::ostream& out = std::cout;
  std::ostream& err = std::cerr;
  const bool tty = ::isatty(STDOUT_FILENO) == 1;
  // submit --wait draws its live view on stderr (stdout is the run id).
  if (v.submit_cmd->parsed()) return SubmitCommand(v.submit, out, err, ::isatty(STDERR_FILENO) == 1);
  if (v.runs_cmd->parsed()) return RunsCommand(v.runs, out, err);
  if (v.status_cmd->parsed()) return StatusCommand(v.status_client, v.status_run, out, err);
  if (v.watch_cmd->parsed()) return WatchCommand(v.watch_client, v.watch_run, out, err, tty);
  if (v.logs_cmd->parsed()) return LogsCommand(v.logs, out, err);
  if (v.cancel_cmd->parsed()) return CancelCommand(v.cancel_client, v.cancel_run, out, err);
  if (v.retry_cmd->parsed()) return RetryCommand(v.retry_client, v.retry_run, v.retry_step, out, err);
  if (v.events_cmd->parsed()) return EventsCommand(v.events, out, err);
  if (v.workers_cmd->parsed()) return WorkersCommand(v.workers_client, out, err);
  if (v.artifacts_ls_cmd->parsed()) {
    return ArtifactsLsCommand(v.artifacts_ls_client, v.artifacts_ls_run, v.artifacts_ls_step, out,
                              err);
  }
  if (v.artifacts_get_cmd->parsed()) return ArtifactsGetCommand(v.artifacts_get, out, err);
  if (v.cache_ls_cmd->parsed()) return CacheLsCommand(v.cache_ls_client, out, err);
  if (v.cache_rm_cmd->parsed()) return CacheRmCommand(v.cache_rm, out, err);
  if (v.cache_gc_cmd->parsed()) {
    return CacheGcCommand(v.cache_gc_client, v.cache_gc_keep_runs, out, err);
  }
  return std::nullopt;
}

}  // namespace receta::cli
