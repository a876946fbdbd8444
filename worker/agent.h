#pragma once
// Agent: the worker's main loop. One thread owns the main DEALER socket to
// the scheduler; each Dispatch runs as an Attempt on a thread of the
// AttemptPool, which posts its events (AttemptStarted, LogChunk, the
// result) to the main thread's EventMailbox, polled beside the socket, so
// they go out with no polling delay.
//
// Session (brief "Worker session"; Paranoid Pirate):
// - Register on connect; RegisterAck gives the heartbeat interval and
//   liveness. No ack within interval*liveness: new socket, Register again.
// - Heartbeat whenever nothing was sent for an interval. Silence from the
//   scheduler for interval*liveness: the scheduler is lost; new socket,
//   Register again (with the attempts still running).
// - Silence for interval*liveness while attempts run or wait (registered or
//   trying to register again): the scheduler counts this worker lost by now
//   and runs its attempts elsewhere, so the worker kills them (grace 0) and
//   drops its queued dispatches, all reported as system failures, so two
//   copies of a step never run for long. Their AttemptFinished are resent
//   after the next RegisterAck; the scheduler fences them.
// - Error kNotFound with request_id 0 (the scheduler does not know us, e.g.
//   it restarted): Register again at once.
// - AttemptFinished is kept and resent every kResendFinishedMs, and right
//   after each RegisterAck, until its AttemptFinishedAck arrives.
// - AttemptStarted while unregistered (e.g. the scheduler is restarting) is
//   kept, up to kMaxHeldEventBytes, and sent right after the next
//   RegisterAck. Log chunks are delivered at least once: every chunk of an
//   attempt is retained (RetainedLogs, bounded) until its
//   AttemptFinishedAck and sent again after each RegisterAck, so a step's
//   log survives a scheduler crash, even the chunks the dead scheduler
//   never read.
// - Steps die with the worker: a ProcessGroupGuard (process_guard.h) forked
//   at Create holds every running step's process group and kills them if
//   the worker dies, even by kill -9.
// - Slots: at most `slots` processes run at once (SlotGate: an attempt
//   takes a slot once its sandbox and inputs are ready and gives it back
//   when its process ends; hashing and uploading outputs take none). One
//   attempt more than the slots is started (kPreparedAhead), so the next
//   step's sandbox is ready when a slot frees; a Dispatch beyond that (the
//   scheduler prefetches one) waits in a queue. AttemptStarted goes out
//   only when its process really runs. Queued attempts count as held in
//   Register and Heartbeat; a KillAttempt for one ends it at once, never
//   started, as it does one waiting for a slot.
// - Speculative dispatches (Dispatch.after_attempt, a chain's next step):
//   started ahead like any attempt when there is room, they build their
//   sandbox while the upstream runs and wait (UpstreamHandoff); the
//   upstream's own thread hands its result over, and the step's process
//   starts on its outputs (upstream_inputs.h) before the upstream is even
//   reported. One still queued when its upstream succeeds is settled then
//   and starts like any queued dispatch. Never started otherwise: the
//   scheduler withdraws them with KillAttempt when the upstream's result
//   does not ready them (one whose upstream failed waits queued for it).
//   One naming an attempt this worker neither holds nor finished lately
//   ends at once, never started (a system failure the scheduler retries).
//   Dropped unstarted and unreported when the upstream made what a cached
//   result of the step was made from (unless_upstream_made): the step may
//   be a cache hit, which only the scheduler knows, and it sees the same.

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "common/protocol/messages.h"
#include "common/status.h"
#include "worker/attempt.h"
#include "worker/attempt_pool.h"
#include "worker/event_mailbox.h"
#include "worker/failed_sandboxes.h"
#include "worker/local_cache.h"
#include "worker/machine_info.h"
#include "worker/process_guard.h"
#include "worker/retained_logs.h"
#include "worker/sandbox_recycler.h"
#include "worker/slot_gate.h"
#include "worker/upstream_handoff.h"

namespace receta::worker {

class NetBlobPool;

struct AgentOptions {
  std::string scheduler_endpoint;
  std::string work_dir;
  uint32_t slots = 1;
  std::vector<std::string> labels;
  std::string name;  // empty: the hostname
  RetentionLimits retention;
  uint32_t shutdown_grace_ms = 2000;
};

class Agent {
 public:
  static constexpr int64_t kResendFinishedMs = 3000;
  static constexpr size_t kMaxHeldEventBytes = 16u << 20;
  static constexpr uint32_t kDefaultHeartbeatIntervalMs = 1000;
  static constexpr uint32_t kDefaultHeartbeatLiveness = 10;
  /// Attempts started beyond the slots: prepared, waiting for a slot.
  static constexpr uint32_t kPreparedAhead = 1;

  /// Prepares the work dir (worker id, cache, leftover sandboxes removed)
  /// and starts the process group guard. Errors say which directory could
  /// not be used, or why the guard could not start.
  static Result<std::unique_ptr<Agent>> Create(AgentOptions options);
  ~Agent();

  /// Runs until `stop_fd` becomes readable (a signalfd in main, an eventfd
  /// in tests), then kills running attempts, reports them and returns 0.
  int Run(int stop_fd);

  const std::string& worker_id() const { return worker_id_; }

 private:
  struct Running {
    std::shared_ptr<Attempt> attempt;
    // A speculative attempt started ahead: its upstream, until the agent
    // has reported that one's result (or it was dropped), and its events
    // held until then, in order.
    std::string upstream;
    std::vector<std::string> held_events;
  };
  struct Unacked {
    protocol::AttemptFinished finished;
    uint64_t request_id = 0;
    int64_t last_sent_ms = 0;
  };

  Agent(AgentOptions options, std::string worker_id, LocalCache cache, MachineInfo machine,
        std::unique_ptr<ProcessGroupGuard> guard, std::unique_ptr<EventMailbox> events);
  void Connect();
  void SendRegister();
  bool Send(const protocol::Message& message, uint64_t request_id);
  bool SendEncoded(const std::string& header);
  void HandleSchedulerFrames();
  void HandleSchedulerMessage(uint64_t request_id, protocol::Message message);
  void HandleDispatch(protocol::Dispatch dispatch);
  void StartAttempt(protocol::Dispatch dispatch);
  /// Whether another attempt may start now: fewer than the slots plus
  /// kPreparedAhead have a process yet to end.
  bool RoomToStart() const;
  /// Speculative dispatches waiting on `upstream` (after_attempt) when it
  /// succeeded: dropped if it made what a cached result of their step used,
  /// else their upstream inputs filled in (after_attempt cleared), so they
  /// start like any queued dispatch.
  void SettleSpeculative(const protocol::AttemptFinished& upstream);
  /// The result of an attempt that ended here: unacknowledged, or among the
  /// last kRecentSuccesses acknowledged successes; null otherwise.
  const protocol::AttemptFinished* FinishedHere(const std::string& attempt_id) const;
  /// Starts queued dispatches while RoomToStart; a speculative one whose
  /// upstream failed here stays queued (for its KillAttempt).
  void StartQueued();
  // Kills these started attempts (those not in running_ are skipped).
  void KillStarted(const std::vector<std::string>& attempt_ids, uint32_t grace_ms, const std::string& reason);
  /// Drops a queued dispatch and reports it finished, never started.
  bool EndQueued(const std::string& attempt_id, const std::string& why);
  /// Reports an attempt that ended before its process started.
  void ReportNeverStarted(const std::string& attempt_id, const std::string& why,
                          bool system_failure);
  void Report(protocol::AttemptFinished finished);
  void HandleAttemptEvents();
  /// One PushSink frame from an attempt's thread.
  void HandleAttemptEvent(std::string_view frame);
  /// Handles the events held for the attempts waiting on `upstream_id`,
  /// whose result has just been reported.
  void ReleaseHeldFor(const std::string& upstream_id);
  /// Keeps an attempt event for after the next RegisterAck.
  void HoldEvent(std::string header);
  void SendFinished(Unacked& unacked);
  void OnTimers();
  int64_t LivenessMs() const;
  /// Once per silence of the scheduler: kills running attempts and ends
  /// queued ones (see the top of this file).
  void AbandonAttempts(int64_t silent_ms);
  std::vector<std::string> RunningIds() const;
  void Shutdown();

  AgentOptions options_;
  std::string worker_id_;
  LocalCache cache_;
  MachineInfo machine_;
  std::map<std::string, std::string> worker_env_;
  zmq::context_t context_;
  std::unique_ptr<zmq::socket_t> dealer_;
  std::unique_ptr<EventMailbox> events_;  // from the attempt threads

  bool registered_ = false;
  uint64_t next_request_id_ = 0;
  uint64_t register_request_id_ = 0;
  int64_t register_sent_ms_ = 0;
  int64_t last_sent_ms_ = 0;
  int64_t last_heard_ms_ = 0;
  int64_t abandoned_at_heard_ms_ = -1;  // the last_heard_ms_ whose silence AbandonAttempts handled
  uint32_t heartbeat_interval_ms_ = kDefaultHeartbeatIntervalMs;
  uint32_t heartbeat_liveness_ = kDefaultHeartbeatLiveness;

  std::map<std::string, Running> running_;  // started attempts, by attempt id
  // Of running_: those whose process has not ended (preparing, waiting for
  // a slot, or running).
  std::set<std::string> before_process_end_;
  std::deque<protocol::Dispatch> queued_;    // dispatched beyond the slots, in order
  // !queued_.empty() as of the main loop's last turn, for the attempt
  // threads (PushSink::ProcessEnded). Declared before attempt_pool_, which
  // reads it until its threads are joined.
  std::atomic<bool> dispatches_waiting_{false};
  std::map<std::string, Unacked> unacked_;
  static constexpr size_t kRecentSuccesses = 16;
  std::deque<protocol::AttemptFinished> recent_successes_;  // oldest first
  /// Encoded AttemptStarted headers held while unregistered, oldest first,
  /// and their total size.
  std::deque<std::string> held_events_;
  size_t held_event_bytes_ = 0;
  RetainedLogs retained_logs_;
  std::unique_ptr<NetBlobPool> blob_pool_;
  SandboxRecycler recycler_;
  SlotGate slot_gate_;
  UpstreamHandoff handoff_;
  std::unique_ptr<AttemptPool> attempt_pool_;  // stopped by Shutdown
  // Reset by Shutdown once the steps are reaped; attempts hold a raw pointer.
  std::unique_ptr<ProcessGroupGuard> guard_;
};

}  // namespace receta::worker
