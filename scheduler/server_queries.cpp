// The scheduler's read requests: runs, status, events and logs (long polls),
// artifacts and the cache.

#include <algorithm>
#include <set>

#include <spdlog/spdlog.h>

#include "scheduler/server.h"

namespace receta::scheduler {
namespace {

using protocol::ErrorCode;

constexpr uint32_t kDefaultRunsLimit = 20;
constexpr uint32_t kDefaultEventsLimit = 1000;
constexpr size_t kEventsScanPage = 4096;
constexpr uint64_t kLogsReplyBytes = 1ull << 20;
constexpr uint32_t kMaxWaitMs = 60'000;
// Why batch a follower's events: `submit --wait` and `watch` ask again after
// every answer, so answering each event at once cost a scheduler turn, an
// events scan and a CLI wake-up per event (three per step): on a 2-core
// machine that CPU came out of the steps. 50 ms is below what a person
// watching notices; a run's end is never held back.
constexpr uint64_t kFollowBatchMs = 50;

constexpr uint32_t kDefaultGcKeepRuns = 20;

std::string StepNames(const std::vector<StepRecord>& steps) {
  std::string names;
  for (const StepRecord& step : steps) names += (names.empty() ? "" : ", ") + step.name;
  return names;
}

const StepRecord* FindStepRecord(const std::vector<StepRecord>& steps, const std::string& name) {
  for (const StepRecord& step : steps) {
    if (step.name == name) return &step;
  }
  return nullptr;
}

}  // namespace

Result<std::optional<RunSnapshot>> Server::Snapshot(const std::string& run_id) {
  if (const Run* run = core_->FindRun(run_id)) {
    RunSnapshot snapshot{run->record(), run->steps(), {}};
    snapshot.run.steps_done = static_cast<uint32_t>(run->steps_done());
    snapshot.run.steps_failed = static_cast<uint32_t>(run->steps_failed());
    snapshot.wait_reasons.reserve(run->steps().size());
    for (size_t i = 0; i < run->steps().size(); ++i) snapshot.wait_reasons.push_back(run->wait_reason(static_cast<int>(i)));
    return std::optional<RunSnapshot>(std::move(snapshot));
  }
  Result<std::optional<RunRecord>> record = store_->GetRun(run_id);
  if (!record.ok()) return record.status();
  if (!record->has_value()) return std::optional<RunSnapshot>();
  Result<std::vector<StepRecord>> steps = store_->GetSteps(run_id);
  if (!steps.ok()) return steps.status();
  return std::optional<RunSnapshot>(RunSnapshot{std::move(**record), std::move(*steps), {}});
}

void Server::OnListRuns(const std::string& peer, uint64_t request_id, const protocol::ListRuns& request,
                        uint64_t now_ms) {
  std::vector<RunRecord> runs;
  Status scan = store_->ForEachRun([&](RunRecord&& run) {
    if (request.dag_name && run.dag_name != *request.dag_name) return true;
    run.dag_yaml.clear();
    run.workspace.clear();
    runs.push_back(std::move(run));
    return true;
  });
  if (!scan.ok()) return ReplyError(peer, request_id, ErrorCode::kInternal, scan.message());
  for (RunRecord& run : runs) {
    if (const Run* live = core_->FindRun(run.run_id)) {
      run.state = live->record().state;
      run.finished_ms = live->record().finished_ms;
      run.steps_done = static_cast<uint32_t>(live->steps_done());
      run.steps_failed = static_cast<uint32_t>(live->steps_failed());
    }
  }
  std::sort(runs.begin(), runs.end(), [](const RunRecord& a, const RunRecord& b) { return a.sequence > b.sequence; });
  size_t limit = request.limit == 0 ? kDefaultRunsLimit : request.limit;
  if (runs.size() > limit) runs.resize(limit);
  Reply(peer, request_id, protocol::ListRunsReply{RunListJson(runs, now_ms)});
}

void Server::OnRunStatus(const std::string& peer, uint64_t request_id, const protocol::RunStatus& request,
                         uint64_t now_ms) {
  Result<std::optional<RunSnapshot>> snapshot = Snapshot(request.run_id);
  if (!snapshot.ok()) return ReplyError(peer, request_id, ErrorCode::kInternal, snapshot.error());
  if (!snapshot->has_value()) {
    return ReplyError(peer, request_id, ErrorCode::kNotFound,
                      "no run " + request.run_id + "; `receta runs` lists the recent ones");
  }
  // Room for the envelope around the document.
  constexpr size_t kMaxStatusJsonBytes = protocol::kMaxMessageBytes - (64u << 10);
  uint64_t seq = core_->last_event_seq();
  Reply(peer, request_id,
        protocol::RunStatusReply{request.brief.value_or(false)
                                     ? RunStatusJson(**snapshot, seq, now_ms, /*brief=*/true)
                                     : RunStatusJsonWithin(**snapshot, seq, now_ms, kMaxStatusJsonBytes)});
}

void Server::OnEvents(const std::string& peer, uint64_t request_id, const protocol::Events& request,
                      uint64_t now_ms) {
  // Why not Snapshot: a follower asks again after every answer, and copying
  // a 1,000-step run each time cost a third of the scheduler's CPU.
  if (request.run_id && core_->FindRun(*request.run_id) == nullptr) {
    Result<std::optional<RunRecord>> stored = store_->GetRun(*request.run_id);
    if (stored.ok() && !stored->has_value()) {
      return ReplyError(peer, request_id, ErrorCode::kNotFound, "no run " + *request.run_id);
    }
  }
  uint64_t deadline_ms = now_ms + std::min(request.wait_ms, kMaxWaitMs);
  EventsWaiter waiter{peer, request_id, request, deadline_ms,
                      std::min(deadline_ms, now_ms + kFollowBatchMs)};
  if (!TryAnswerEvents(waiter, now_ms)) events_waiters_.push_back(std::move(waiter));
}

bool Server::TryAnswerEvents(EventsWaiter& waiter, uint64_t now_ms) {
  const protocol::Events& request = waiter.request;
  size_t limit = request.limit == 0 ? kDefaultEventsLimit : request.limit;
  // Why before reading: a follower's answer waits out its batch unless a
  // run ended or a page filled, and reading the new events at every turn
  // only to wait again was most of what serving followers cost.
  if (now_ms < waiter.batch_until_ms && run_end_event_seq_ <= request.after_seq &&
      committed_event_seq_ - request.after_seq < limit) {
    return false;
  }
  std::vector<EventRecord> found;
  uint64_t scanned_to = request.after_seq;
  // Why page: a filtered request must not read the whole log in one go.
  while (found.size() < limit && scanned_to < committed_event_seq_) {
    Result<std::vector<EventRecord>> page = store_->EventsAfter(scanned_to, kEventsScanPage);
    if (!page.ok()) {
      ReplyError(waiter.peer, waiter.request_id, ErrorCode::kInternal, page.error());
      return true;
    }
    if (page->empty()) break;
    for (EventRecord& event : *page) {
      if (found.size() >= limit) break;
      scanned_to = event.seq;
      if (request.run_id && event.run_id != *request.run_id) continue;
      found.push_back(std::move(event));
    }
    if (!request.run_id) break;
  }
  if (found.empty() && now_ms < waiter.deadline_ms) return false;
  if (now_ms < waiter.batch_until_ms && found.size() < limit && !EndsARun(found)) return false;
  uint64_t last_seq = std::max(scanned_to, request.after_seq);
  Reply(waiter.peer, waiter.request_id, protocol::EventsReply{EventsJson(found), last_seq});
  return true;
}

void Server::OnLogs(const std::string& peer, uint64_t request_id, const protocol::Logs& request, uint64_t now_ms) {
  LogsWaiter waiter{peer, request_id, request, now_ms + std::min(request.wait_ms, kMaxWaitMs)};
  if (!TryAnswerLogs(waiter, now_ms)) logs_waiters_.push_back(std::move(waiter));
}

bool Server::TryAnswerLogs(LogsWaiter& waiter, uint64_t now_ms) {
  const protocol::Logs& request = waiter.request;
  Result<std::optional<RunSnapshot>> snapshot = Snapshot(request.run_id);
  if (!snapshot.ok()) {
    ReplyError(waiter.peer, waiter.request_id, ErrorCode::kInternal, snapshot.error());
    return true;
  }
  if (!snapshot->has_value()) {
    ReplyError(waiter.peer, waiter.request_id, ErrorCode::kNotFound, "no run " + request.run_id);
    return true;
  }
  const std::vector<StepRecord>& steps = (*snapshot)->steps;
  const StepRecord* step = FindStepRecord(steps, request.step);
  if (step == nullptr) {
    ReplyError(waiter.peer, waiter.request_id, ErrorCode::kNotFound,
               "run " + request.run_id + " has no step '" + request.step + "'; its steps: " + StepNames(steps));
    return true;
  }
  const AttemptRecord* attempt = nullptr;
  for (const AttemptRecord& candidate : step->attempts) {
    if (!request.attempt_id || candidate.attempt_id == *request.attempt_id) attempt = &candidate;
  }
  if (attempt == nullptr) {
    std::string why = request.attempt_id ? "has no attempt " + *request.attempt_id
                      : step->state == StepState::kCached
                          ? "was cached (result of run " + step->cached_from_run +
                                "); no command ran. See `receta logs " + step->cached_from_run + " " + step->name + "`"
                          : "has not run yet (" + std::string(StepStateName(step->state)) + ")";
    ReplyError(waiter.peer, waiter.request_id, ErrorCode::kNotFound, "step " + step->name + " " + why);
    return true;
  }
  Result<std::string> data = logs_->Read(request.run_id, attempt->attempt_id, request.offset, kLogsReplyBytes);
  if (!data.ok()) {
    ReplyError(waiter.peer, waiter.request_id, ErrorCode::kInternal, data.error());
    return true;
  }
  uint64_t next = request.offset + data->size();
  bool finished = attempt->finished && next >= logs_->Size(request.run_id, attempt->attempt_id);
  if (data->empty() && !finished && now_ms < waiter.deadline_ms) return false;
  Reply(waiter.peer, waiter.request_id, protocol::LogsReply{attempt->attempt_id, std::move(*data), next, finished});
  return true;
}

void Server::ServeWaiters(uint64_t now_ms, bool new_events) {
  if (new_events || !events_waiters_.empty()) {
    std::erase_if(events_waiters_, [&](EventsWaiter& waiter) {
      bool batch_over = waiter.batch_until_ms != 0 && now_ms >= waiter.batch_until_ms;
      bool batching = waiter.batch_until_ms != 0 && !batch_over;
      // While batching only a run's end needs a look before the batch is over.
      bool look = batching ? run_ended_in_turn_ : new_events || batch_over;
      if (!look && now_ms < waiter.deadline_ms) return false;
      if (!TryAnswerEvents(waiter, now_ms)) {
        // Nothing yet: the next event is answered when it comes, batched no
        // more (the wait already outlasted the batch).
        if (batch_over) waiter.batch_until_ms = 0;
        return false;
      }
      return true;
    });
  }
  // Why the flag: answering re-reads the run, so only look when some log
  // grew or some attempt ended, or a waiter's time is up.
  bool logs_changed = logs_changed_;
  logs_changed_ = false;
  std::erase_if(logs_waiters_, [&](LogsWaiter& waiter) {
    if (!logs_changed && now_ms < waiter.deadline_ms) return false;
    return TryAnswerLogs(waiter, now_ms);
  });
}

bool Server::EndsARun(const std::vector<EventRecord>& events) {
  return std::any_of(events.begin(), events.end(), [](const EventRecord& e) {
    return e.step.empty() && (e.kind == "run_succeeded" || e.kind == "run_failed" ||
                              e.kind == "run_cancelled");
  });
}

uint64_t Server::NextWaiterWakeMs() const {
  uint64_t next = UINT64_MAX;
  for (const EventsWaiter& waiter : events_waiters_) {
    next = std::min(next, waiter.batch_until_ms != 0 ? waiter.batch_until_ms : waiter.deadline_ms);
  }
  for (const LogsWaiter& waiter : logs_waiters_) next = std::min(next, waiter.deadline_ms);
  return next;
}

void Server::OnListArtifacts(const std::string& peer, uint64_t request_id, const protocol::ListArtifacts& request) {
  Result<std::optional<RunSnapshot>> snapshot = Snapshot(request.run_id);
  if (!snapshot.ok()) return ReplyError(peer, request_id, ErrorCode::kInternal, snapshot.error());
  if (!snapshot->has_value()) return ReplyError(peer, request_id, ErrorCode::kNotFound, "no run " + request.run_id);
  if (request.step && FindStepRecord((*snapshot)->steps, *request.step) == nullptr) {
    return ReplyError(peer, request_id, ErrorCode::kNotFound,
                      "run " + request.run_id + " has no step '" + *request.step + "'; its steps: " +
                          StepNames((*snapshot)->steps));
  }
  Reply(peer, request_id, protocol::ListArtifactsReply{ArtifactsJson((*snapshot)->steps, request.step.value_or(""))});
}

void Server::OnCacheList(const std::string& peer, uint64_t request_id, const protocol::CacheList& request) {
  std::vector<CacheEntry> entries;
  Status scan = store_->ForEachCacheEntry([&](CacheEntry&& entry) {
    if (request.dag_name && entry.dag_name != *request.dag_name) return true;
    if (request.step && entry.step != *request.step) return true;
    entries.push_back(std::move(entry));
    return true;
  });
  if (!scan.ok()) return ReplyError(peer, request_id, ErrorCode::kInternal, scan.message());
  std::sort(entries.begin(), entries.end(),
            [](const CacheEntry& a, const CacheEntry& b) { return a.created_ms > b.created_ms; });
  Reply(peer, request_id, protocol::CacheListReply{CacheEntriesJson(entries)});
}

void Server::OnCacheRemove(const std::string& peer, uint64_t request_id, const protocol::CacheRemove& request) {
  std::vector<std::string> keys;
  Status scan = store_->ForEachCacheEntry([&](CacheEntry&& entry) {
    bool match = request.key ? entry.key == *request.key
                             : entry.dag_name == request.dag_name.value_or("") && entry.step == request.step.value_or("");
    if (match) keys.push_back(entry.key);
    return true;
  });
  if (!scan.ok()) return ReplyError(peer, request_id, ErrorCode::kInternal, scan.message());
  if (keys.empty()) {
    return ReplyError(peer, request_id, ErrorCode::kNotFound,
                      request.key ? "no cache entry " + *request.key + "; `receta cache ls` lists them"
                                  : "no cache entry for step " + request.step.value_or("") + " of DAG " +
                                        request.dag_name.value_or("") + "; `receta cache ls` lists them");
  }
  for (const std::string& key : keys) own_changes_.cache_deletes.push_back(key);
  spdlog::info("cache: removed {} entries", keys.size());
  Reply(peer, request_id, protocol::CacheRemoveReply{static_cast<uint32_t>(keys.size())});
}

void Server::OnCacheGc(const std::string& peer, uint64_t request_id, const protocol::CacheGc& request) {
  // Live: every blob a cache entry, an unfinished run or one of the newest
  // runs refers to (its workspace and its steps' outputs).
  std::set<std::string> live;
  Status scan = store_->ForEachCacheEntry([&](CacheEntry&& entry) {
    for (const FileEntry& output : entry.outputs) live.insert(output.digest);
    return true;
  });
  std::vector<RunRecord> runs;
  if (scan.ok()) {
    scan = store_->ForEachRun([&](RunRecord&& run) {
      runs.push_back(std::move(run));
      return true;
    });
  }
  if (!scan.ok()) return ReplyError(peer, request_id, ErrorCode::kInternal, scan.message());
  std::sort(runs.begin(), runs.end(), [](const RunRecord& a, const RunRecord& b) { return a.sequence > b.sequence; });
  size_t keep = request.keep_runs == 0 ? kDefaultGcKeepRuns : request.keep_runs;
  for (size_t i = 0; i < runs.size(); ++i) {
    if (i >= keep && IsTerminal(runs[i].state)) continue;
    for (const FileEntry& file : runs[i].workspace) live.insert(file.digest);
    Result<std::vector<StepRecord>> steps = store_->GetSteps(runs[i].run_id);
    if (!steps.ok()) return ReplyError(peer, request_id, ErrorCode::kInternal, steps.error());
    for (const StepRecord& step : *steps) {
      for (const FileEntry& output : step.outputs) live.insert(output.digest);
    }
  }
  for (const auto& [key, session] : uploads_) live.insert(key.second);
  protocol::CacheGcReply reply;
  scan = store_->ForEachBlob([&](BlobRecord&& blob) {
    if (live.count(blob.digest)) {
      ++reply.blobs_kept;
      return true;
    }
    if (Status removed = blobs_->Remove(blob.digest); !removed.ok()) {
      spdlog::warn("gc: cannot remove blob {}: {}", blob.digest, removed.message());
      return true;
    }
    own_changes_.blob_deletes.push_back(blob.digest);
    ++reply.blobs_removed;
    reply.bytes_freed += blob.size_bytes;
    return true;
  });
  if (!scan.ok()) return ReplyError(peer, request_id, ErrorCode::kInternal, scan.message());
  spdlog::info("cache gc: removed {} blobs ({} bytes), kept {}", reply.blobs_removed, reply.bytes_freed,
               reply.blobs_kept);
  Reply(peer, request_id, reply);
}

}  // namespace receta::scheduler
