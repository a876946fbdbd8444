#pragma once
// ProcessGroupGuard: makes steps die with the worker, even by kill -9.
//
// Why not PR_SET_PDEATHSIG: a step runs in its own process group (see
// process.h) and its shell's children would not get the signal; the
// leader's death does not take them with it.
//
// Instead a small child process is forked when the agent starts. It shares
// with the worker one page table of held process groups (an anonymous
// shared mapping made before the fork) and holds the other end of a socket
// pair, on which it says "ready" once and then only waits for EOF. The
// worker writes each step's process group into a free entry right after
// spawn and clears it just before reaping the leader (after that the id
// may be reused). When its end reaches EOF (the worker exited or died; the
// kernel closes the worker's end however it ends) the guard SIGKILLs every
// group still in the table and exits. A clean shutdown kills and reaps the
// steps first, so the table is then empty.
//
// Why a shared table rather than a message per change (as before): the
// guard then never wakes while the worker lives; two messages per step
// were two wake-ups of another process, each an interrupt to a CPU that is
// running a step.
//
// Not covered: a worker killed in the microseconds between spawning a step
// and writing its entry leaves that step running; a step process that
// leaves its group (setsid) escapes, as it escapes Process::Kill.
//
// Entries are atomic 32-bit pgids (0: free), taken by compare-and-swap, so
// threads hold and release without a lock; entries past the highest ever
// taken are never read.
//
// The guard is a fork of a multithreaded process: it uses only
// async-signal-safe calls (read, write, kill, sigaction, setpgid,
// close_range, _exit) and no malloc.
// It ignores SIGINT, SIGTERM and SIGHUP (a Ctrl-C, or a service manager
// stopping everything, must let the worker stop its steps cleanly first;
// the guard then sees EOF with nothing left) and sits in its own process
// group, holding no copy of the worker's other descriptors.

#include <sys/types.h>

#include <atomic>
#include <cstdint>
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

  /// Thread-safe, no system call but a check that the guard lives (Hold).
  /// A guard that died makes Hold log an error once; steps then no longer
  /// die with the worker.
  void Hold(pid_t pgid) override;
  void Release(pid_t pgid) override;

  /// The guard's pid (for logs and tests).
  pid_t pid() const { return pid_; }

 private:
  ProcessGroupGuard(pid_t pid, int fd, std::atomic<int32_t>* table)
      : pid_(pid), fd_(fd), table_(table) {}
  // Logs once if the guard is gone (its end of the socket closed).
  void CheckAlive();

  pid_t pid_;
  int fd_;  // the worker's end, O_CLOEXEC
  std::atomic<int32_t>* table_;  // kMaxGroups entries, shared with the guard
  std::atomic<int> used_{0};     // entries [0, used_) may be taken
  std::atomic<bool> broken_{false};
  std::atomic<bool> overflow_told_{false};
};

}  // namespace receta::worker
