#pragma once
// EventMailbox: frames from the attempt threads to the agent's main thread,
// in the order posted, with an eventfd the main loop polls beside its
// socket to the scheduler.
//
// Why not an inproc PUSH/PULL pair (as before): every ZeroMQ socket in a
// zmq_poll costs its mailbox checks (a getpid and a poll) on every call,
// and each send and receive on it more; a worker's main loop turns several
// times per step. A raw fd in the same zmq_poll costs one poll entry, and
// a post to a mailbox already signalled costs a lock and a push.

#include <deque>
#include <memory>
#include <mutex>
#include <string>

#include "common/fs/fd_io.h"
#include "common/status.h"

namespace receta::worker {

class EventMailbox {
 public:
  /// Error (with the errno text) when no eventfd can be made.
  static Result<std::unique_ptr<EventMailbox>> Create();

  /// Any thread: queues `frame` and makes fd() readable.
  void Post(std::string frame);
  /// The frames posted since the last call, oldest first; fd() is not
  /// readable after (until the next Post).
  std::deque<std::string> TakeAll();

  /// Readable while frames wait; for poll (never read it directly).
  int fd() const { return wake_fd_.get(); }

 private:
  explicit EventMailbox(UniqueFd wake_fd) : wake_fd_(std::move(wake_fd)) {}

  const UniqueFd wake_fd_;
  std::mutex mu_;
  std::deque<std::string> frames_;  // guarded by mu_
  bool signalled_ = false;          // guarded by mu_: wake_fd_ written since the last TakeAll
};

}  // namespace receta::worker
