#include "worker/event_mailbox.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <utility>

namespace receta::worker {

Result<std::unique_ptr<EventMailbox>> EventMailbox::Create() {
  using R = Result<std::unique_ptr<EventMailbox>>;
  int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0)
    return R::Error(std::string("cannot make an eventfd for attempt events: ") + strerror(errno));
  return std::unique_ptr<EventMailbox>(new EventMailbox(UniqueFd(fd)));
}

void EventMailbox::Post(std::string frame) {
  std::lock_guard<std::mutex> lock(mu_);
  frames_.push_back(std::move(frame));
  if (signalled_) return;  // the main thread has not taken the last ones yet
  // Why under the lock: TakeAll clears the counter and the flag together,
  // so a wake-up is never lost between them. A failed write (the counter
  // cannot overflow at one per TakeAll) would only delay the frames to the
  // main loop's next turn.
  uint64_t one = 1;
  while (write(wake_fd_.get(), &one, sizeof one) < 0 && errno == EINTR) {
  }
  signalled_ = true;
}

std::deque<std::string> EventMailbox::TakeAll() {
  std::lock_guard<std::mutex> lock(mu_);
  if (signalled_) {
    uint64_t count = 0;
    while (read(wake_fd_.get(), &count, sizeof count) < 0 && errno == EINTR) {
    }
    signalled_ = false;
  }
  return std::exchange(frames_, {});
}

}  // namespace receta::worker
