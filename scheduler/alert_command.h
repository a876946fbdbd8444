#pragma once
// AlertCommand: one run of a command sink, `/bin/sh -c COMMAND` on the
// scheduler's host with the alert document on its stdin. It runs in its own
// process group (a script's children die with it), with the scheduler's
// environment (so it finds the tokens and PATH it was set up with), and no
// other descriptor of the scheduler open. Its stdout and stderr are kept
// (the last bytes) to explain a failure.
//
// Never blocks: AlertSender polls the descriptors from PollFds() together
// with its HTTP transfers and calls Pump() after each wake-up.

#include <poll.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace receta::scheduler {

class AlertCommand {
 public:
  using Clock = std::chrono::steady_clock;

  /// Spawns `command` and starts feeding it `input`. It is killed (SIGKILL
  /// to its group) if it has not exited `timeout_ms` after this call. Errors
  /// name the command and the errno text.
  static Result<std::unique_ptr<AlertCommand>> Start(const std::string& command,
                                                     std::shared_ptr<const std::string> input,
                                                     uint64_t timeout_ms);
  /// Kills the process group and reaps the shell if it still runs.
  ~AlertCommand();
  AlertCommand(const AlertCommand&) = delete;
  AlertCommand& operator=(const AlertCommand&) = delete;

  /// Appends the descriptors to wait on before the next Pump().
  void PollFds(std::vector<pollfd>* fds) const;
  /// When to call Pump() at the latest even if no descriptor is ready (the
  /// kill deadline; sooner when the kernel has no pidfd to wait on).
  Clock::time_point WakeBy() const;
  /// Writes what stdin takes, reads what the command printed, kills it past
  /// its deadline, reaps it once it exited. Never blocks. True once done.
  bool Pump();
  /// Once done: "" when the command exited with 0, else why not, e.g.
  /// "command `exit 3` exited with code 3: <its last output line>".
  const std::string& failure() const { return failure_; }

 private:
  AlertCommand() = default;
  void FeedInput();
  void ReadOutput();
  void Finish(int status);

  std::string command_;
  std::shared_ptr<const std::string> input_;
  size_t input_written_ = 0;
  pid_t pid_ = -1;
  int stdin_fd_ = -1;   // ours to write; -1 once all is written or it closed
  int output_fd_ = -1;  // stdout and stderr of the command
  int pidfd_ = -1;      // readable when the shell exits; -1 on old kernels
  uint64_t timeout_ms_ = 0;
  Clock::time_point deadline_;
  bool killed_at_deadline_ = false;
  bool done_ = false;
  std::string output_tail_;
  std::string failure_;
};

}  // namespace receta::scheduler
