#include "worker/process_guard.h"

#include <errno.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <new>

namespace receta::worker {
namespace {

constexpr char kReady = '!';
constexpr size_t kTableBytes = sizeof(std::atomic<int32_t>) * ProcessGroupGuard::kMaxGroups;
static_assert(std::atomic<int32_t>::is_always_lock_free, "shared between processes");

// ---- The guard process: async-signal-safe code only from here to Serve. --

void WriteStderr(const char* text) {
  size_t length = 0;
  while (text[length] != '\0') ++length;
  ssize_t ignored = write(STDERR_FILENO, text, length);
  (void)ignored;
}

// Why by hand: snprintf is not async-signal-safe.
void WriteStderrNumber(long value) {
  char digits[24];
  int at = sizeof(digits) - 1;
  digits[at] = '\0';
  do {
    digits[--at] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value > 0 && at > 0);
  WriteStderr(digits + at);
}

// Waits for EOF on `fd`, then kills every group left in `table`. Never
// returns.
[[noreturn]] void Serve(int fd, const std::atomic<int32_t>* table) {
  char ignored[64];
  while (true) {
    ssize_t n = read(fd, ignored, sizeof(ignored));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EOF, or an error that means the same: the worker is gone
  }
  // Why it is safe to kill these ids: each group's leader was a child of
  // the worker that the worker had not reaped (it clears the entry first),
  // so until now the zombie or live leader kept the id from being reused.
  int killed = 0;
  for (int i = 0; i < ProcessGroupGuard::kMaxGroups; ++i) {
    pid_t pgid = table[i].load(std::memory_order_relaxed);
    if (pgid <= 0) continue;  // never kill(-0) or kill(-1)
    kill(-pgid, SIGKILL);
    ++killed;
  }
  if (killed > 0) {
    WriteStderr("receta-worker: the worker is gone; its process group guard killed ");
    WriteStderrNumber(killed);
    WriteStderr(" step process group(s)\n");
  }
  _exit(0);
}

[[noreturn]] void RunGuard(int fd, int worker_end, const std::atomic<int32_t>* table) {
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) sigaction(sig, &ignore, nullptr);
  setpgid(0, 0);
  // Why first: the worker's end may sit below 3 (a worker started with
  // stdout closed) and would then survive close_range; a guard holding it
  // would never see EOF.
  close(worker_end);
  // Why stdin: fd 0 is below the range closed next, so the guard keeps
  // only its socket and stdout/stderr (for its one message), and holds no
  // copy of the worker's sockets or of another guard's socket (which would
  // keep that guard from ever seeing EOF).
  if (fd != STDIN_FILENO) {
    if (dup2(fd, STDIN_FILENO) < 0) _exit(1);
  }
  close_range(3, ~0U, 0);
  char ready = kReady;
  if (write(STDIN_FILENO, &ready, 1) != 1) _exit(1);
  Serve(STDIN_FILENO, table);
}

}  // namespace

Result<std::unique_ptr<ProcessGroupGuard>> ProcessGroupGuard::Start() {
  using R = Result<std::unique_ptr<ProcessGroupGuard>>;
  // Why before the fork: a shared anonymous mapping is shared with the
  // child the fork makes, and with no one else.
  void* mapped =
      mmap(nullptr, kTableBytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mapped == MAP_FAILED) {
    return R::Error(std::string("cannot map the process group guard's table: ") + strerror(errno));
  }
  auto* table = new (mapped) std::atomic<int32_t>[ProcessGroupGuard::kMaxGroups]();
  auto unmap = [&] { munmap(mapped, kTableBytes); };
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    int err = errno;
    unmap();
    return R::Error(std::string("cannot create the socket to the process group guard: ") +
                    strerror(err));
  }
  pid_t pid = fork();
  if (pid < 0) {
    int err = errno;
    close(fds[0]);
    close(fds[1]);
    unmap();
    return R::Error(std::string("cannot fork the process group guard: ") + strerror(err));
  }
  if (pid == 0) RunGuard(fds[1], fds[0], table);
  close(fds[1]);
  auto guard = std::unique_ptr<ProcessGroupGuard>(new ProcessGroupGuard(pid, fds[0], table));
  char ready = 0;
  ssize_t n;
  do {
    n = read(fds[0], &ready, 1);
  } while (n < 0 && errno == EINTR);
  if (n != 1 || ready != kReady) {
    // The destructor closes the socket and reaps the guard.
    return R::Error("the process group guard (pid " + std::to_string(pid) +
                    ") exited while starting");
  }
  return guard;
}

ProcessGroupGuard::~ProcessGroupGuard() {
  close(fd_);
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  munmap(table_, kTableBytes);
}

void ProcessGroupGuard::CheckAlive() {
  if (broken_.load(std::memory_order_relaxed)) return;
  // The guard never writes after "ready": a read that does not block finds
  // EOF only once it is gone (no wake-up for it, unlike a message).
  char byte;
  ssize_t n = recv(fd_, &byte, 1, MSG_DONTWAIT | MSG_PEEK);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  if (!broken_.exchange(true)) {
    spdlog::error(
        "the process group guard (pid {}) is gone ({}); steps will no longer be "
        "killed if the worker dies",
        pid_, n < 0 ? strerror(errno) : "its socket is closed");
  }
}

void ProcessGroupGuard::Hold(pid_t pgid) {
  CheckAlive();
  if (pgid <= 0) return;
  for (int i = 0; i < kMaxGroups; ++i) {
    int32_t free_entry = 0;
    if (!table_[i].compare_exchange_strong(free_entry, pgid, std::memory_order_relaxed)) continue;
    // Release scans up to used_: it must cover this entry before it can
    // be asked to clear it.
    int used = used_.load(std::memory_order_relaxed);
    while (used <= i && !used_.compare_exchange_weak(used, i + 1, std::memory_order_relaxed)) {
    }
    return;
  }
  if (!overflow_told_.exchange(true)) {
    spdlog::error(
        "the process group guard holds {} groups already; later steps will not be "
        "killed if the worker dies",
        kMaxGroups);
  }
}

void ProcessGroupGuard::Release(pid_t pgid) {
  if (pgid <= 0) return;
  int used = used_.load(std::memory_order_relaxed);
  for (int i = 0; i < used; ++i) {
    int32_t held = pgid;
    if (table_[i].compare_exchange_strong(held, 0, std::memory_order_relaxed)) return;
  }
}

}  // namespace receta::worker
