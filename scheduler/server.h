#pragma once
// Server: the scheduler daemon's event loop. It owns the ROUTER socket, the
// store, the blob store, the log store and the core, and turns frames into
// core inputs and core changes into durable state and messages.
//
// One loop iteration: wait for frames (or the next timer), handle every frame
// waiting (up to a batch limit), let the core tick, persist everything the
// iteration changed in ONE synced WriteBatch (group commit), and only then
// send replies, dispatches and acknowledgements. Long polls (events, logs)
// are parked and answered when there is something new or they time out.

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <zmq.hpp>

#include "common/hash/sha256.h"
#include "common/protocol/codec.h"
#include "common/protocol/messages.h"
#include "common/status.h"
#include "scheduler/alert_sender.h"
#include "scheduler/blob_store.h"
#include "scheduler/log_store.h"
#include "scheduler/scheduler_core.h"
#include "scheduler/status_json.h"
#include "scheduler/store.h"
#include "scheduler/store_oracle.h"
#include "scheduler/tiered_blob_store.h"

namespace receta::scheduler {

struct ServerOptions {
  std::string data_dir = ".receta";
  std::string listen = "tcp://127.0.0.1:7700";
  uint64_t log_cap_bytes = 64ull << 20;  // per attempt
  CoreOptions core;
  AlertSenderOptions alerts;
};

/// A ZeroMQ peer identity in hex, for logs.
std::string PeerLabel(const std::string& peer);

class Server {
 public:
  /// Opens the data dir (RocksDB, CAS, logs), reloads unfinished runs, binds
  /// and writes <data-dir>/scheduler.endpoint. Errors say which part failed.
  static Result<std::unique_ptr<Server>> Open(const ServerOptions& options);
  ~Server();

  /// Serves until `stop` becomes true (checked at least every 100 ms).
  /// Returns an error only when state can no longer be persisted.
  Status Serve(const std::atomic<bool>& stop);

  /// The bound endpoint, with the real port when listening on port '*'.
  const std::string& endpoint() const { return endpoint_; }

 private:
  struct Outbound {
    std::string peer;
    std::string header;
    std::optional<std::string> blob;
  };
  struct UploadSession {
    std::unique_ptr<BlobWriter> writer;
    uint64_t request_id = 0;
    uint64_t size_bytes = 0;
    uint64_t last_activity_ms = 0;
  };
  struct EventsWaiter {
    std::string peer;
    uint64_t request_id = 0;
    protocol::Events request;
    uint64_t deadline_ms = 0;
    /// A follower's answer waits until then for more events (see
    /// kFollowBatchMs in server_queries.cpp); a run's end is sent at once.
    uint64_t batch_until_ms = 0;
  };
  struct LogsWaiter {
    std::string peer;
    uint64_t request_id = 0;
    protocol::Logs request;
    uint64_t deadline_ms = 0;
  };

  explicit Server(const ServerOptions& options);
  Status Restore(uint64_t now_ms);
  Status Bind();

  // ---- Frames in, messages out (server.cpp) --------------------------------
  void HandleFrames(std::vector<zmq::message_t>& parts, uint64_t now_ms);
  void Handle(const std::string& peer, uint64_t request_id, protocol::Message& message,
              std::string_view blob, uint64_t now_ms);
  /// The registered worker behind `peer`, or "" after telling it to register.
  std::string WorkerOf(const std::string& peer);
  void HandleWorkerMessage(const std::string& peer, uint64_t request_id, protocol::Message& message,
                           uint64_t now_ms);
  /// Where `attempt_id` is, if it is current and dispatched to `worker_id`.
  std::optional<AttemptLocation> CurrentAttemptOf(const std::string& attempt_id,
                                                  const std::string& worker_id) const;
  /// True when the attempt at `location` (a current one) runs on `worker_id`.
  bool RunsOn(const AttemptLocation& location, const std::string& worker_id) const;
  /// Adds a log chunk of a current attempt of `worker_id` to its log (the
  /// LogStore keeps each byte once); drops stale and foreign chunks.
  void StoreLogChunk(const protocol::LogChunk& chunk, const std::string& worker_id);
  /// Warns when a finished attempt's log lacks bytes its worker printed.
  void CheckLogComplete(const AttemptLocation& location, const protocol::AttemptFinished& finished);
  void Reply(const std::string& peer, uint64_t request_id, const protocol::Message& message,
             std::optional<std::string> blob = std::nullopt);
  void ReplyError(const std::string& peer, uint64_t request_id, protocol::ErrorCode code,
                  const std::string& text);
  /// Commits the turn's changes and queues the core's commands to workers
  /// (sending them ahead of the fsync when that is safe; see the .cpp).
  Status CommitTurn(uint64_t now_ms);
  /// Queues the core's commands (Dispatch, KillAttempt) to their workers.
  void QueueCommands(std::vector<Outgoing>& commands, uint64_t now_ms);
  /// Hands the turn's alerts (committed) to the sender, with their logs' tails.
  void SendAlerts(std::vector<Alert>& alerts);
  void SendOutbound();
  void SendHeartbeats(uint64_t now_ms);

  // ---- Blobs (server_blobs.cpp) ---------------------------------------------
  void OnBlobQuery(const std::string& peer, uint64_t request_id, const protocol::BlobQuery& query);
  void OnBlobPutBegin(const std::string& peer, uint64_t request_id, const protocol::BlobPutBegin& begin,
                      uint64_t now_ms);
  void OnBlobPutChunk(const std::string& peer, uint64_t request_id, const protocol::BlobPutChunk& chunk,
                      std::string_view bytes, uint64_t now_ms);
  void OnBlobPutEnd(const std::string& peer, uint64_t request_id, const protocol::BlobPutEnd& end,
                    uint64_t now_ms);
  /// Puts the bytes of the dispatch's small inputs into it, up to
  /// protocol::kMaxInlineBlobBytes (server_blobs.cpp).
  void AttachInlineInputs(protocol::Dispatch& dispatch, uint64_t now_ms);
  /// Removes a blob whose bytes do not hash to `digest` (`found` says so,
  /// naming it, for the log) and reopens the steps that made it.
  void DropCorruptBlob(const std::string& digest, const std::string& found, uint64_t now_ms);
  /// Stores the outputs carried in `finished` (server_blobs.cpp); one that
  /// cannot be stored makes `finished` a system failure saying why.
  void StoreInlineBlobs(protocol::AttemptFinished& finished, uint64_t now_ms);
  /// Verifies and stores blobs sent inline (pending until the turn's
  /// commit); on error, `failed_digest` names the blob.
  Status StoreBlobBytes(const std::vector<protocol::InlineBlob>& blobs, uint64_t now_ms,
                        std::string* failed_digest);
  /// Serves a chunk as it is on disk: its reader verifies the whole blob
  /// and reports damage (BlobDamaged).
  void OnBlobGet(const std::string& peer, uint64_t request_id, const protocol::BlobGet& get);
  /// A reader's report that a blob came to it damaged: hashes the CAS copy
  /// and drops it (reopening its producers) when damaged.
  void OnBlobDamaged(const std::string& peer, uint64_t request_id,
                     const protocol::BlobDamaged& report, uint64_t now_ms);
  void ExpireUploads(uint64_t now_ms);

  // ---- Read requests (server_queries.cpp) ---------------------------------
  /// A run from memory, or else from the store; nullopt when unknown.
  Result<std::optional<RunSnapshot>> Snapshot(const std::string& run_id);
  void OnListRuns(const std::string& peer, uint64_t request_id, const protocol::ListRuns& request,
                  uint64_t now_ms);
  void OnRunStatus(const std::string& peer, uint64_t request_id, const protocol::RunStatus& request,
                   uint64_t now_ms);
  void OnEvents(const std::string& peer, uint64_t request_id, const protocol::Events& request,
                uint64_t now_ms);
  /// Answers the waiter if it has events or timed out; true when answered.
  bool TryAnswerEvents(EventsWaiter& waiter, uint64_t now_ms);
  void OnLogs(const std::string& peer, uint64_t request_id, const protocol::Logs& request, uint64_t now_ms);
  bool TryAnswerLogs(LogsWaiter& waiter, uint64_t now_ms);
  void OnListArtifacts(const std::string& peer, uint64_t request_id, const protocol::ListArtifacts& request);
  void OnCacheList(const std::string& peer, uint64_t request_id, const protocol::CacheList& request);
  void OnCacheRemove(const std::string& peer, uint64_t request_id, const protocol::CacheRemove& request);
  void OnCacheGc(const std::string& peer, uint64_t request_id, const protocol::CacheGc& request);
  void OnRetryRun(const std::string& peer, uint64_t request_id, const protocol::RetryRun& request,
                  uint64_t now_ms);
  void ServeWaiters(uint64_t now_ms, bool new_events);
  /// Writes the operator log's line of each event committed this turn.
  void LogCommittedEvents();
  /// When the loop must look at the waiters again at the latest.
  uint64_t NextWaiterWakeMs() const;
  /// True when `events` hold a run's end (answered to followers at once).
  static bool EndsARun(const std::vector<EventRecord>& events);

  ServerOptions options_;
  zmq::context_t context_;
  zmq::socket_t socket_;
  std::string endpoint_;
  std::string endpoint_file_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<TieredBlobStore> blobs_;
  std::unique_ptr<LogStore> logs_;
  std::unique_ptr<StoreOracle> oracle_;
  std::unique_ptr<SchedulerCore> core_;
  std::unique_ptr<AlertSender> alert_sender_;

  /// Changes the server makes itself (blob index, cache removal), merged
  /// into the core's at commit.
  Changes own_changes_;
  std::vector<Outbound> outbound_;
  std::map<std::string, std::string> peer_of_worker_;
  std::map<std::string, std::string> worker_of_peer_;
  std::map<std::string, uint64_t> heartbeat_sent_ms_;  // by worker id
  std::map<std::pair<std::string, std::string>, UploadSession> uploads_;  // (peer, digest)
  std::vector<EventsWaiter> events_waiters_;
  std::vector<LogsWaiter> logs_waiters_;
  uint64_t committed_event_seq_ = 0;
  bool run_ended_in_turn_ = false;  // the last commit held a run's end
  /// At least the seq of the last event that ended a run (every event when
  /// restored): a follower asking after it has no run's end to be told at
  /// once (TryAnswerEvents).
  uint64_t run_end_event_seq_ = 0;
  /// The last commit's events, for the operator log once the turn's
  /// messages are out (LogCommittedEvents).
  std::vector<EventRecord> events_to_log_;
  std::vector<std::string> dispatched_in_turn_;  // attempt ids of the last commit's Dispatches
  bool logs_changed_ = false;  // a log grew or an attempt ended this turn
  bool sync_this_turn_ = false;  // a request this turn is answered only once its change is on disk
  /// A request this turn needs its change on disk before anything that
  /// depends on it leaves (not only re-sent results): commands wait too.
  bool answers_need_sync_first_ = false;
  /// Group commit: the answers of turns that sync only for results workers
  /// re-send until answered wait, with their turns' writes, for one fsync
  /// at sync_due_ms_ (or the next synced commit, whichever comes first).
  std::vector<Outbound> answers_after_sync_;
  uint64_t sync_due_ms_ = 0;  // 0: nothing waits for a sync
  uint64_t dropped_frames_ = 0;
};

}  // namespace receta::scheduler
