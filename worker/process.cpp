#include "worker/process.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <tuple>
#include <vector>

#include "common/fs/spawn_setup.h"
#include "worker/step_spawn.h"

namespace receta::worker {
namespace {

// Why: after the leader exits, a process that left the group (setsid) may
// still hold the pipes; the output it writes later is not the step's.
constexpr int64_t kDrainAfterExitNs = 2'000'000'000;
constexpr size_t kReadBytes = 64 * 1024;

int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

std::string Errno(int err) { return strerror(err); }


}  // namespace

Result<std::unique_ptr<Process>> Process::Start(const ProcessSpec& spec,
                                                ProcessGroupTracker* tracker) {
  int out_pipe[2] = {-1, -1};
  int err_pipe[2] = {-1, -1};
  auto close_all = [&] {
    for (int* fd : {&out_pipe[0], &out_pipe[1], &err_pipe[0], &err_pipe[1]}) CloseFd(*fd);
  };
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
    int err = errno;
    close_all();
    return Result<std::unique_ptr<Process>>::Error("cannot create pipes for the step: " +
                                                   Errno(err));
  }

  StepSpawn spawn;
  spawn.cwd = spec.cwd;
  spawn.argv = {"/bin/sh", "-c", spec.command};
  spawn.env.reserve(spec.env.size());
  for (const auto& [key, value] : spec.env) spawn.env.push_back(key + "=" + value);
  spawn.stdout_fd = out_pipe[1];
  spawn.stderr_fd = err_pipe[1];

  auto process = std::unique_ptr<Process>(new Process());
  process->start_ns_ = NowNs();
  Result<pid_t> pid = SpawnStep(spawn);
  CloseFd(out_pipe[1]);
  CloseFd(err_pipe[1]);
  if (!pid.ok()) {
    close_all();
    return Result<std::unique_ptr<Process>>::Error("cannot start /bin/sh in '" + spec.cwd +
                                                   "': " + pid.error());
  }
  process->pid_ = *pid;
  if (tracker != nullptr) {
    process->tracker_ = tracker;
    tracker->Hold(process->pid_);
  }
  process->stdout_fd_ = out_pipe[0];
  process->stderr_fd_ = err_pipe[0];
  fcntl(process->stdout_fd_, F_SETFL, O_NONBLOCK);
  fcntl(process->stderr_fd_, F_SETFL, O_NONBLOCK);
  process->pidfd_ = static_cast<int>(syscall(SYS_pidfd_open, process->pid_, 0));
  process->wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  process->timeout_ms_ = spec.timeout_ms;
  process->timeout_grace_ms_ = spec.timeout_grace_ms;
  if (process->pidfd_ < 0 || process->wake_fd_ < 0) {
    int err = errno;
    // The destructor kills and reaps the group.
    return Result<std::unique_ptr<Process>>::Error("cannot watch the step's process: " +
                                                   Errno(err));
  }
  return process;
}

Process::~Process() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (pid_ > 0 && !reaped_) {
      kill(-pid_, SIGKILL);
      ReleaseGroup();
      waitpid(pid_, nullptr, 0);
      reaped_ = true;
    }
  }
  CloseFd(stdout_fd_);
  CloseFd(stderr_fd_);
  CloseFd(pidfd_);
  CloseFd(wake_fd_);
}

void Process::SignalGroup(int signal) {
  std::lock_guard<std::mutex> lock(mu_);
  // Why under mu_: once the leader is reaped its pid (= the group id) may be
  // reused by an unrelated process group.
  if (!reaped_) kill(-pid_, signal);
}

void Process::ReleaseGroup() {
  if (tracker_ != nullptr) tracker_->Release(pid_);
}

void Process::Wake() {
  uint64_t one = 1;
  ssize_t ignored = write(wake_fd_, &one, sizeof(one));
  (void)ignored;
}

void Process::Kill(uint32_t grace_ms) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (reaped_) return;
    killed_ = true;
    kill(-pid_, grace_ms == 0 ? SIGKILL : SIGTERM);
    kill(-pid_, SIGCONT);  // a stopped process must run to see TERM
    int64_t deadline = NowNs() + int64_t{grace_ms} * 1'000'000;
    if (kill_deadline_ns_ < 0 || deadline < kill_deadline_ns_) kill_deadline_ns_ = deadline;
  }
  Wake();
}

ProcessResult Process::Wait(const OutputCallback& on_output, int tick_ms,
                            const std::function<void()>& on_tick) {
  ProcessResult result;
  bool exited = false;
  int64_t exit_ns = 0;
  int64_t drain_deadline_ns = -1;
  int64_t timeout_deadline_ns =
      timeout_ms_ > 0 ? start_ns_ + static_cast<int64_t>(timeout_ms_) * 1'000'000 : -1;
  std::vector<char> buffer(kReadBytes);

  while (true) {
    if (exited && stdout_fd_ < 0 && stderr_fd_ < 0) break;
    int64_t now = NowNs();
    if (timeout_deadline_ns >= 0 && now >= timeout_deadline_ns && !exited) {
      timeout_deadline_ns = -1;
      result.timed_out = true;
      bool was_killed = killed_.load();
      Kill(timeout_grace_ms_);
      killed_ = was_killed;  // the timeout is reported as timed_out, not killed
    }
    int64_t kill_deadline;
    {
      std::lock_guard<std::mutex> lock(mu_);
      kill_deadline = kill_deadline_ns_;
    }
    if (kill_deadline >= 0 && now >= kill_deadline) {
      SignalGroup(SIGKILL);
      std::lock_guard<std::mutex> lock(mu_);
      kill_deadline_ns_ = -1;
      kill_deadline = -1;
    }
    if (drain_deadline_ns >= 0 && now >= drain_deadline_ns) break;

    int64_t wait_ns = -1;
    for (int64_t deadline : {timeout_deadline_ns, kill_deadline, drain_deadline_ns}) {
      if (deadline < 0) continue;
      int64_t left = std::max<int64_t>(0, deadline - now);
      wait_ns = wait_ns < 0 ? left : std::min(wait_ns, left);
    }
    if (tick_ms > 0) {
      int64_t tick_ns = int64_t{tick_ms} * 1'000'000;
      wait_ns = wait_ns < 0 ? tick_ns : std::min(wait_ns, tick_ns);
    }
    int poll_ms = wait_ns < 0 ? -1 : static_cast<int>((wait_ns + 999'999) / 1'000'000);

    pollfd fds[4];
    int count = 0;
    int out_index = -1, err_index = -1, pid_index = -1;
    if (stdout_fd_ >= 0) { out_index = count; fds[count++] = {stdout_fd_, POLLIN, 0}; }
    if (stderr_fd_ >= 0) { err_index = count; fds[count++] = {stderr_fd_, POLLIN, 0}; }
    if (!exited) { pid_index = count; fds[count++] = {pidfd_, POLLIN, 0}; }
    int wake_index = count;
    fds[count++] = {wake_fd_, POLLIN, 0};

    int ready = poll(fds, count, poll_ms);
    if (ready < 0 && errno != EINTR) break;  // cannot happen with valid fds
    if (ready > 0) {
      if (fds[wake_index].revents & POLLIN) {
        uint64_t value;
        ssize_t ignored = read(wake_fd_, &value, sizeof(value));
        (void)ignored;
      }
      for (auto [index, fd, stream] : {std::tuple{out_index, &stdout_fd_, OutputStream::kStdout},
                                       std::tuple{err_index, &stderr_fd_, OutputStream::kStderr}}) {
        if (index < 0 || fds[index].revents == 0) continue;
        ssize_t n = read(*fd, buffer.data(), buffer.size());
        if (n > 0) {
          on_output(stream, std::string_view(buffer.data(), static_cast<size_t>(n)));
        } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
          CloseFd(*fd);
        }
      }
      if (pid_index >= 0 && (fds[pid_index].revents & POLLIN)) {
        // Why kill before reaping: the zombie leader keeps the group id
        // reserved, so this cannot hit a recycled group.
        SignalGroup(SIGKILL);
        int status = 0;
        rusage usage{};
        std::lock_guard<std::mutex> lock(mu_);
        ReleaseGroup();
        pid_t got = wait4(pid_, &status, 0, &usage);
        reaped_ = true;
        exited = true;
        exit_ns = NowNs();
        drain_deadline_ns = exit_ns + kDrainAfterExitNs;
        if (got == pid_) {
          if (WIFEXITED(status)) {
            result.exit_code = WEXITSTATUS(status);
          } else if (WIFSIGNALED(status)) {
            result.signal = WTERMSIG(status);
          }
        }
        auto ms = [](const timeval& tv) {
          return static_cast<uint64_t>(tv.tv_sec) * 1000 + static_cast<uint64_t>(tv.tv_usec) / 1000;
        };
        result.cpu_ms = ms(usage.ru_utime) + ms(usage.ru_stime);
        result.max_rss_bytes = static_cast<uint64_t>(usage.ru_maxrss) * 1024;  // KiB on Linux
      }
    }
    if (on_tick) on_tick();
  }
  CloseFd(stdout_fd_);
  CloseFd(stderr_fd_);
  result.killed = killed_.load();
  result.duration_ms = static_cast<uint64_t>((exit_ns - start_ns_) / 1'000'000);
  return result;
}

}  // namespace receta::worker
