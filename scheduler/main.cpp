// receta-scheduler: the daemon that owns all run state. This file parses
// flags, sets up logging and signals, and runs the Server.
#include <CLI/CLI.hpp>
#include <malloc.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <string>
#include <tuple>

#include <spdlog/spdlog.h>

#include "cli/parse_args.h"
#include "common/lang/quantity.h"
#include "common/os/thread_policy.h"
#include "net/allocator_tuning.h"
#include "net/daemon_log.h"
#include "receta/version.h"
#include "scheduler/server.h"

namespace {

std::atomic<bool> g_stop{false};

void OnSignal(int) { g_stop.store(true); }

// Why: without CurveZMQ keys (not built yet) anyone who can reach the port
// could submit commands to run on the workers.
bool IsLoopback(const std::string& endpoint) {
  return endpoint.rfind("ipc://", 0) == 0 || endpoint.rfind("inproc://", 0) == 0 ||
         endpoint.rfind("tcp://127.", 0) == 0 || endpoint.rfind("tcp://localhost:", 0) == 0 ||
         endpoint.rfind("tcp://[::1]:", 0) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  receta::net::KeepTransferBuffersInHeap();
  // One malloc arena. Why: the scheduler allocates on its main thread;
  // RocksDB's flush and compaction threads and ZeroMQ's I/O thread would
  // otherwise get arenas of their own that keep what they freed (6 MB after
  // five 1,000-step runs: VmRSS 53.5 MB, 47.7 MB with one arena), which the
  // malloc_trim at each run's end does not give back.
  mallopt(M_ARENA_MAX, 1);
  CLI::App app{"receta-scheduler: assigns pipeline steps to worker agents over ZeroMQ"};
  app.set_version_flag("--version", std::string("receta-scheduler ") + receta::kVersion);
  receta::scheduler::ServerOptions options;
  options.data_dir = "./.receta";
  std::string log_cap = "64MiB";
  bool insecure = false;
  app.add_option("--data-dir", options.data_dir, "Directory for state (RocksDB), artifacts and logs")
      ->capture_default_str();
  app.add_option("--listen", options.listen,
                 "ZeroMQ endpoint to bind; tcp://127.0.0.1:* picks a free port (written to DATA_DIR/scheduler.endpoint)")
      ->capture_default_str();
  app.add_option("--heartbeat-ms", options.core.heartbeat_interval_ms, "Heartbeat interval sent to workers")
      ->capture_default_str()
      ->check(CLI::Range(50u, 60'000u));
  std::string worker_timeout = "10s";
  std::string orphan_grace = "10s";
  std::string alert_give_up_after = "10m";
  std::string alert_first_retry = "1s";
  app.add_option("--worker-timeout", worker_timeout,
                 "Silence after which a worker is declared lost and its steps run elsewhere (a worker that "
                 "cannot reach the scheduler that long kills its own steps)")
      ->capture_default_str();
  app.add_option("--orphan-grace", orphan_grace,
                 "After a restart, how long a running step may go unclaimed by its worker before it runs again")
      ->capture_default_str();
  app.add_option("--alert-give-up-after", alert_give_up_after,
                 "How long an alert that cannot be delivered is retried before it is given up (an event says so)")
      ->capture_default_str();
  app.add_option("--alert-first-retry", alert_first_retry,
                 "Wait before the first retry of an alert delivery; doubles each time, up to a minute")
      ->capture_default_str();
  app.add_option("--log-cap", log_cap, "Largest log kept per attempt (e.g. 64MiB)")->capture_default_str();
  app.add_flag("--insecure", insecure, "Allow binding a non-loopback address without authentication");
  if (std::optional<int> exit_code = receta::cli::ParseArgs(app, argc, argv)) return *exit_code;
  // Before any thread starts (ZeroMQ's, RocksDB's), so they all inherit it:
  // the scheduler's wake-ups never preempt a step on a shared machine
  // (common/os/thread_policy.h).
  if (receta::Status s = receta::RunThisThreadAsBatch(); !s.ok()) spdlog::warn("{}", s.message());

  auto cap = receta::ParseSizeBytes(log_cap);
  if (!cap.ok()) {
    std::fprintf(stderr, "receta-scheduler: --log-cap %s: %s\n", log_cap.c_str(), cap.error().message.c_str());
    return 2;
  }
  options.log_cap_bytes = static_cast<uint64_t>(*cap);
  for (auto [flag, text, out] : {std::tuple{"--worker-timeout", &worker_timeout, &options.core.worker_timeout_ms},
                                 std::tuple{"--orphan-grace", &orphan_grace, &options.core.orphan_grace_ms},
                                 std::tuple{"--alert-give-up-after", &alert_give_up_after,
                                            &options.alerts.give_up_after_ms},
                                 std::tuple{"--alert-first-retry", &alert_first_retry,
                                            &options.alerts.first_retry_ms}}) {
    auto ms = receta::ParseDurationMs(*text);
    if (!ms.ok() || *ms <= 0) {
      std::fprintf(stderr, "receta-scheduler: %s %s: %s\n", flag, text->c_str(),
                   ms.ok() ? "must be longer than 0" : ms.error().message.c_str());
      return 2;
    }
    *out = static_cast<uint64_t>(*ms);
  }
  if (!IsLoopback(options.listen) && !insecure) {
    std::fprintf(stderr,
                 "receta-scheduler: refusing to listen on %s: it is not a loopback address and receta has no "
                 "authentication yet; anyone reaching it could run commands on your workers. Use "
                 "tcp://127.0.0.1:PORT, or pass --insecure on a trusted network.\n",
                 options.listen.c_str());
    return 2;
  }
  receta::net::UseTurnBufferedStdoutLog("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  std::signal(SIGPIPE, SIG_IGN);

  auto server = receta::scheduler::Server::Open(options);
  if (!server.ok()) {
    spdlog::error("cannot start: {}", server.error());
    return 1;
  }
  receta::Status served = (*server)->Serve(g_stop);
  if (!served.ok()) {
    spdlog::critical("{}", served.message());
    return 1;
  }
  return 0;
}
