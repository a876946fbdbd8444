#include "scheduler/worker_pool.h"

#include <algorithm>

namespace receta::scheduler {
namespace {

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : ",") + item;
  return out;
}

bool HasLabels(const WorkerRecord& worker, const std::vector<std::string>& labels) {
  for (const std::string& label : labels) {
    if (std::find(worker.labels.begin(), worker.labels.end(), label) == worker.labels.end()) return false;
  }
  return true;
}

// Why: a worker reports whole cpus; a step asking for more cpus than any
// machine has would wait forever, so cpus only count against what the worker
// reported (a worker reporting 0 cpus is treated as having one per slot).
double CpusOf(const WorkerRecord& worker) {
  return worker.cpus > 0 ? worker.cpus : static_cast<double>(worker.slots);
}

}  // namespace

PoolWorker& WorkerPool::Register(WorkerRecord record, uint64_t now_ms) {
  PoolWorker& worker = workers_[record.worker_id];
  worker.record = std::move(record);
  worker.connected = true;
  worker.last_heard_ms = now_ms;
  return worker;
}

void WorkerPool::Restore(WorkerRecord record) {
  PoolWorker& worker = workers_[record.worker_id];
  worker.record = std::move(record);
  worker.connected = false;
}

PoolWorker* WorkerPool::Find(const std::string& worker_id) {
  auto it = workers_.find(worker_id);
  return it == workers_.end() ? nullptr : &it->second;
}

std::vector<std::string> WorkerPool::ExpireSilent(uint64_t now_ms, uint64_t timeout_ms) {
  std::vector<std::string> lost;
  for (auto& [id, worker] : workers_) {
    if (worker.connected && now_ms > worker.last_heard_ms + timeout_ms) {
      worker.connected = false;
      lost.push_back(id);
    }
  }
  return lost;
}

bool WorkerPool::Fits(const PoolWorker& worker, const Step& step, bool when_idle, bool queued) const {
  const WorkerRecord& record = worker.record;
  if (!worker.connected || !HasLabels(record, step.labels)) return false;
  uint32_t used_slots = when_idle ? 0 : worker.used_slots;
  double used_cpus = when_idle ? 0 : worker.used_cpus;
  uint64_t used_memory = when_idle ? 0 : worker.used_memory_bytes;
  uint32_t used_gpus = when_idle ? 0 : worker.used_gpus;
  if (used_slots >= record.slots + (queued ? prefetch_ : 0)) return false;
  // A step asking for more cpus than the machine has still runs alone there.
  double cpus = std::min(step.resources.cpus, CpusOf(record));
  if (!queued && used_cpus > 0 && used_cpus + cpus > CpusOf(record) + 1e-9) return false;
  if (step.resources.memory_bytes > 0 &&
      used_memory + static_cast<uint64_t>(step.resources.memory_bytes) > record.memory_bytes) {
    return false;
  }
  if (step.resources.gpus > 0 && used_gpus + static_cast<uint32_t>(step.resources.gpus) > record.gpus) {
    return false;
  }
  return true;
}

std::string WorkerPool::NeverReason(const Step& step) const {
  std::vector<const PoolWorker*> live;
  for (const auto& [id, worker] : workers_) {
    if (worker.connected) live.push_back(&worker);
  }
  if (live.empty()) return "no worker is connected; start one with receta-worker";
  std::vector<const PoolWorker*> labelled;
  for (const PoolWorker* worker : live) {
    if (HasLabels(worker->record, step.labels)) labelled.push_back(worker);
  }
  if (labelled.empty()) {
    std::string seen;
    for (const PoolWorker* worker : live) {
      seen += (seen.empty() ? "" : ", ") + worker->record.name + " [" + Join(worker->record.labels) + "]";
    }
    return "no live worker has labels [" + Join(step.labels) + "] (live: " + seen +
           "); start one with --labels " + Join(step.labels);
  }
  uint64_t most_memory = 0;
  uint32_t most_gpus = 0;
  for (const PoolWorker* worker : labelled) {
    most_memory = std::max(most_memory, worker->record.memory_bytes);
    most_gpus = std::max(most_gpus, worker->record.gpus);
  }
  if (step.resources.gpus > 0 && static_cast<uint32_t>(step.resources.gpus) > most_gpus) {
    return "needs " + std::to_string(step.resources.gpus) + " gpus; the live workers with its labels have at most " +
           std::to_string(most_gpus);
  }
  if (step.resources.memory_bytes > 0 && static_cast<uint64_t>(step.resources.memory_bytes) > most_memory) {
    return "needs " + std::to_string(step.resources.memory_bytes >> 20) +
           " MiB of memory; the live workers with its labels have at most " + std::to_string(most_memory >> 20) +
           " MiB";
  }
  return "";
}

PoolWorker* WorkerPool::Best(const Step& step, const std::vector<std::string>& preferred, bool queued,
                             const std::string& avoid) {
  for (const std::string& id : preferred) {
    PoolWorker* worker = Find(id);
    if (id != avoid && worker != nullptr && Fits(*worker, step, false, queued)) return worker;
  }
  // Room left, signed: with prefetch, used slots may exceed slots.
  auto room = [](const PoolWorker& w) { return int64_t{w.record.slots} - int64_t{w.used_slots}; };
  PoolWorker* best = nullptr;
  for (auto& [id, worker] : workers_) {
    if (id == avoid || !Fits(worker, step, false, queued)) continue;
    if (best == nullptr || room(worker) > room(*best)) best = &worker;
  }
  return best;
}

MatchResult WorkerPool::Match(const Step& step, const std::vector<std::string>& preferred,
                              const std::string& avoid) {
  MatchResult result;
  result.worker = Best(step, preferred, /*queued=*/false, avoid);
  if (result.worker == nullptr && prefetch_ > 0) result.worker = Best(step, preferred, /*queued=*/true, avoid);
  if (result.worker != nullptr) return result;
  bool some_could = false;
  bool another_could = false;
  for (const auto& [id, worker] : workers_) {
    if (Fits(worker, step, true)) {
      some_could = true;
      if (id != avoid) another_could = true;
    }
  }
  if (some_could && !another_could) {
    // Only the worker it failed on can take it: better there than never.
    result.worker = Best(step, preferred, /*queued=*/false, "");
    if (result.worker == nullptr && prefetch_ > 0) result.worker = Best(step, preferred, /*queued=*/true, "");
    if (result.worker != nullptr) return result;
  }
  if (!some_could) {
    result.never_reason = NeverReason(step);
    if (result.never_reason.empty()) result.never_reason = "no live worker fits its labels and resources";
  }
  return result;
}

bool WorkerPool::AllBusy() const {
  for (const auto& [id, worker] : workers_) {
    if (HasRoom(worker)) return false;
  }
  return true;
}

void WorkerPool::Reserve(PoolWorker& worker, const Step& step, const std::string& attempt_id) {
  if (!worker.attempts.insert(attempt_id).second) return;
  ++worker.used_slots;
  worker.used_cpus += std::min(step.resources.cpus, CpusOf(worker.record));
  worker.used_memory_bytes += static_cast<uint64_t>(std::max<int64_t>(step.resources.memory_bytes, 0));
  worker.used_gpus += static_cast<uint32_t>(std::max(step.resources.gpus, 0));
}

void WorkerPool::Release(const std::string& worker_id, const Resources& resources,
                         const std::string& attempt_id) {
  PoolWorker* worker = Find(worker_id);
  if (worker == nullptr || worker->attempts.erase(attempt_id) == 0) return;
  --worker->used_slots;
  worker->used_cpus =
      std::max(0.0, worker->used_cpus - std::min(resources.cpus, CpusOf(worker->record)));
  worker->used_memory_bytes -=
      std::min<uint64_t>(worker->used_memory_bytes,
                         static_cast<uint64_t>(std::max<int64_t>(resources.memory_bytes, 0)));
  worker->used_gpus -=
      std::min<uint32_t>(worker->used_gpus, static_cast<uint32_t>(std::max(resources.gpus, 0)));
}

}  // namespace receta::scheduler
