#pragma once
// SpawnSetup: the posix_spawn attribute and file-action objects of one
// spawn, initialised and destroyed together (the worker's step processes
// and the scheduler's alert commands both spawn this way).

#include <spawn.h>
#include <unistd.h>

namespace receta {

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
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;
};

/// Closes `fd` if open and marks it closed (-1).
inline void CloseFd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

}  // namespace receta
