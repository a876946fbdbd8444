#include "worker/step_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <tuple>

#include "common/fs/spawn_setup.h"

namespace receta::worker {
namespace {

// Enough for the child's few system call wrappers; execve itself runs on
// the kernel's stack.
constexpr size_t kChildStackBytes = 64 * 1024;

// Everything the child reads, prepared by the parent (the child must not
// allocate: it shares the parent's heap and its locks), and where it says
// what failed.
struct ChildPlan {
  const char* cwd;
  const char* program;
  char* const* argv;
  char* const* envp;
  int stdout_fd;
  int stderr_fd;
  const sigset_t* to_default;         // SignalsToDefault()
  const char* failed_call = nullptr;  // set by the child on failure
  int failed_errno = 0;
};

// Raw rt_sigprocmask: glibc's sigprocmask keeps its own internal signals
// unblocked, and one of their handlers running in the child would act on
// the parent's memory.
void SetMaskRaw(const sigset_t* mask, sigset_t* old) {
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, mask, old, _NSIG / 8);
}

// glibc's internal signals (thread cancellation, setxid): its sigaction
// refuses them.
constexpr bool IsGlibcInternal(int sig) { return sig == 32 || sig == 33; }

[[noreturn]] void ChildFails(ChildPlan* plan, const char* call) {
  plan->failed_errno = errno;
  plan->failed_call = call;
  _exit(127);
}

int ChildMain(void* arg) {
  auto* plan = static_cast<ChildPlan*>(arg);
  // A handler the child inherited would run the parent's code on the
  // parent's memory if its signal came between the unmasking below and
  // execve: those (SignalsToDefault) go back to their default first, as do
  // glibc's internal signals (32, 33: thread cancellation, setxid), by raw
  // call (its sigaction refuses them); nothing sends those to a new
  // process, so none is pending when the mask opens.
  struct sigaction to_default {};
  to_default.sa_handler = SIG_DFL;
  for (int sig = 1; sig < _NSIG; ++sig) {
    if (IsGlibcInternal(sig)) {
      syscall(SYS_rt_sigaction, sig, &to_default, nullptr, _NSIG / 8);
    } else if (sigismember(plan->to_default, sig) == 1) {
      sigaction(sig, &to_default, nullptr);
    }
  }
  if (setpgid(0, 0) != 0) ChildFails(plan, "setpgid");
  int null_fd = open("/dev/null", O_RDONLY);
  if (null_fd < 0) ChildFails(plan, "open /dev/null");
  if (dup2(null_fd, STDIN_FILENO) < 0) ChildFails(plan, "dup2 stdin");
  if (null_fd != STDIN_FILENO) close(null_fd);
  // dup2 onto itself keeps close-on-exec: such a descriptor is cleared.
  for (auto [from, to, what] : {std::tuple{plan->stdout_fd, STDOUT_FILENO, "dup2 stdout"},
                                std::tuple{plan->stderr_fd, STDERR_FILENO, "dup2 stderr"}}) {
    int done = from == to ? fcntl(to, F_SETFD, 0) : dup2(from, to);
    if (done < 0) ChildFails(plan, what);
  }
  if (chdir(plan->cwd) != 0) ChildFails(plan, "chdir");
  sigset_t empty;
  sigemptyset(&empty);
  SetMaskRaw(&empty, nullptr);
  execve(plan->program, plan->argv, plan->envp);
  ChildFails(plan, "execve");
}

// DefaultActionSignals() and every signal the worker process catches.
// Why found once, by the parent: a query per signal in each child was 62 of
// its 70 system calls, on the path from one step's end to the next one's
// start. The daemon installs its handlers before it spawns anything, and
// one installed later is still reset by execve itself; only its delivery
// in the child's last instructions before execve, after setpgid took it
// out of the worker's process group, would be missed.
const sigset_t* SignalsToDefault() {
  static const sigset_t signals = [] {
    sigset_t set = DefaultActionSignals();
    for (int sig = 1; sig < _NSIG; ++sig) {
      if (sig == SIGKILL || sig == SIGSTOP || IsGlibcInternal(sig)) continue;
      struct sigaction current {};
      if (sigaction(sig, nullptr, &current) != 0) continue;
      if (current.sa_handler != SIG_DFL && current.sa_handler != SIG_IGN) sigaddset(&set, sig);
    }
    return set;
  }();
  return &signals;
}

std::vector<char*> Pointers(const std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  pointers.reserve(strings.size() + 1);
  for (const std::string& s : strings) pointers.push_back(const_cast<char*>(s.c_str()));
  pointers.push_back(nullptr);
  return pointers;
}

}  // namespace

Result<pid_t> SpawnStep(const StepSpawn& spawn) {
  if (spawn.argv.empty()) return Result<pid_t>::Error("nothing to run: argv is empty");
  // Why per thread: the parent is suspended until the child execs, so a
  // thread's stack is free again by its next spawn; other threads spawn
  // at the same time on their own.
  thread_local std::unique_ptr<char[]> stack(new char[kChildStackBytes]);
  std::vector<char*> argv = Pointers(spawn.argv);
  std::vector<char*> envp = Pointers(spawn.env);
  ChildPlan plan{spawn.cwd.c_str(), argv[0],         argv.data(),       envp.data(),
                 spawn.stdout_fd,   spawn.stderr_fd, SignalsToDefault()};

  sigset_t all;
  sigset_t old;
  sigfillset(&all);
  SetMaskRaw(&all, &old);
  pid_t pid =
      clone(ChildMain, stack.get() + kChildStackBytes, CLONE_VM | CLONE_VFORK | SIGCHLD, &plan);
  int clone_errno = errno;
  SetMaskRaw(&old, nullptr);
  if (pid < 0) return Result<pid_t>::Error(std::string("clone: ") + strerror(clone_errno));
  if (plan.failed_call != nullptr) {
    waitpid(pid, nullptr, 0);
    std::string what = plan.failed_call;
    if (what == "execve") what += std::string(" ") + argv[0];
    return Result<pid_t>::Error(what + ": " + strerror(plan.failed_errno));
  }
  return pid;
}

}  // namespace receta::worker
