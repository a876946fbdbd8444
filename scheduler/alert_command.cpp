#include "scheduler/alert_command.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include "common/fs/spawn_setup.h"
#include "common/lang/utf8.h"

extern char** environ;

namespace receta::scheduler {
namespace {

constexpr size_t kOutputTailBytes = 1024;
constexpr size_t kShownCommandBytes = 80;
constexpr size_t kShownOutputBytes = 200;
// Why: without a pidfd, nothing wakes the sender when the shell exits, so it
// looks this often.
constexpr auto kExitCheckWithoutPidfd = std::chrono::milliseconds(20);


// write(2) that returns EPIPE instead of killing the scheduler with SIGPIPE
// when the command exited without reading its stdin (`exit 3` does).
ssize_t WriteWithoutSigpipe(int fd, const char* bytes, size_t length) {
  sigset_t pipe_only, old_mask;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_only, &old_mask);
  ssize_t n = write(fd, bytes, length);
  int err = errno;
  if (n < 0 && err == EPIPE) {
    // Why: the SIGPIPE is now pending for this thread; take it so that it
    // does not fire when the old mask comes back.
    timespec zero{};
    sigtimedwait(&pipe_only, nullptr, &zero);
  }
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  errno = err;
  return n;
}

// `text` as one short line for a reason: valid UTF-8, no control characters.
std::string ShortLine(std::string_view text, size_t max_bytes) {
  std::string line = ValidUtf8(text);
  for (char& c : line) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  if (line.size() <= max_bytes) return line;
  return std::string(Utf8Prefix(line, max_bytes)) + "…";
}

// The last line of `output` that is not blank.
std::string_view LastLine(std::string_view output) {
  size_t end = output.find_last_not_of(" \t\r\n");
  if (end == std::string_view::npos) return {};
  output = output.substr(0, end + 1);
  size_t newline = output.rfind('\n');
  return newline == std::string_view::npos ? output : output.substr(newline + 1);
}

}  // namespace

Result<std::unique_ptr<AlertCommand>> AlertCommand::Start(const std::string& command,
                                                          std::shared_ptr<const std::string> input,
                                                          uint64_t timeout_ms) {
  using R = Result<std::unique_ptr<AlertCommand>>;
  const std::string shown = "command `" + ShortLine(command, kShownCommandBytes) + "`";
  int in_pipe[2] = {-1, -1};
  int out_pipe[2] = {-1, -1};
  auto close_all = [&] {
    for (int* fd : {&in_pipe[0], &in_pipe[1], &out_pipe[0], &out_pipe[1]}) CloseFd(*fd);
  };
  if (pipe2(in_pipe, O_CLOEXEC) != 0 || pipe2(out_pipe, O_CLOEXEC) != 0) {
    int err = errno;
    close_all();
    return R::Error("cannot create pipes for " + shown + ": " + strerror(err));
  }

  SpawnSetup setup;
  posix_spawn_file_actions_adddup2(&setup.actions, in_pipe[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&setup.actions, out_pipe[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&setup.actions, out_pipe[1], STDERR_FILENO);
  // Why: the scheduler's sockets and database files must not stay open in
  // a notification script (or in whatever it leaves running).
  posix_spawn_file_actions_addclosefrom_np(&setup.actions, STDERR_FILENO + 1);
  // Why: the sender's thread blocks SIGPIPE, and a blocked or ignored
  // signal would be inherited by the command.
  setup.NewProcessGroupWithDefaultSignals();

  std::string shell = "/bin/sh";
  std::string dash_c = "-c";
  std::string script = command;
  char* argv[] = {shell.data(), dash_c.data(), script.data(), nullptr};

  auto run = std::unique_ptr<AlertCommand>(new AlertCommand());
  run->command_ = command;
  run->input_ = std::move(input);
  run->timeout_ms_ = timeout_ms;
  run->deadline_ = Clock::now() + std::chrono::milliseconds(timeout_ms);
  int rc = posix_spawn(&run->pid_, "/bin/sh", &setup.actions, &setup.attr, argv, environ);
  CloseFd(in_pipe[0]);
  CloseFd(out_pipe[1]);
  if (rc != 0) {
    close_all();
    run->pid_ = -1;
    return R::Error("cannot start /bin/sh for " + shown + ": " + strerror(rc));
  }
  run->stdin_fd_ = in_pipe[1];
  run->output_fd_ = out_pipe[0];
  fcntl(run->stdin_fd_, F_SETFL, O_NONBLOCK);
  fcntl(run->output_fd_, F_SETFL, O_NONBLOCK);
  run->pidfd_ = static_cast<int>(syscall(SYS_pidfd_open, run->pid_, 0));
  run->FeedInput();
  return run;
}

AlertCommand::~AlertCommand() {
  if (pid_ > 0) {
    kill(-pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  CloseFd(stdin_fd_);
  CloseFd(output_fd_);
  CloseFd(pidfd_);
}

void AlertCommand::PollFds(std::vector<pollfd>* fds) const {
  if (stdin_fd_ >= 0) fds->push_back({stdin_fd_, POLLOUT, 0});
  if (output_fd_ >= 0) fds->push_back({output_fd_, POLLIN, 0});
  if (pidfd_ >= 0 && pid_ > 0) fds->push_back({pidfd_, POLLIN, 0});
}

AlertCommand::Clock::time_point AlertCommand::WakeBy() const {
  // Why max once killed: the pidfd then says when it is gone; waking at the
  // passed deadline would spin.
  Clock::time_point wake = killed_at_deadline_ ? Clock::time_point::max() : deadline_;
  if (pidfd_ < 0) wake = std::min(wake, Clock::now() + kExitCheckWithoutPidfd);
  return wake;
}

void AlertCommand::FeedInput() {
  while (stdin_fd_ >= 0 && input_written_ < input_->size()) {
    ssize_t n = WriteWithoutSigpipe(stdin_fd_, input_->data() + input_written_,
                                    input_->size() - input_written_);
    if (n > 0) {
      input_written_ += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && errno == EAGAIN) {
      return;
    } else {
      break;  // EPIPE: the command does not read its stdin, which is its right
    }
  }
  CloseFd(stdin_fd_);  // all written (or unwanted): the command sees end of file
}

void AlertCommand::ReadOutput() {
  char buffer[4096];
  while (output_fd_ >= 0) {
    ssize_t n = read(output_fd_, buffer, sizeof buffer);
    if (n > 0) {
      output_tail_.append(buffer, static_cast<size_t>(n));
      if (output_tail_.size() > kOutputTailBytes) {
        output_tail_.erase(0, output_tail_.size() - kOutputTailBytes);
      }
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && errno == EAGAIN) {
      return;
    } else {
      CloseFd(output_fd_);
    }
  }
}

bool AlertCommand::Pump() {
  if (done_) return true;
  FeedInput();
  ReadOutput();
  siginfo_t info{};
  // Why WNOWAIT: the group is killed before the leader is reaped, while the
  // zombie still holds the group id, so the kill cannot reach a new group.
  if (waitid(P_PID, pid_, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid_) {
    kill(-pid_, SIGKILL);  // whatever the script left running in its group
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    ReadOutput();
    CloseFd(stdin_fd_);
    CloseFd(output_fd_);
    CloseFd(pidfd_);
    Finish(status);
    return true;
  }
  if (!killed_at_deadline_ && Clock::now() >= deadline_) {
    kill(-pid_, SIGKILL);
    killed_at_deadline_ = true;
  }
  return false;
}

void AlertCommand::Finish(int status) {
  done_ = true;
  const std::string shown = "command `" + ShortLine(command_, kShownCommandBytes) + "`";
  // Why exit 0 first: it may have exited on its own just before the kill.
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    failure_.clear();
    return;
  }
  if (killed_at_deadline_) {
    failure_ = shown + " did not finish within " + std::to_string(timeout_ms_) + " ms; killed it";
  } else if (WIFEXITED(status)) {
    failure_ = shown + " exited with code " + std::to_string(WEXITSTATUS(status));
  } else if (WIFSIGNALED(status)) {
    failure_ = shown + " was killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
               strsignal(WTERMSIG(status)) + ")";
  } else {
    failure_ = shown + " ended with wait status " + std::to_string(status);
  }
  std::string_view last = LastLine(output_tail_);
  if (!last.empty()) failure_ += ": " + ShortLine(last, kShownOutputBytes);
}

}  // namespace receta::scheduler
