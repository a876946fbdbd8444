#include "worker/process_guard.h"

#include <errno.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>

namespace receta::worker {
namespace {

constexpr uint32_t kOpHold = 'H';
constexpr uint32_t kOpRelease = 'R';
constexpr char kReady = '!';

struct Record {
  uint32_t op;
  int32_t pgid;
};
static_assert(sizeof(Record) == 8);

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

// Reads records from `fd` until EOF, then kills what is still held. Never
// returns.
[[noreturn]] void Serve(int fd) {
  static pid_t held[ProcessGroupGuard::kMaxGroups];  // static: no stack of 16 KiB needed
  int count = 0;
  bool overflow_told = false;
  char buffer[sizeof(Record) * 64];
  size_t filled = 0;
  while (true) {
    ssize_t n = read(fd, buffer + filled, sizeof(buffer) - filled);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EOF, or an error that means the same: the worker is gone
    filled += static_cast<size_t>(n);
    size_t used = 0;
    for (; filled - used >= sizeof(Record); used += sizeof(Record)) {
      Record record;
      memcpy(&record, buffer + used, sizeof(record));
      if (record.pgid <= 0) continue;  // never kill(-0) or kill(-1)
      if (record.op == kOpHold) {
        if (count < ProcessGroupGuard::kMaxGroups) {
          held[count++] = record.pgid;
        } else if (!overflow_told) {
          overflow_told = true;
          WriteStderr(
              "receta-worker: process group guard is full; later steps will not be "
              "killed if the worker dies\n");
        }
      } else if (record.op == kOpRelease) {
        for (int i = 0; i < count; ++i) {
          if (held[i] != record.pgid) continue;
          held[i] = held[--count];
          break;
        }
      }
    }
    memmove(buffer, buffer + used, filled - used);
    filled -= used;
  }
  // Why it is safe to kill these ids: each group's leader was a child of
  // the worker that the worker had not reaped (it releases first), so until
  // now the zombie or live leader kept the id from being reused.
  for (int i = 0; i < count; ++i) kill(-held[i], SIGKILL);
  if (count > 0) {
    WriteStderr("receta-worker: the worker is gone; its process group guard killed ");
    WriteStderrNumber(count);
    WriteStderr(" step process group(s)\n");
  }
  _exit(0);
}

[[noreturn]] void RunGuard(int fd, int worker_end) {
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
  Serve(STDIN_FILENO);
}

}  // namespace

Result<std::unique_ptr<ProcessGroupGuard>> ProcessGroupGuard::Start() {
  using R = Result<std::unique_ptr<ProcessGroupGuard>>;
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    return R::Error(std::string("cannot create the socket to the process group guard: ") +
                    strerror(errno));
  }
  pid_t pid = fork();
  if (pid < 0) {
    int err = errno;
    close(fds[0]);
    close(fds[1]);
    return R::Error(std::string("cannot fork the process group guard: ") + strerror(err));
  }
  if (pid == 0) RunGuard(fds[1], fds[0]);
  close(fds[1]);
  auto guard = std::unique_ptr<ProcessGroupGuard>(new ProcessGroupGuard(pid, fds[0]));
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
}

void ProcessGroupGuard::SendRecord(char op, pid_t pgid) {
  Record record{static_cast<uint32_t>(op), static_cast<int32_t>(pgid)};
  ssize_t n;
  do {
    // Why send with MSG_NOSIGNAL: a dead guard must not kill the worker
    // with SIGPIPE.
    n = send(fd_, &record, sizeof(record), MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof(record))) return;
  if (!broken_.exchange(true)) {
    spdlog::error(
        "the process group guard (pid {}) is gone ({}); steps will no longer be "
        "killed if the worker dies",
        pid_, n < 0 ? strerror(errno) : "short write");
  }
}

void ProcessGroupGuard::Hold(pid_t pgid) { SendRecord(static_cast<char>(kOpHold), pgid); }

void ProcessGroupGuard::Release(pid_t pgid) { SendRecord(static_cast<char>(kOpRelease), pgid); }

}  // namespace receta::worker
