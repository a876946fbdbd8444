#pragma once
// AttemptPool: the threads attempts run on. A thread is made when an
// attempt finds none idle and then stays for the next one. Attempt events
// go to the agent's main thread through an EventMailbox.
//
// Why not a thread per attempt: for a step that takes a few milliseconds,
// creating the thread (clone, an 8 MiB stack mapped and faulted in, its
// guard page) and, as events went then, an inproc socket per attempt
// (connect, then close through ZeroMQ's reaper thread) was a tenth of the
// worker's CPU on the path of every step. The pool never holds more
// threads than attempts ever ran at once (slots plus attempts still hashing
// or uploading their outputs).

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "worker/attempt.h"
#include "worker/event_mailbox.h"

namespace receta::worker {

class AttemptPool {
 public:
  /// Threads post attempt events to `events`.
  /// With `dispatches_waiting` (the agent's: whether it holds dispatches
  /// waiting for room to start), an attempt's process end is told only
  /// while that is true (see PushSink); without, always.
  explicit AttemptPool(EventMailbox& events, const std::atomic<bool>* dispatches_waiting = nullptr)
      : events_(events), dispatches_waiting_(dispatches_waiting) {}
  ~AttemptPool() { Stop(); }

  /// Runs the attempt on an idle thread, or a new one.
  void Submit(std::shared_ptr<Attempt> attempt);
  /// Lets running attempts end (kill them first to hurry), then joins every
  /// thread. Submit must not be called after.
  void Stop();

  size_t threads() const;
  /// Threads waiting for an attempt.
  size_t idle() const;

  /// The result of the attempt whose kFinished event came (PushSink), once;
  /// nullopt when there is none.
  std::optional<protocol::AttemptFinished> TakeFinished(const std::string& attempt_id);

 private:
  friend class PushSink;
  void Serve();
  void PutFinished(protocol::AttemptFinished finished);

  EventMailbox& events_;
  const std::atomic<bool>* const dispatches_waiting_;
  mutable std::mutex mu_;
  std::condition_variable work_;
  std::deque<std::shared_ptr<Attempt>> queue_;  // guarded by mu_
  size_t idle_ = 0;                             // guarded by mu_
  bool stopping_ = false;                       // guarded by mu_
  std::vector<std::thread> threads_;            // guarded by mu_
  std::mutex finished_mu_;
  std::map<std::string, protocol::AttemptFinished> finished_;  // guarded by finished_mu_
};

/// Encodes an attempt's events as frames for the agent's main thread, all
/// of one shape: the kind byte, the attempt id, a NUL, then the encoded
/// protocol header to forward (empty for kSlotFree and kFinished; for
/// kDropped, why it was dropped, in words). Why the id up front:
/// the main thread files log chunks by attempt without decoding them.
///
/// The result itself stays in the process: Finished leaves it with the
/// pool, and the frame says where to take it (AttemptPool::TakeFinished).
/// Why: the main thread reads the result (to start what waits on it, and
/// to resend it until acknowledged) and encodes it with its own request
/// id, so encoding it here and decoding it there was two passes over
/// every output's name and digest, and the inline bytes, for nothing.
class PushSink : public AttemptSink {
 public:
  static constexpr char kStarted = 'S';
  static constexpr char kLog = 'L';
  static constexpr char kSlotFree = 'R';
  static constexpr char kFinished = 'F';
  static constexpr char kDropped = 'D';

  /// A frame taken apart (views into it); nullopt for a frame not of this shape.
  struct Event {
    char kind;
    std::string_view attempt_id;
    std::string_view header;
  };
  static std::optional<Event> Parse(std::string_view frame);

  /// `dispatches_waiting`: see AttemptPool's constructor.
  PushSink(EventMailbox& events, AttemptPool& pool, std::string attempt_id,
           const std::atomic<bool>* dispatches_waiting = nullptr)
      : events_(events),
        pool_(pool),
        attempt_id_(std::move(attempt_id)),
        dispatches_waiting_(dispatches_waiting) {}
  void Started(protocol::AttemptStarted started) override { Push(kStarted, started); }
  void Log(protocol::LogChunk chunk) override { Push(kLog, chunk); }
  void Finished(protocol::AttemptFinished finished) override {
    pool_.PutFinished(std::move(finished));
    Send(kFinished, "");
  }
  /// Why only while dispatches wait: the agent wants the news to start one
  /// of them in the freed room; otherwise it would wake the main thread for
  /// nothing after every step (the Finished that follows frees the room
  /// as well). A dispatch queued just after the test starts at that
  /// Finished instead, after the step's outputs are kept, not later.
  void ProcessEnded() override {
    if (dispatches_waiting_ == nullptr || dispatches_waiting_->load(std::memory_order_relaxed)) {
      Send(kSlotFree, "");
    }
  }
  void Dropped(const std::string& why) override { Send(kDropped, why); }

 private:
  void Push(char kind, const protocol::Message& message);
  void Send(char kind, std::string_view header);

  EventMailbox& events_;
  AttemptPool& pool_;
  std::string attempt_id_;
  const std::atomic<bool>* const dispatches_waiting_;
};

}  // namespace receta::worker
