#include "scheduler/server.h"

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <utility>

#include <spdlog/spdlog.h>

#include "common/protocol/validate.h"
#include "net/daemon_log.h"
#include "net/frames.h"

namespace receta::scheduler {
namespace {

using protocol::ErrorCode;

constexpr size_t kMaxFramesPerIteration = 2000;
constexpr int kPollCapMs = 100;
// How long a result's acknowledgement may wait for the fsync it shares
// with the results that come after it (group commit). Why: one fsync per
// step result was a journal commit and two context switches of the
// kernel's writeback per step; a chain of 200 steps of ~2 ms ran ~5%
// faster with none, and workers keep results until acknowledged anyway.
constexpr uint64_t kGroupCommitMs = 5;

uint64_t NowMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

// One log line per event: only the ids it has, then the message.
std::string DescribeEvent(const EventRecord& event) {
  std::string line = "event " + std::to_string(event.seq) + " " + event.kind;
  auto add = [&line](const char* name, const std::string& value) {
    if (!value.empty()) line += std::string(" ") + name + "=" + value;
  };
  add("run", event.run_id);
  add("step", event.step);
  add("attempt", event.attempt_id);
  add("worker", event.worker_name.value_or(event.worker_id));
  if (!event.message.empty()) line += ": " + event.message;
  return line;
}

Status WriteFileAtomically(const std::string& path, const std::string& text) {
  std::string temp = path + ".tmp";
  {
    std::ofstream out(temp, std::ios::trunc);
    out << text;
    if (!out.good()) return Status::Error("cannot write " + temp);
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) return Status::Error("cannot rename " + temp + " to " + path);
  return Status::Ok();
}

// Requests whose answer promises that what they changed survives a crash
// of the machine: their turn's batch is fsync'ed before the answer goes
// out. The rest (AttemptStarted, heartbeats, log chunks, registration,
// dispatches made by ticks) change only what a restart derives again:
// their batches reach the disk with the next synced one.
bool AnswerNeedsSyncedState(const protocol::Message& message) {
  return std::holds_alternative<protocol::AttemptFinished>(message) ||
         std::holds_alternative<protocol::SubmitRun>(message) || std::holds_alternative<protocol::Cancel>(message) ||
         std::holds_alternative<protocol::RetryRun>(message) ||
         std::holds_alternative<protocol::CacheRemove>(message) ||
         std::holds_alternative<protocol::CacheGc>(message) || std::holds_alternative<protocol::BlobPutEnd>(message);
}

// Requests whose sender keeps and re-sends them until answered, even across
// a restart of the scheduler: what they changed is not lost with an
// unsynced batch, since the sender brings it again (protocol/messages.h).
bool ResentUntilAnswered(const protocol::Message& message) {
  return std::holds_alternative<protocol::AttemptFinished>(message);
}

}  // namespace

std::string PeerLabel(const std::string& peer) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : peer) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

Server::Server(const ServerOptions& options) : options_(options), context_(1), socket_(context_, zmq::socket_type::router) {}

Server::~Server() {
  if (!endpoint_file_.empty()) std::remove(endpoint_file_.c_str());
}

Result<std::unique_ptr<Server>> Server::Open(const ServerOptions& options) {
  std::unique_ptr<Server> server(new Server(options));
  std::error_code ec;
  std::filesystem::create_directories(options.data_dir, ec);
  if (ec) return Status::Error("cannot create the data dir " + options.data_dir + ": " + ec.message());
  Result<std::unique_ptr<Store>> store = Store::Open(options.data_dir + "/db");
  if (!store.ok()) return store.status();
  server->store_ = std::move(*store);
  Result<std::unique_ptr<BlobStore>> blob_files = BlobStore::Open(options.data_dir + "/cas");
  if (!blob_files.ok()) return blob_files.status();
  server->blobs_ = std::make_unique<TieredBlobStore>(std::move(*blob_files), *server->store_);
  Result<std::unique_ptr<LogStore>> logs = LogStore::Open(options.data_dir + "/logs", options.log_cap_bytes);
  if (!logs.ok()) return logs.status();
  server->logs_ = std::move(*logs);
  server->oracle_ = std::make_unique<StoreOracle>(*server->store_, *server->blobs_);
  server->core_ = std::make_unique<SchedulerCore>(*server->oracle_, options.core);
  server->alert_sender_ = std::make_unique<AlertSender>(options.alerts);
  if (Status s = server->Restore(NowMs()); !s.ok()) return s;
  if (Status s = server->Bind(); !s.ok()) return s;
  return server;
}

Status Server::Restore(uint64_t now_ms) {
  Result<uint64_t> last_seq = store_->LastEventSeq();
  if (!last_seq.ok()) return last_seq.status();
  committed_event_seq_ = *last_seq;
  run_end_event_seq_ = *last_seq;
  uint64_t last_sequence = 0;
  std::vector<RunRecord> unfinished;
  Status scan = store_->ForEachRun([&](RunRecord&& run) {
    last_sequence = std::max(last_sequence, run.sequence);
    if (!IsTerminal(run.state)) unfinished.push_back(std::move(run));
    return true;
  });
  if (!scan.ok()) return scan;
  core_->RestoreCounters(*last_seq, last_sequence);
  Status workers = store_->ForEachWorker([&](WorkerRecord&& worker) {
    core_->RestoreWorker(std::move(worker));
    return true;
  });
  if (!workers.ok()) return workers;
  std::sort(unfinished.begin(), unfinished.end(),
            [](const RunRecord& a, const RunRecord& b) { return a.sequence < b.sequence; });
  for (RunRecord& run : unfinished) {
    std::string id = run.run_id;
    Result<std::vector<StepRecord>> steps = store_->GetSteps(id);
    if (!steps.ok()) return steps.status();
    if (Status s = core_->RestoreRun(std::move(run), std::move(*steps), now_ms); !s.ok()) {
      spdlog::error("{}", s.message());
      continue;
    }
    spdlog::info("run {} reloaded, resuming", id);
  }
  return Status::Ok();
}

Status Server::Bind() {
  try {
    net::ConfigureSocket(socket_);
    socket_.set(zmq::sockopt::router_mandatory, 1);
    socket_.bind(options_.listen);
    endpoint_ = socket_.get(zmq::sockopt::last_endpoint);
  } catch (const zmq::error_t& e) {
    return Status::Error("cannot listen on " + options_.listen + ": " + e.what() +
                         (e.num() == EADDRINUSE ? " (is another receta-scheduler running? pick another --listen port)"
                                                : ""));
  }
  endpoint_file_ = options_.data_dir + "/scheduler.endpoint";
  return WriteFileAtomically(endpoint_file_, endpoint_ + "\n");
}

// ---- The loop ----------------------------------------------------------------------

Status Server::Serve(const std::atomic<bool>& stop) {
  spdlog::info("scheduler listening on {} (data dir {})", endpoint_, options_.data_dir);
  uint64_t last_tick_ms = 0;
  while (!stop.load()) {
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    try {
      uint64_t wake_ms = NextWaiterWakeMs();
      if (sync_due_ms_ != 0) wake_ms = std::min(wake_ms, sync_due_ms_);
      uint64_t now_ms = NowMs();
      int64_t timeout_ms = wake_ms <= now_ms ? 0 : std::min<uint64_t>(kPollCapMs, wake_ms - now_ms);
      zmq::poll(&item, 1, std::chrono::milliseconds(timeout_ms));
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) return Status::Error(std::string("poll failed: ") + e.what());
      continue;
    }
    uint64_t now = NowMs();
    for (size_t i = 0; i < kMaxFramesPerIteration; ++i) {
      std::optional<net::Frames> frames = net::ReceiveFrames(socket_, /*dontwait=*/true);
      if (!frames) break;
      if (frames->too_many) {
        ++dropped_frames_;
        spdlog::warn("dropped a message with too many frames");
        continue;
      }
      HandleFrames(frames->parts, now);
    }
    now = NowMs();
    if (now - last_tick_ms >= 50 || !outbound_.empty()) {
      ExpireUploads(now);
      SendHeartbeats(now);
      core_->Tick(now);
      last_tick_ms = now;
    }
    for (const AlertOutcome& outcome : alert_sender_->TakeOutcomes()) core_->RecordAlertOutcome(outcome, now);
    uint64_t seq_before = committed_event_seq_;
    if (Status s = CommitTurn(now); !s.ok()) return s;
    SendOutbound();
    if (!dispatched_in_turn_.empty()) {
      core_->DispatchesSent(dispatched_in_turn_, NowMs());
      dispatched_in_turn_.clear();
    }
    ServeWaiters(now, committed_event_seq_ != seq_before);
    SendOutbound();
    // Why after the sends: a submit of 200 steps logs 200 lines, a write
    // each, which the answer and the first Dispatches need not wait for.
    LogCommittedEvents();
    net::FlushLog();
    // Why: a finished run's working memory (its steps, the turn buffers,
    // the DAG parse it replaced) is freed into malloc's arenas, which keep
    // it; between runs the scheduler should be back near its idle size.
    // After the sends, which include the run's end to those watching it.
    if (run_ended_in_turn_) malloc_trim(0);
  }
  if (sync_due_ms_ != 0 && store_->Sync().ok()) {
    outbound_ = std::move(answers_after_sync_);
    SendOutbound();
  }
  spdlog::info("scheduler stopping");
  net::FlushLog();
  return Status::Ok();
}

Status Server::CommitTurn(uint64_t now_ms) {
  Changes changes = core_->TakeChanges();
  Changes& own = own_changes_;
  changes.blobs.insert(changes.blobs.end(), own.blobs.begin(), own.blobs.end());
  changes.blob_deletes.insert(changes.blob_deletes.end(), own.blob_deletes.begin(), own.blob_deletes.end());
  changes.cache_deletes.insert(changes.cache_deletes.end(), own.cache_deletes.begin(), own.cache_deletes.end());
  own_changes_ = Changes();
  run_ended_in_turn_ = false;
  // Why the workers' commands may leave before the fsync when the turn
  // syncs only for results workers re-send until acknowledged (a step's
  // end, typically, whose successor is dispatched in the same turn): a
  // crash before the sync loses nothing the worker cannot bring again, and
  // a command acted on state a restart rebuilds (a Dispatch made by a tick
  // is never synced either). The fsync then overlaps the next step's
  // transfer and start, and covers the results of the turns that come
  // within kGroupCommitMs (group commit); the answers still wait for it.
  const bool commands_before_sync = sync_this_turn_ && !answers_need_sync_first_;
  bool committed = false;
  bool synced = false;
  if (!changes.NothingToPersist() || blobs_->HasPending()) {
    std::unique_ptr<Store::Batch> batch = store_->NewBatch();
    // Small blobs in the batch of the results that name them (tiered_blob_store.h).
    for (const auto& [digest, bytes] : blobs_->TakePending()) batch->PutBlobBytes(digest, bytes);
    for (const RunRecord& run : changes.runs) batch->PutRun(run);
    for (const StepRecord& step : changes.steps) batch->PutStep(step);
    for (const CacheEntry& entry : changes.cache_puts) batch->PutCacheEntry(entry);
    for (const std::string& key : changes.cache_deletes) batch->DeleteCacheEntry(key);
    for (const CacheFamilyMember& member : changes.cache_families)
      batch->PutCacheFamilyMember(member);
    for (const BlobRecord& blob : changes.blobs) batch->PutBlob(blob);
    for (const std::string& digest : changes.blob_deletes) batch->DeleteBlob(digest);
    for (const WorkerRecord& worker : changes.workers) batch->PutWorker(worker);
    for (const EventRecord& event : changes.events) batch->AppendEvent(event);
    synced = sync_this_turn_ && !commands_before_sync;
    if (Status s = store_->Commit(*batch, synced); !s.ok()) {
      // Why stop: acting on a transition that is not durable would break
      // the promise that a restart loses nothing that was acknowledged.
      return Status::Error("cannot persist scheduler state, stopping: " + s.message());
    }
    committed = true;
    if (!changes.events.empty()) committed_event_seq_ = changes.events.back().seq;
    run_ended_in_turn_ = EndsARun(changes.events);
    if (run_ended_in_turn_) run_end_event_seq_ = committed_event_seq_;
  }
  if (commands_before_sync && committed) {
    std::vector<Outbound> answers = std::exchange(outbound_, {});
    QueueCommands(changes.messages, now_ms);
    SendOutbound();
    std::move(answers.begin(), answers.end(), std::back_inserter(answers_after_sync_));
    if (sync_due_ms_ == 0) sync_due_ms_ = now_ms + kGroupCommitMs;
  } else {
    QueueCommands(changes.messages, now_ms);
  }
  // A synced commit makes the earlier unsynced ones durable too.
  if (synced || (sync_due_ms_ != 0 && now_ms >= sync_due_ms_)) {
    if (!synced) {
      if (Status s = store_->Sync(); !s.ok())
        return Status::Error("cannot persist scheduler state, stopping: " + s.message());
    }
    if (!answers_after_sync_.empty()) {
      std::move(outbound_.begin(), outbound_.end(), std::back_inserter(answers_after_sync_));
      outbound_ = std::exchange(answers_after_sync_, {});
    }
    sync_due_ms_ = 0;
  }
  sync_this_turn_ = false;
  answers_need_sync_first_ = false;
  std::move(changes.events.begin(), changes.events.end(), std::back_inserter(events_to_log_));
  SendAlerts(changes.alerts);
  return Status::Ok();
}

void Server::LogCommittedEvents() {
  for (const EventRecord& event : events_to_log_) spdlog::info("{}", DescribeEvent(event));
  events_to_log_.clear();
}

void Server::QueueCommands(std::vector<Outgoing>& commands, uint64_t now_ms) {
  for (Outgoing& outgoing : commands) {
    auto peer = peer_of_worker_.find(outgoing.worker_id);
    if (peer == peer_of_worker_.end()) {
      spdlog::warn("no connection to worker {} for {}; it will get it after registering", outgoing.worker_id,
                   protocol::NameOf(outgoing.message));
      continue;
    }
    if (auto* dispatch = std::get_if<protocol::Dispatch>(&outgoing.message)) {
      AttachInlineInputs(*dispatch, now_ms);
      dispatched_in_turn_.push_back(dispatch->attempt_id);
    }
    Reply(peer->second, outgoing.request_id, outgoing.message);
    heartbeat_sent_ms_[outgoing.worker_id] = now_ms;
  }
}

void Server::SendAlerts(std::vector<Alert>& alerts) {
  constexpr size_t kAlertLogLines = 20;
  constexpr uint64_t kAlertLogBytes = 8 << 10;
  for (Alert& alert : alerts) {
    if (!alert.attempt_id.empty()) {
      alert.log_tail = LastLogLines(*logs_, alert.run_id, alert.attempt_id, kAlertLogLines, kAlertLogBytes);
    }
    alert_sender_->Enqueue(std::move(alert));
  }
}

void Server::SendOutbound() {
  for (Outbound& out : outbound_) {
    std::vector<zmq::message_t> parts;
    parts.emplace_back(out.peer.data(), out.peer.size());
    parts.emplace_back();
    parts.emplace_back(out.header.data(), out.header.size());
    if (out.blob) parts.push_back(net::FrameOwning(std::move(*out.blob)));
    if (!net::SendFrames(socket_, parts, /*dontwait=*/true)) {
      spdlog::debug("peer {} is gone; dropped a reply", PeerLabel(out.peer));
    }
  }
  outbound_.clear();
}

void Server::SendHeartbeats(uint64_t now_ms) {
  for (const auto& [worker_id, peer] : peer_of_worker_) {
    if (!core_->IsConnected(worker_id)) continue;
    uint64_t& sent = heartbeat_sent_ms_[worker_id];
    if (now_ms - sent < options_.core.heartbeat_interval_ms) continue;
    sent = now_ms;
    Reply(peer, 0, protocol::Heartbeat{});
  }
}

void Server::Reply(const std::string& peer, uint64_t request_id, const protocol::Message& message,
                   std::optional<std::string> blob) {
  Result<std::string> header = protocol::Encode(message, request_id);
  if (!header.ok()) {
    spdlog::error("cannot encode {} for peer {}: {}", protocol::NameOf(message), PeerLabel(peer), header.error());
    if (!std::holds_alternative<protocol::Error>(message)) {
      ReplyError(peer, request_id, ErrorCode::kInternal, header.error());
    }
    return;
  }
  outbound_.push_back({peer, std::move(*header), std::move(blob)});
}

void Server::ReplyError(const std::string& peer, uint64_t request_id, ErrorCode code, const std::string& text) {
  Reply(peer, request_id, protocol::Error{code, text});
}

// ---- Routing -------------------------------------------------------------------------

void Server::HandleFrames(std::vector<zmq::message_t>& parts, uint64_t now_ms) {
  // [identity][empty][header][blob?]
  if (parts.size() < 3 || parts.size() > 4 || parts[1].size() != 0) {
    if (++dropped_frames_ % 1000 == 1) {
      spdlog::warn("dropped a malformed message ({} frames); {} dropped so far", parts.size(), dropped_frames_);
    }
    return;
  }
  std::string peer(parts[0].data<char>(), parts[0].size());
  std::string_view header(parts[2].data<char>(), parts[2].size());
  Result<protocol::Envelope> envelope = protocol::Decode(header);
  if (!envelope.ok()) {
    Result<protocol::Header> partial = protocol::DecodeHeader(header);
    uint64_t request_id = partial.ok() ? partial->request_id : 0;
    ErrorCode code = ErrorCode::kBadMessage;
    if (partial.ok() && partial->version != protocol::kProtocolVersion) code = ErrorCode::kUnsupportedVersion;
    else if (partial.ok() && protocol::MessageTypeName(partial->type).empty()) code = ErrorCode::kUnknownType;
    if (++dropped_frames_ % 1000 == 1) {
      spdlog::warn("bad message from peer {}: {}", PeerLabel(peer), envelope.error());
    }
    ReplyError(peer, request_id, code, envelope.error());
    return;
  }
  if (Status valid = protocol::ValidateMessage(envelope->message); !valid.ok()) {
    ReplyError(peer, envelope->request_id, ErrorCode::kBadMessage, valid.message());
    return;
  }
  // A view: the frame outlives Handle, and a chunk is not worth a copy.
  std::string_view blob = parts.size() == 4 ? parts[3].to_string_view() : std::string_view();
  if (AnswerNeedsSyncedState(envelope->message)) {
    sync_this_turn_ = true;
    if (!ResentUntilAnswered(envelope->message)) answers_need_sync_first_ = true;
  }
  Handle(peer, envelope->request_id, envelope->message, blob, now_ms);
}

void Server::Handle(const std::string& peer, uint64_t request_id, protocol::Message& message,
                    std::string_view blob, uint64_t now_ms) {
  using namespace protocol;
  if (auto* m = std::get_if<Register>(&message)) {
    RegisterAck ack = core_->Register(*m, now_ms);
    auto old_peer = peer_of_worker_.find(m->worker_id);
    if (old_peer != peer_of_worker_.end()) worker_of_peer_.erase(old_peer->second);
    peer_of_worker_[m->worker_id] = peer;
    worker_of_peer_[peer] = m->worker_id;
    heartbeat_sent_ms_[m->worker_id] = now_ms;
    Reply(peer, request_id, ack);
  } else if (std::holds_alternative<Heartbeat>(message) || std::holds_alternative<AttemptStarted>(message) ||
             std::holds_alternative<LogChunk>(message) || std::holds_alternative<AttemptFinished>(message)) {
    HandleWorkerMessage(peer, request_id, message, now_ms);
  } else if (auto* m = std::get_if<SubmitRun>(&message)) {
    std::string digest;
    if (Status stored =
            m->inline_blobs ? StoreBlobBytes(*m->inline_blobs, now_ms, &digest) : Status::Ok();
        !stored.ok()) {
      std::string path;
      for (const FileEntry& file : m->workspace) {
        if (file.digest == digest) path = file.path;
      }
      ReplyError(peer, request_id, ErrorCode::kInvalidArgument,
                 "workspace file '" + path + "' (sha256 " + digest +
                     ") sent inline was not stored: " + stored.message() +
                     "; nothing was submitted (submit again: did it change while it was read?)");
      return;
    }
    ErrorCode code = ErrorCode::kInvalidArgument;
    Result<std::string> run_id = core_->Submit(*m, now_ms, &code);
    if (!run_id.ok()) {
      ReplyError(peer, request_id, code, run_id.error());
      return;
    }
    Reply(peer, request_id, SubmitReply{*run_id});
  } else if (auto* m = std::get_if<Cancel>(&message)) {
    Result<uint32_t> cancelled = core_->Cancel(m->run_id, m->reason.empty() ? "cancelled by user" : m->reason, now_ms);
    if (!cancelled.ok()) {
      Result<std::optional<RunSnapshot>> known = Snapshot(m->run_id);
      bool exists = known.ok() && known->has_value();
      ReplyError(peer, request_id, exists ? ErrorCode::kConflict : ErrorCode::kNotFound,
                 exists ? "run " + m->run_id + " already finished (" + RunStateName((*known)->run.state) + ")"
                        : "no run " + m->run_id + "; `receta runs` lists them");
      return;
    }
    logs_changed_ = true;
    Reply(peer, request_id, CancelReply{m->run_id, *cancelled});
  } else if (auto* m = std::get_if<BlobQuery>(&message)) {
    OnBlobQuery(peer, request_id, *m);
  } else if (auto* m = std::get_if<BlobPutBegin>(&message)) {
    OnBlobPutBegin(peer, request_id, *m, now_ms);
  } else if (auto* m = std::get_if<BlobPutChunk>(&message)) {
    OnBlobPutChunk(peer, request_id, *m, blob, now_ms);
  } else if (auto* m = std::get_if<BlobPutEnd>(&message)) {
    OnBlobPutEnd(peer, request_id, *m, now_ms);
  } else if (auto* m = std::get_if<BlobGet>(&message)) {
    OnBlobGet(peer, request_id, *m);
  } else if (auto* m = std::get_if<BlobDamaged>(&message)) {
    OnBlobDamaged(peer, request_id, *m, now_ms);
  } else if (auto* m = std::get_if<ListRuns>(&message)) {
    OnListRuns(peer, request_id, *m, now_ms);
  } else if (auto* m = std::get_if<RunStatus>(&message)) {
    OnRunStatus(peer, request_id, *m, now_ms);
  } else if (auto* m = std::get_if<Events>(&message)) {
    OnEvents(peer, request_id, *m, now_ms);
  } else if (auto* m = std::get_if<Logs>(&message)) {
    OnLogs(peer, request_id, *m, now_ms);
  } else if (auto* m = std::get_if<ListWorkers>(&message)) {
    Reply(peer, request_id, ListWorkersReply{WorkersJson(core_->pool(), now_ms, m->include_lost)});
  } else if (auto* m = std::get_if<ListArtifacts>(&message)) {
    OnListArtifacts(peer, request_id, *m);
  } else if (auto* m = std::get_if<CacheList>(&message)) {
    OnCacheList(peer, request_id, *m);
  } else if (auto* m = std::get_if<CacheRemove>(&message)) {
    OnCacheRemove(peer, request_id, *m);
  } else if (auto* m = std::get_if<CacheGc>(&message)) {
    OnCacheGc(peer, request_id, *m);
  } else if (auto* m = std::get_if<RetryRun>(&message)) {
    OnRetryRun(peer, request_id, *m, now_ms);
  } else if (std::holds_alternative<Error>(message)) {
    spdlog::warn("peer {} reported an error: {}", PeerLabel(peer), std::get<Error>(message).message);
  } else {
    ReplyError(peer, request_id, ErrorCode::kBadMessage,
               std::string(NameOf(message)) + " is not a request the scheduler serves");
  }
}

void Server::OnRetryRun(const std::string& peer, uint64_t request_id, const protocol::RetryRun& request,
                        uint64_t now_ms) {
  if (core_->FindRun(request.run_id) == nullptr) {
    // Finished runs leave memory after a while; read it back to reopen it.
    Result<std::optional<RunSnapshot>> stored = Snapshot(request.run_id);
    if (!stored.ok()) return ReplyError(peer, request_id, ErrorCode::kInternal, stored.error());
    if (!stored->has_value()) {
      return ReplyError(peer, request_id, ErrorCode::kNotFound,
                        "no run " + request.run_id + "; `receta runs` lists them");
    }
    Status loaded = core_->LoadFinishedRun(std::move((*stored)->run), std::move((*stored)->steps));
    if (!loaded.ok()) return ReplyError(peer, request_id, ErrorCode::kInternal, loaded.message());
  }
  Result<uint32_t> reopened = core_->Retry(request.run_id, request.step, now_ms);
  if (!reopened.ok()) return ReplyError(peer, request_id, ErrorCode::kConflict, reopened.error());
  logs_changed_ = true;
  Reply(peer, request_id, protocol::RetryRunReply{request.run_id, *reopened});
}

std::string Server::WorkerOf(const std::string& peer) {
  auto it = worker_of_peer_.find(peer);
  if (it != worker_of_peer_.end() && core_->IsConnected(it->second)) return it->second;
  ReplyError(peer, 0, ErrorCode::kNotFound,
             "worker is not registered (the scheduler restarted or declared it lost); register again");
  return "";
}

void Server::HandleWorkerMessage(const std::string& peer, uint64_t request_id, protocol::Message& message,
                                 uint64_t now_ms) {
  using namespace protocol;
  std::string worker_id = WorkerOf(peer);
  // Why drop even log chunks: a worker sends every chunk of its unfinished
  // attempts again after it registers (at least once), so the chunks it
  // queued while this scheduler restarted are not lost.
  if (worker_id.empty()) return;
  core_->HeardFrom(worker_id, now_ms);
  if (auto* m = std::get_if<Heartbeat>(&message)) {
    core_->OnHeartbeat(worker_id, *m, now_ms);
    return;
  }
  if (auto* m = std::get_if<AttemptStarted>(&message)) {
    core_->OnAttemptStarted(worker_id, *m, now_ms);
  } else if (auto* m = std::get_if<LogChunk>(&message)) {
    StoreLogChunk(*m, worker_id);
  } else if (auto* m = std::get_if<AttemptFinished>(&message)) {
    std::optional<AttemptLocation> location = core_->FindAttempt(m->attempt_id);
    bool current = location && RunsOn(*location, worker_id);
    // A stale attempt's outputs never enter the CAS (as with its uploads).
    if (m->inline_blobs && current) StoreInlineBlobs(*m, now_ms);
    if (current) CheckLogComplete(*location, *m);
    core_->OnAttemptFinished(worker_id, *m, now_ms);
    logs_->Close(m->attempt_id);
    logs_changed_ = true;
    if (!location) spdlog::info("ignored a result for attempt {}: not current", m->attempt_id);
    // Acknowledged after the commit: the ack is queued behind it.
    Reply(peer, request_id, AttemptFinishedAck{m->attempt_id});
  }
}

std::optional<AttemptLocation> Server::CurrentAttemptOf(const std::string& attempt_id,
                                                        const std::string& worker_id) const {
  std::optional<AttemptLocation> location = core_->FindAttempt(attempt_id);
  if (!location || !RunsOn(*location, worker_id)) return std::nullopt;
  return location;
}

bool Server::RunsOn(const AttemptLocation& location, const std::string& worker_id) const {
  const Run* run = core_->FindRun(location.run_id);
  return run->step(location.step).attempts.back().worker_id == worker_id;
}

void Server::StoreLogChunk(const protocol::LogChunk& chunk, const std::string& worker_id) {
  // A stale attempt's output, or another worker's, is not kept.
  std::optional<AttemptLocation> location = CurrentAttemptOf(chunk.attempt_id, worker_id);
  if (!location) return;
  logs_changed_ = true;
  uint64_t offset = chunk.offset ? *chunk.offset : logs_->Received(location->run_id, chunk.attempt_id);
  if (Status s = logs_->Append(location->run_id, chunk.attempt_id, offset, chunk.data); !s.ok()) {
    spdlog::error("cannot store log of attempt {}: {}", chunk.attempt_id, s.message());
  }
}

void Server::CheckLogComplete(const AttemptLocation& location,
                              const protocol::AttemptFinished& finished) {
  if (!finished.log_bytes) return;  // an older worker does not say
  // Why before asking the log store: nothing printed, nothing to miss, and
  // asking is a stat of the log file for every quiet step.
  if (*finished.log_bytes == 0) return;
  uint64_t received = logs_->Received(location.run_id, finished.attempt_id);
  if (received >= *finished.log_bytes) return;
  spdlog::warn("attempt {} (run {}) finished with {} bytes of log, but only {} arrived: the "
               "rest was lost",
               finished.attempt_id, location.run_id, *finished.log_bytes, received);
}

}  // namespace receta::scheduler
