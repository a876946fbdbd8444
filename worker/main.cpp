// receta-worker: the agent that runs steps on a training machine. main only
// parses flags, blocks SIGTERM/SIGINT into a signalfd the agent polls, and
// runs the agent (worker/agent.h).
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/signalfd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <sstream>
#include <string>

#include "cli/parse_args.h"
#include "common/os/thread_policy.h"
#include "net/allocator_tuning.h"
#include "net/daemon_log.h"
#include "net/endpoint.h"
#include "receta/version.h"
#include "worker/agent.h"

int main(int argc, char** argv) {
  receta::net::KeepTransferBuffersInHeap();
  CLI::App app{"receta-worker: runs pipeline steps handed out by receta-scheduler"};
  app.set_version_flag("--version", std::string("receta-worker ") + receta::kVersion);
  std::string scheduler;
  std::string work_dir = "./.receta-worker";
  int slots = 1;
  std::string labels;
  std::string name;
  app.add_option("--scheduler", scheduler,
                 "Scheduler endpoint to connect to (default: $RECETA_SCHEDULER, else "
                 "./.receta/scheduler.endpoint, else tcp://127.0.0.1:7700)");
  app.add_option("--work-dir", work_dir, "Directory for sandboxes and the local artifact cache")
      ->capture_default_str();
  app.add_option("--slots", slots, "Steps run at once")->check(CLI::Range(1, 4096));
  app.add_option("--labels", labels, "Comma-separated labels steps can ask for");
  app.add_option("--name", name, "Name shown in `receta workers` (default: hostname)");
  if (std::optional<int> exit_code = receta::cli::ParseArgs(app, argc, argv)) return *exit_code;
  // Before any thread starts, so they all inherit it; the threads that run
  // steps go back to normal (attempt_pool.cpp).
  if (receta::Status s = receta::RunThisThreadAsBatch(); !s.ok()) spdlog::warn("{}", s.message());

  receta::worker::AgentOptions options;
  options.scheduler_endpoint = receta::net::ResolveSchedulerEndpoint(scheduler);
  if (receta::Status s = receta::net::CheckEndpoint(options.scheduler_endpoint); !s.ok()) {
    std::fprintf(stderr, "receta-worker: %s\n", s.message().c_str());
    return 2;
  }
  options.work_dir = work_dir;
  options.slots = static_cast<uint32_t>(slots);
  options.name = name;
  std::stringstream label_list(labels);
  for (std::string label; std::getline(label_list, label, ',');) {
    if (!label.empty()) options.labels.push_back(label);
  }

  // Why a signalfd: the agent's poll loop sees SIGTERM/SIGINT like any other
  // input and stops its attempts' process groups before exiting. Blocked
  // here, before any thread starts, so every thread inherits the mask (the
  // process runner unblocks them in the steps it spawns).
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  // After the mask: the log's flushing thread must not take SIGTERM.
  receta::net::UseTurnBufferedStdoutLog("[%Y-%m-%d %H:%M:%S.%e] [%^%l%$] %v");
  int stop_fd = signalfd(-1, &stop_signals, SFD_CLOEXEC);
  if (stop_fd < 0) {
    std::perror("receta-worker: signalfd");
    return 1;
  }

  auto agent = receta::worker::Agent::Create(std::move(options));
  if (!agent.ok()) {
    std::fprintf(stderr, "receta-worker: %s\n", agent.error().c_str());
    return 1;
  }
  int code = (*agent)->Run(stop_fd);
  spdlog::info("worker stopped");
  receta::net::FlushLog();
  return code;
}
