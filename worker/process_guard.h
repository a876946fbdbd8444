#pragma once
// ProcessGroupGuard: makes steps die with the worker, even by kill -9.
//
// Why not PR_SET_PDEATHSIG: a step runs in its own process group (see
// process.h) and its shell's children would not get the signal; the
// leader's death does not take them with it.
//
// Instead a small child process is forked when the agent starts, connected
// by a socket pair (a pipe both ways: the guard says "ready" once, then only
// reads). The worker tells it each step's process group right after spawn
// and forgets it just before reaping the leader (after that the id may be
// reused). When its end reaches EOF (the worker exited or died; the kernel
// closes the worker's end however it ends) the guard SIGKILLs every group it
// still holds and exits. A clean shutdown kills and reaps the steps first,
// so the guard then holds nothing.
//
// Not covered: a worker killed in the microseconds between spawning a step
// and telling the guard leaves that step running; a step process that
// leaves its group (setsid) escapes, as it escapes Process::Kill.
//
// Record layout on the socket, native byte order (both ends are one binary):
//   uint32 op ('H' hold, 'R' release), int32 pgid   = 8 bytes
// Records are written whole with one send of 8 bytes (atomic on a stream
// socket of this size), so threads may write without a lock.
//
// The guard is a fork of a multithreaded process: it uses only
// async-signal-safe calls (read, write, kill, sigaction, setpgid,
// close_range, _exit), a fixed array of kMaxGroups pgids and no malloc.
// It ignores SIGINT, SIGTERM and SIGHUP (a Ctrl-C, or a service manager
// stopping everything, must let the worker stop its steps cleanly first;
// the guard then sees EOF with nothing left) and sits in its own process
// group, holding no copy of the worker's other descriptors.

#include <sys/types.h>

#include <atomic>
#include <memory>

#include "common/status.h"
#include "worker/process.h"

namespace receta::worker {

class ProcessGroupGuard : public ProcessGroupTracker {
 public:
  /// Groups held at once; more are not guarded (logged once). The worker's
  /// slots are capped at 4096 too.
  static constexpr int kMaxGroups = 4096;

  /// Forks the guard and waits until it is ready (its signal dispositions
  /// set), so a signal sent right after cannot catch it half set up.
  /// Errors carry the errno text.
  static Result<std::unique_ptr<ProcessGroupGuard>> Start();

  /// Closes the socket (the guard kills whatever it still holds) and reaps
  /// the guard.
  ~ProcessGroupGuard() override;
  ProcessGroupGuard(const ProcessGroupGuard&) = delete;
  ProcessGroupGuard& operator=(const ProcessGroupGuard&) = delete;

  /// Thread-safe. A guard that died makes these log an error once and do
  /// nothing; steps then no longer die with the worker.
  void Hold(pid_t pgid) override;
  void Release(pid_t pgid) override;

  /// The guard's pid (for logs and tests).
  pid_t pid() const { return pid_; }

 private:
  ProcessGroupGuard(pid_t pid, int fd) : pid_(pid), fd_(fd) {}
  void SendRecord(char op, pid_t pgid);

  pid_t pid_;
  int fd_;  // the worker's end, O_CLOEXEC
  std::atomic<bool> broken_{false};
};

}  // namespace receta::worker
