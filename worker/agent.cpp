#include "worker/agent.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>

#include "common/protocol/codec.h"
#include "common/protocol/validate.h"
#include "net/daemon_log.h"
#include "net/frames.h"
#include "receta/version.h"
#include "worker/attempt_env.h"
#include "worker/net_blob_remote.h"
#include "worker/sandbox.h"
#include "worker/upstream_inputs.h"

namespace receta::worker {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : ",") + item;
  return out;
}

}  // namespace

Result<std::unique_ptr<Agent>> Agent::Create(AgentOptions options) {
  using R = Result<std::unique_ptr<Agent>>;
  std::error_code ec;
  std::filesystem::create_directories(options.work_dir, ec);
  if (ec) return R::Error("cannot create work dir " + options.work_dir + ": " + ec.message());
  Result<std::string> id = LoadOrCreateWorkerId(options.work_dir);
  if (!id.ok()) return R::Error(id.error());
  Result<LocalCache> cache = LocalCache::Open(options.work_dir + "/cas");
  if (!cache.ok()) return R::Error(cache.error());
  RemoveTree(options.work_dir + "/cas/tmp");
  LocalCache::Open(options.work_dir + "/cas");
  MachineInfo machine = ReadMachineInfo();
  if (options.name.empty()) options.name = machine.hostname;
  // Why here: forked before the agent's ZeroMQ context starts its threads.
  Result<std::unique_ptr<ProcessGroupGuard>> guard = ProcessGroupGuard::Start();
  if (!guard.ok()) return R::Error(guard.error());
  Result<std::unique_ptr<EventMailbox>> events = EventMailbox::Create();
  if (!events.ok()) return R::Error(events.error());
  std::unique_ptr<Agent> agent(new Agent(std::move(options), std::move(*id), std::move(*cache),
                                         std::move(machine), std::move(*guard),
                                         std::move(*events)));
  // Why: sandboxes left by a previous run of the worker belong to attempts
  // no process runs any more; the scheduler reschedules them. Its spare
  // files stay (sandbox_recycler.h).
  if (Status s = agent->recycler_.Reopen(); !s.ok()) return R::Error(s.message());
  agent->recycler_.FillSparesInBackground(SandboxRecycler::kMaxSpareFiles);
  return agent;
}

Agent::Agent(AgentOptions options, std::string worker_id, LocalCache cache, MachineInfo machine,
             std::unique_ptr<ProcessGroupGuard> guard, std::unique_ptr<EventMailbox> events)
    : options_(std::move(options)),
      worker_id_(std::move(worker_id)),
      cache_(std::move(cache)),
      machine_(std::move(machine)),
      worker_env_(CurrentEnvironment()),
      events_(std::move(events)),
      blob_pool_(std::make_unique<NetBlobPool>(context_, options_.scheduler_endpoint)),
      recycler_(options_.work_dir + "/sandboxes"),
      slot_gate_(options_.slots),
      guard_(std::move(guard)) {
  attempt_pool_ = std::make_unique<AttemptPool>(*events_, &dispatches_waiting_);
}

Agent::~Agent() { Shutdown(); }

void Agent::Connect() {
  if (dealer_) dealer_->close();
  dealer_ = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::dealer);
  net::ConfigureSocket(*dealer_);
  dealer_->connect(options_.scheduler_endpoint);
  registered_ = false;
}

bool Agent::SendEncoded(const std::string& header) {
  std::vector<zmq::message_t> parts;
  parts.emplace_back();
  parts.emplace_back(header.data(), header.size());
  if (!net::SendFrames(*dealer_, parts, /*dontwait=*/true)) return false;
  last_sent_ms_ = NowMs();
  return true;
}

bool Agent::Send(const protocol::Message& message, uint64_t request_id) {
  Result<std::string> header = protocol::Encode(message, request_id);
  if (!header.ok()) {
    spdlog::error("cannot encode {}: {} [this is a bug]", protocol::NameOf(message),
                  header.error());
    return false;
  }
  return SendEncoded(*header);
}

std::vector<std::string> Agent::RunningIds() const {
  std::vector<std::string> ids;
  for (const auto& [id, running] : running_) ids.push_back(id);
  for (const protocol::Dispatch& queued : queued_) ids.push_back(queued.attempt_id);
  return ids;
}

void Agent::SendRegister() {
  protocol::Register reg;
  reg.worker_id = worker_id_;
  reg.name = options_.name;
  reg.hostname = machine_.hostname;
  reg.labels = options_.labels;
  reg.slots = options_.slots;
  reg.cpus = machine_.cpus;
  reg.memory_bytes = machine_.memory_bytes;
  reg.gpus = machine_.gpus;
  reg.os = machine_.os;
  reg.receta_version = kVersion;
  reg.features = std::vector<std::string>{std::string(protocol::kFeatureAfterAttempt)};
  reg.running_attempt_ids = RunningIds();
  register_request_id_ = ++next_request_id_;
  register_sent_ms_ = NowMs();
  registered_ = false;
  Send(reg, register_request_id_);
}

void Agent::SendFinished(Unacked& unacked) {
  if (unacked.request_id == 0) unacked.request_id = ++next_request_id_;
  unacked.last_sent_ms = NowMs();
  Send(unacked.finished, unacked.request_id);
}

int Agent::Run(int stop_fd) {
  spdlog::info("worker {} ({}) starting: scheduler {}, work dir {}, slots {}, labels [{}], "
               "{} cpus, {} MiB, {} gpus, {}; process group guard pid {}",
               worker_id_, options_.name, options_.scheduler_endpoint, options_.work_dir,
               options_.slots, Join(options_.labels), machine_.cpus,
               machine_.memory_bytes >> 20, machine_.gpus, machine_.os,
               guard_ ? guard_->pid() : -1);
  try {
    Connect();
    SendRegister();
    last_heard_ms_ = NowMs();
    while (true) {
      int64_t now = NowMs();
      int64_t liveness_ms = LivenessMs();
      int64_t next = registered_ ? std::min(last_sent_ms_ + heartbeat_interval_ms_,
                                            last_heard_ms_ + liveness_ms)
                                 : register_sent_ms_ + liveness_ms;
      if (abandoned_at_heard_ms_ != last_heard_ms_) {
        next = std::min(next, last_heard_ms_ + liveness_ms);
      }
      for (const auto& [id, unacked] : unacked_) {
        next = std::min(next, unacked.last_sent_ms + kResendFinishedMs);
      }
      auto timeout = std::chrono::milliseconds(std::max<int64_t>(0, next - now));
      std::vector<zmq::pollitem_t> items = {
          {static_cast<void*>(*dealer_), 0, ZMQ_POLLIN, 0},
          {nullptr, events_->fd(), ZMQ_POLLIN, 0},
          {nullptr, stop_fd, ZMQ_POLLIN, 0},
      };
      zmq::poll(items, timeout);
      if (items[2].revents & ZMQ_POLLIN) break;
      if (items[0].revents & ZMQ_POLLIN) HandleSchedulerFrames();
      if (items[1].revents & ZMQ_POLLIN) HandleAttemptEvents();
      OnTimers();
      dispatches_waiting_.store(!queued_.empty(), std::memory_order_relaxed);
      net::FlushLog();
    }
    spdlog::info("worker {} stopping: killing {} running attempt(s)", worker_id_, running_.size());
    Shutdown();
  } catch (const zmq::error_t& e) {
    spdlog::error("worker {}: ZeroMQ error: {}", worker_id_, e.what());
    Shutdown();
    return 1;
  }
  return 0;
}

int64_t Agent::LivenessMs() const {
  return int64_t{heartbeat_interval_ms_} * heartbeat_liveness_;
}

void Agent::OnTimers() {
  int64_t now = NowMs();
  int64_t liveness_ms = LivenessMs();
  bool silent = now - last_heard_ms_ >= liveness_ms;
  if (registered_ && silent) {
    spdlog::warn("lost the scheduler at {}: nothing heard for {} ms; reconnecting",
                 options_.scheduler_endpoint, now - last_heard_ms_);
    Connect();
    SendRegister();
  } else if (!registered_ && now - register_sent_ms_ >= liveness_ms) {
    spdlog::warn("no RegisterAck from {} after {} ms; reconnecting",
                 options_.scheduler_endpoint, liveness_ms);
    Connect();
    SendRegister();
  }
  if (silent) AbandonAttempts(now - last_heard_ms_);
  if (!registered_) return;
  for (auto& [id, unacked] : unacked_) {
    if (now - unacked.last_sent_ms >= kResendFinishedMs) SendFinished(unacked);
  }
  if (now - last_sent_ms_ >= heartbeat_interval_ms_) {
    protocol::Heartbeat heartbeat;
    size_t used = before_process_end_.size();
    heartbeat.free_slots = used >= options_.slots ? 0 : options_.slots - static_cast<uint32_t>(used);
    heartbeat.running_attempt_ids = RunningIds();
    if (!Send(heartbeat, 0)) last_sent_ms_ = now;  // do not spin on a full queue
  }
}

void Agent::AbandonAttempts(int64_t silent_ms) {
  if (abandoned_at_heard_ms_ == last_heard_ms_) return;
  // Why once: until something is heard again no Dispatch can come, so
  // nothing new can start; the kills below are in flight.
  abandoned_at_heard_ms_ = last_heard_ms_;
  std::vector<std::string> ids = RunningIds();
  if (ids.empty()) return;
  std::string reason = "lost the scheduler for " + std::to_string(silent_ms) +
                       " ms; the scheduler will have run this step elsewhere";
  spdlog::warn("lost the scheduler for {} ms: killing attempt(s) {} so they do not run twice",
               silent_ms, Join(ids));
  while (!queued_.empty()) {
    EndQueued(queued_.front().attempt_id, "killed before it started: " + reason);
  }
  KillStarted(ids, 0, reason);
}

void Agent::KillStarted(const std::vector<std::string>& attempt_ids, uint32_t grace_ms, const std::string& reason) {
  // Why two passes: a killed process frees its slot, and an attempt waiting
  // for that slot must already know it is killed, or its process would
  // start only to be killed a moment later.
  for (const std::string& id : attempt_ids) {
    if (auto it = running_.find(id); it != running_.end()) it->second.attempt->MarkKilled(reason);
  }
  for (const std::string& id : attempt_ids) {
    if (auto it = running_.find(id); it != running_.end()) it->second.attempt->Kill(grace_ms, reason);
  }
}

void Agent::HandleSchedulerFrames() {
  while (std::optional<net::Frames> frames = net::ReceiveFrames(*dealer_, /*dontwait=*/true)) {
    last_heard_ms_ = NowMs();
    if (frames->too_many || frames->parts.size() < 2 || frames->parts[0].size() != 0) {
      spdlog::warn("dropped a malformed message from the scheduler ({} frames)",
                   frames->parts.size());
      continue;
    }
    Result<protocol::Envelope> envelope = protocol::Decode(frames->parts[1].to_string_view());
    if (!envelope.ok()) {
      spdlog::warn("dropped an undecodable message from the scheduler: {}", envelope.error());
      continue;
    }
    if (Status s = protocol::ValidateMessage(envelope->message); !s.ok()) {
      spdlog::warn("dropped an invalid message from the scheduler: {}", s.message());
      continue;
    }
    HandleSchedulerMessage(envelope->request_id, std::move(envelope->message));
  }
}

void Agent::HandleSchedulerMessage(uint64_t request_id, protocol::Message message) {
  if (auto* ack = std::get_if<protocol::RegisterAck>(&message)) {
    if (request_id != register_request_id_) return;  // an older Register's answer
    registered_ = true;
    if (ack->heartbeat_interval_ms > 0) heartbeat_interval_ms_ = ack->heartbeat_interval_ms;
    if (ack->heartbeat_liveness > 0) heartbeat_liveness_ = ack->heartbeat_liveness;
    spdlog::info("registered with {} as {} (scheduler {}, heartbeat {} ms x {})",
                 options_.scheduler_endpoint, worker_id_, ack->scheduler_version,
                 heartbeat_interval_ms_, heartbeat_liveness_);
    std::vector<std::string> stale_started;
    for (const std::string& stale : ack->stale_attempt_ids) {
      std::erase_if(queued_, [&](const protocol::Dispatch& d) { return d.attempt_id == stale; });
      if (!running_.count(stale)) continue;
      spdlog::info("attempt {} is stale; killing it", stale);
      stale_started.push_back(stale);
    }
    KillStarted(stale_started, 0, "the scheduler no longer expects this attempt");
    // Logs before results: the scheduler closes an attempt's log when its
    // result arrives. All retained chunks, not just those made while
    // unregistered: a new scheduler may lack what the old one never read.
    for (const std::string& held : held_events_) SendEncoded(held);
    held_events_.clear();
    held_event_bytes_ = 0;
    retained_logs_.ForEach([this](const std::string& chunk) { SendEncoded(chunk); });
    for (auto& [id, unacked] : unacked_) SendFinished(unacked);
  } else if (auto* error = std::get_if<protocol::Error>(&message)) {
    if (request_id == register_request_id_) {
      spdlog::error("the scheduler refused to register this worker: {}", error->message);
    } else if (request_id == 0 && error->code == protocol::ErrorCode::kNotFound) {
      // Why only once: every message queued while the scheduler restarted
      // gets this answer; one Register is enough (the timer retries it).
      if (!registered_) return;
      spdlog::warn("the scheduler does not know this worker ({}); registering again",
                   error->message);
      SendRegister();
    } else {
      spdlog::warn("error from the scheduler (request {}): {}", request_id, error->message);
    }
  } else if (auto* dispatch = std::get_if<protocol::Dispatch>(&message)) {
    HandleDispatch(std::move(*dispatch));
  } else if (auto* kill = std::get_if<protocol::KillAttempt>(&message)) {
    if (EndQueued(kill->attempt_id, "killed before it started: " + kill->reason)) return;
    auto it = running_.find(kill->attempt_id);
    if (it == running_.end()) return;  // finished already or never ours
    spdlog::info("attempt {}: kill requested ({}), grace {} ms", kill->attempt_id, kill->reason,
                 kill->grace_ms);
    it->second.attempt->Kill(kill->grace_ms, kill->reason);
  } else if (auto* done = std::get_if<protocol::AttemptFinishedAck>(&message)) {
    if (auto it = unacked_.find(done->attempt_id);
        it != unacked_.end() && Succeeded(it->second.finished)) {
      // Why keep it: a step sent ahead after it may arrive after this ack
      // (the scheduler sends acks and commands in either order).
      recent_successes_.push_back(std::move(it->second.finished));
      recent_successes_.back().inline_blobs.reset();  // only its outputs' names and digests are needed
      if (recent_successes_.size() > kRecentSuccesses) recent_successes_.pop_front();
    }
    unacked_.erase(done->attempt_id);
    retained_logs_.Forget(done->attempt_id);
  } else if (!std::holds_alternative<protocol::Heartbeat>(message)) {
    spdlog::warn("ignored unexpected {} from the scheduler", protocol::NameOf(message));
  }
}

void Agent::HandleDispatch(protocol::Dispatch dispatch) {
  const std::string id = dispatch.attempt_id;
  if (running_.count(id)) return;  // a duplicate
  for (const protocol::Dispatch& queued : queued_) {
    if (queued.attempt_id == id) return;  // a duplicate
  }
  if (auto it = unacked_.find(id); it != unacked_.end()) {
    SendFinished(it->second);  // done already: report again
    return;
  }
  if (Status s = ValidateAttemptId(id); !s.ok()) {
    protocol::AttemptFinished refused;
    refused.attempt_id = id;
    refused.exit_code = -1;
    refused.error = s.message();
    auto& unacked = unacked_[id];
    unacked.finished = std::move(refused);
    SendFinished(unacked);
    return;
  }
  spdlog::info("attempt {} (run {}, step {}) dispatched: {} input(s), {} output(s){}{}", id,
               dispatch.run_id, dispatch.step, dispatch.inputs.size(), dispatch.outputs.size(),
               dispatch.after_attempt
                   ? "; to start when attempt " + *dispatch.after_attempt + " succeeds"
                   : "",
               RoomToStart() ? "" : "; queued until a slot frees");
  std::optional<std::string> after = dispatch.after_attempt;
  queued_.push_back(std::move(dispatch));
  if (after) {
    if (const protocol::AttemptFinished* upstream = FinishedHere(*after)) {
      SettleSpeculative(*upstream);
    } else if (!running_.count(*after) &&
               std::none_of(queued_.begin(), queued_.end(),
                            [&](const protocol::Dispatch& d) { return d.attempt_id == *after; })) {
      // Nothing here will ever settle it: end it now, never started, so no
      // step waits on it (the scheduler dispatches the step again).
      EndQueued(id, "its upstream attempt " + *after + " is not known to this worker");
    }
  }
  StartQueued();
}

const protocol::AttemptFinished* Agent::FinishedHere(const std::string& attempt_id) const {
  if (auto it = unacked_.find(attempt_id); it != unacked_.end()) return &it->second.finished;
  for (const protocol::AttemptFinished& recent : recent_successes_) {
    if (recent.attempt_id == attempt_id) return &recent;
  }
  return nullptr;
}

bool Agent::RoomToStart() const { return before_process_end_.size() < options_.slots + kPreparedAhead; }

void Agent::StartQueued() {
  for (auto it = queued_.begin(); it != queued_.end() && RoomToStart();) {
    if (it->after_attempt && FinishedHere(*it->after_attempt)) {  // failed: SettleSpeculative
      ++it;
      continue;
    }
    protocol::Dispatch next = std::move(*it);
    it = queued_.erase(it);
    StartAttempt(std::move(next));
  }
}

void Agent::SettleSpeculative(const protocol::AttemptFinished& upstream) {
  // Until then it waits; if the upstream failed it waits for the scheduler
  // to withdraw it (KillAttempt). Why settle now, not when it starts: the
  // upstream's result leaves with its AttemptFinishedAck, perhaps before a
  // slot frees for this one.
  for (auto it = queued_.begin(); it != queued_.end();) {
    if (it->after_attempt != upstream.attempt_id) {
      ++it;
      continue;
    }
    Settlement settled = Settle(*it, upstream);
    if (settled.kind == Settlement::kDrop) {
      // Not started, not reported: the scheduler sees the same and decides.
      spdlog::info("attempt {} dropped unstarted: {}", it->attempt_id, settled.why);
      it = queued_.erase(it);
      continue;
    }
    if (settled.kind == Settlement::kFail) {
      spdlog::warn("attempt {}: {}", it->attempt_id, settled.why);
      const std::string id = it->attempt_id;
      it = queued_.erase(it);
      // The step's own: its upstream made nothing where it reads.
      ReportNeverStarted(id, settled.why, /*system_failure=*/false);
      continue;
    }
    ++it;
  }
}

void Agent::StartAttempt(protocol::Dispatch dispatch) {
  const std::string id = dispatch.attempt_id;
  AttemptDirs dirs{options_.work_dir + "/sandboxes", options_.work_dir + "/failed",
                   options_.retention, &recycler_};
  const std::string upstream = dispatch.after_attempt.value_or("");
  if (!upstream.empty()) handoff_.Expect(id, upstream);
  auto attempt = std::make_shared<Attempt>(std::move(dispatch), cache_, std::move(dirs),
                                           blob_pool_->Factory(id), worker_env_, guard_.get(),
                                           &slot_gate_, &handoff_);
  running_[id].attempt = attempt;
  running_[id].upstream = upstream;
  before_process_end_.insert(id);
  attempt_pool_->Submit(std::move(attempt));
}

bool Agent::EndQueued(const std::string& attempt_id, const std::string& why) {
  auto it = std::find_if(queued_.begin(), queued_.end(),
                         [&](const protocol::Dispatch& d) { return d.attempt_id == attempt_id; });
  if (it == queued_.end()) return false;
  queued_.erase(it);
  spdlog::info("attempt {} ended while queued: {}", attempt_id, why);
  // Why always the worker's: only the worker and the scheduler end a
  // queued attempt.
  ReportNeverStarted(attempt_id, why, /*system_failure=*/true);
  return true;
}

void Agent::ReportNeverStarted(const std::string& attempt_id, const std::string& why,
                               bool system_failure) {
  protocol::AttemptFinished finished;
  finished.attempt_id = attempt_id;
  finished.exit_code = -1;
  finished.error = why;
  if (system_failure) finished.system_failure = true;
  Report(std::move(finished));
}

void Agent::Report(protocol::AttemptFinished finished) {
  Unacked& unacked = unacked_[finished.attempt_id];
  unacked.finished = std::move(finished);
  if (registered_) {
    SendFinished(unacked);
  } else {
    unacked.last_sent_ms = NowMs();  // sent after the next RegisterAck
  }
}

void Agent::HandleAttemptEvents() {
  for (const std::string& frame : events_->TakeAll()) HandleAttemptEvent(frame);
}

void Agent::HandleAttemptEvent(std::string_view frame) {
  std::optional<PushSink::Event> event = PushSink::Parse(frame);
  if (!event) return;  // made by PushSink: cannot happen
  std::string_view header = event->header;
  const std::string id(event->attempt_id);
  if (event->kind == PushSink::kSlotFree) {
    before_process_end_.erase(id);
    StartQueued();
    return;
  }
  if (event->kind == PushSink::kDropped) {
    running_.erase(id);
    before_process_end_.erase(id);
    handoff_.Forget(id);
    spdlog::info("attempt {} dropped unstarted: {}", id, header);
    ReleaseHeldFor(id);
    StartQueued();
    return;
  }
  // Why hold: a step started ahead on its upstream's result (from that
  // attempt's own thread) may report before the upstream's result has gone
  // out, and the scheduler takes a speculative attempt's report before its
  // upstream's as a sign the worker lost that one, and runs the step again.
  if (auto running = running_.find(id);
      running != running_.end() && running_.count(running->second.upstream)) {
    running->second.held_events.emplace_back(frame);
    return;
  }
  if (event->kind == PushSink::kLog) {
    if (registered_) SendEncoded(std::string(header));  // else sent after the RegisterAck
    retained_logs_.Add(id, std::string(header));
    return;
  }
  if (event->kind == PushSink::kStarted) {
    if (registered_) {
      SendEncoded(std::string(header));
    } else {
      HoldEvent(std::string(header));
    }
    Result<protocol::Envelope> e = protocol::Decode(header);
    if (e.ok()) {
      const auto& started = std::get<protocol::AttemptStarted>(e->message);
      spdlog::info("attempt {} started: pid {}", started.attempt_id, started.pid);
    }
    return;
  }
  std::optional<protocol::AttemptFinished> taken = attempt_pool_->TakeFinished(id);
  if (!taken) return;  // put there before its event: cannot happen
  protocol::AttemptFinished& finished = *taken;
  running_.erase(finished.attempt_id);
  before_process_end_.erase(finished.attempt_id);
  handoff_.Forget(finished.attempt_id);
  // Why the next step first: on a busy machine its thread competes for a
  // CPU with the report's I/O threads (ours and the scheduler's), which
  // nothing waits for. Why Deliver again: a step started ahead after the
  // attempt's own thread delivered has had no answer.
  handoff_.Deliver(finished);
  SettleSpeculative(finished);
  StartQueued();
  spdlog::info("attempt {} finished: exit code {}, signal {}{}, {} ms, cpu {} ms, max rss {} "
               "KiB, {} output(s){}{}",
               finished.attempt_id, finished.exit_code, finished.signal,
               finished.timed_out ? " (timed out)" : "", finished.duration_ms, finished.cpu_ms,
               finished.max_rss_bytes >> 10, finished.outputs.size(),
               finished.error.empty() ? "" : ", error: ", finished.error);
  Report(std::move(finished));
  ReleaseHeldFor(id);
}

void Agent::ReleaseHeldFor(const std::string& upstream_id) {
  std::vector<std::string> frames;
  for (auto& [id, running] : running_) {
    if (running.upstream != upstream_id) continue;
    running.upstream.clear();
    std::move(running.held_events.begin(), running.held_events.end(), std::back_inserter(frames));
    running.held_events.clear();
  }
  for (const std::string& frame : frames) HandleAttemptEvent(frame);
}

void Agent::HoldEvent(std::string header) {
  held_event_bytes_ += header.size();
  held_events_.push_back(std::move(header));
  size_t dropped = 0;
  while (held_event_bytes_ > kMaxHeldEventBytes && held_events_.size() > 1) {
    held_event_bytes_ -= held_events_.front().size();
    held_events_.pop_front();
    ++dropped;
  }
  if (dropped > 0) {
    spdlog::warn("unregistered for long: dropped the {} oldest held start event(s) (over {} MiB held)", dropped,
                 kMaxHeldEventBytes >> 20);
  }
}

void Agent::Shutdown() {
  while (!queued_.empty()) {
    EndQueued(queued_.front().attempt_id, "the worker shut down before it started");
  }
  if (!running_.empty()) {
    std::vector<std::string> ids;
    for (const auto& [id, running] : running_) ids.push_back(id);
    KillStarted(ids, options_.shutdown_grace_ms, "the worker is shutting down");
    attempt_pool_->Stop();  // every attempt has ended: its thread is joined
    running_.clear();
    // Best effort: report what the kills ended before the socket goes.
    if (dealer_ && registered_) HandleAttemptEvents();
  }
  // Why last: every step is reaped by now, so the guard holds nothing and
  // just exits when its socket closes.
  guard_.reset();
}

}  // namespace receta::worker
