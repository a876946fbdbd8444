#pragma once
// Registers the verbs that talk to the scheduler on the CLI11 app and runs
// the one that was parsed. Kept apart from app.cpp so that file stays a
// table of contents.

#include <CLI/CLI.hpp>
#include <optional>

#include "cli/client_commands.h"

namespace receta::cli {

/// The parsed arguments of every client verb and the subcommands that
/// carry them. Must outlive parsing (CLI11 writes into it).
struct ClientVerbs {
  SubmitArgs submit;
  RunsArgs runs;
  ClientArgs status_client, watch_client, cancel_client, retry_client, workers_client, artifacts_ls_client,
      cache_ls_client, cache_gc_client;
  std::string status_run, watch_run, cancel_run, retry_run, retry_step, artifacts_ls_run, artifacts_ls_step;
  LogsArgs logs;
  ArtifactGetArgs artifacts_get;
  CacheRmArgs cache_rm;
  uint32_t cache_gc_keep_runs = 0;

  CLI::App* submit_cmd = nullptr;
  CLI::App* runs_cmd = nullptr;
  CLI::App* status_cmd = nullptr;
  CLI::App* watch_cmd = nullptr;
  CLI::App* logs_cmd = nullptr;
  CLI::App* cancel_cmd = nullptr;
  CLI::App* retry_cmd = nullptr;
  CLI::App* events_cmd = nullptr;
  EventsArgs events;
  CLI::App* workers_cmd = nullptr;
  CLI::App* artifacts_ls_cmd = nullptr;
  CLI::App* artifacts_get_cmd = nullptr;
  CLI::App* cache_ls_cmd = nullptr;
  CLI::App* cache_rm_cmd = nullptr;
  CLI::App* cache_gc_cmd = nullptr;
};

/// Adds submit, runs, status, watch, logs, cancel, retry, workers, artifacts and
/// cache to `app`, writing into `verbs`.
void AddClientVerbs(CLI::App& app, ClientVerbs& verbs);

/// After parsing: runs the client verb that was chosen and returns its exit
/// code, or nothing when the chosen verb is not a client verb.
std::optional<int> RunClientVerb(const ClientVerbs& verbs);

}  // namespace receta::cli
