#pragma once
// Process: one step command run as `/bin/sh -c COMMAND` in its own process
// group, with stdin from /dev/null and stdout/stderr read from pipes as the
// bytes come. Started with SpawnStep (step_spawn.h: vfork-like, cheap even
// for a large worker), waited with wait4 for the exit status and resource
// use.
//
// Why a process group: a step's shell often starts children (pipelines,
// `cmd &`); killing the group reaches all of them. When the group leader
// exits, whatever it left running in its group is killed too, so a finished
// step never leaves processes behind that hold its pipes open.
// If the worker itself dies, the process group guard (process_guard.h), told
// of the group through ProcessGroupTracker, kills it.

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "common/status.h"

namespace receta::worker {

enum class OutputStream { kStdout, kStderr };

/// What to run. `env` is the complete environment of the command: nothing is
/// inherited from the worker (see attempt_env.h for what the worker adds).
struct ProcessSpec {
  std::string command;  // given to /bin/sh -c
  std::string cwd;      // must exist
  std::map<std::string, std::string> env;
  uint64_t timeout_ms = 0;         // 0: no limit; else TERM, KILL after grace
  uint32_t timeout_grace_ms = 5000;
};

/// How the process ended. exit_code is -1 when it was ended by a signal.
struct ProcessResult {
  int exit_code = -1;
  int signal = 0;
  bool timed_out = false;  // the timeout of the spec fired
  bool killed = false;     // Kill() was called before it exited
  uint64_t duration_ms = 0;  // spawn to exit, wall clock
  uint64_t cpu_ms = 0;       // user + system of the process and its reaped children
  uint64_t max_rss_bytes = 0;
};

/// Told of each step's process group while its id is the step's: from just
/// after spawn until just before the leader is reaped (after which the id
/// may be reused). The process group guard (process_guard.h) implements it
/// to kill the groups still held if the worker dies. Thread-safe.
class ProcessGroupTracker {
 public:
  virtual ~ProcessGroupTracker() = default;
  virtual void Hold(pid_t pgid) = 0;
  virtual void Release(pid_t pgid) = 0;
};

/// Receives output on the thread that calls Wait(), in the order read.
using OutputCallback = std::function<void(OutputStream stream, std::string_view bytes)>;

class Process {
 public:
  /// Spawns the command. Errors name the command's cwd and the errno text
  /// (e.g. a missing /bin/sh or cwd). The process runs until Wait() returns.
  /// `tracker` (optional) must outlive the Process.
  static Result<std::unique_ptr<Process>> Start(const ProcessSpec& spec,
                                                ProcessGroupTracker* tracker = nullptr);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  /// Pid of the group leader (= the process group id).
  pid_t pid() const { return pid_; }

  /// Reads stdout and stderr until the process has exited and its pipes are
  /// drained, calling `on_output` for each read. Every `tick_ms` (when > 0)
  /// without output, and after each read, calls `on_tick` so a caller can
  /// flush batched output on time. Call once, from one thread.
  ProcessResult Wait(const OutputCallback& on_output, int tick_ms = 0,
                     const std::function<void()>& on_tick = {});

  /// Sends SIGTERM to the process group now and SIGKILL after `grace_ms`
  /// (0: SIGKILL at once). Thread-safe; may be called before or during
  /// Wait(), several times (a shorter grace wins). No effect after exit.
  void Kill(uint32_t grace_ms);

 private:
  Process() = default;
  void SignalGroup(int signal);  // takes mu_
  void Wake();
  void ReleaseGroup();  // tells the tracker; call under mu_ just before reaping

  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  int stderr_fd_ = -1;
  int pidfd_ = -1;
  int wake_fd_ = -1;  // eventfd: Kill() wakes Wait()
  uint64_t timeout_ms_ = 0;
  uint32_t timeout_grace_ms_ = 0;
  int64_t start_ns_ = 0;
  ProcessGroupTracker* tracker_ = nullptr;

  std::mutex mu_;
  bool reaped_ = false;            // Guarded by mu_: pgid may be reused after
  int64_t kill_deadline_ns_ = -1;  // Guarded by mu_: when SIGKILL is due; -1 none
  std::atomic<bool> killed_{false};
};

}  // namespace receta::worker
