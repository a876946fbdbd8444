#pragma once
// SpawnStep: starts `/bin/sh -c COMMAND` for a step, as posix_spawn would
// with a new process group, default signal dispositions, an empty signal
// mask, stdin from /dev/null, stdout/stderr to the given pipes and a cwd,
// but cheaper from a large multithreaded worker.
//
// Why not posix_spawn: glibc maps a fresh stack for every child and unmaps
// it after, and in a process with several threads on other CPUs the unmap
// costs a TLB shootdown (an interrupt to each CPU, slow in a VM); with the
// querying of every file action's descriptor limit, a spawn from a
// process with busy threads took about 90 us against about 40 us this way.
// A step's spawn is on the critical path of a chain: the next step starts
// only after it.
//
// How: clone(CLONE_VM | CLONE_VFORK) onto a stack kept per thread, with
// every signal blocked around it; the child, sharing the parent's memory,
// makes only system calls until execve (no allocation, no locks), and
// reports a failure through memory the parent reads once it resumes.

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/status.h"

namespace receta::worker {

struct StepSpawn {
  std::string cwd;
  std::vector<std::string> argv;  // argv[0] is the program run
  std::vector<std::string> env;   // NAME=VALUE, the whole environment
  int stdout_fd = -1;             // dup2'd to 1 in the child
  int stderr_fd = -1;             // dup2'd to 2 in the child
};

/// Starts the process and returns its pid (= its process group id), or an
/// error naming what failed in the child ("chdir: No such file or
/// directory", "execve /bin/sh: Permission denied") after reaping it. Thread-safe; a
/// thread spawns one process at a time (it is suspended until the exec).
Result<pid_t> SpawnStep(const StepSpawn& spawn);

}  // namespace receta::worker
