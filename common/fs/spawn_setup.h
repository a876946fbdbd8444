#pragma once
// SpawnSetup: the posix_spawn attribute and file-action objects of one
// spawn, initialised and destroyed together (the worker's step processes
// and the scheduler's alert commands both spawn this way).

#include <signal.h>
#include <spawn.h>
#include <unistd.h>

namespace receta {

/// The signals a spawned process (a step, an alert command) gets with
/// their default action whatever its parent does with them: the daemons
/// ignore SIGPIPE and read TERM and INT from a signalfd, and the child
/// would inherit that and could then not be stopped with TERM.
inline sigset_t DefaultActionSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCHLD, SIGALRM}) {
    sigaddset(&set, sig);
  }
  return set;
}

struct SpawnSetup {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  SpawnSetup() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
  /// The child leads a new process group (so the whole group can be
  /// killed) with an empty signal mask and DefaultActionSignals() at their
  /// default dispositions.
  void NewProcessGroupWithDefaultSignals() {
    sigset_t empty_mask;
    sigemptyset(&empty_mask);
    sigset_t defaults = DefaultActionSignals();
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setsigmask(&attr, &empty_mask);
    posix_spawnattr_setsigdefault(&attr, &defaults);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;
};

/// Closes `fd` if open and marks it closed (-1).
inline void CloseFd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

}  // namespace receta
