#pragma once
// The SchedulerCore test harness: a fake clock, an in-memory ArtifactOracle,
// and helpers that register workers, submit DAGs and finish attempts, so a
// test reads as the story of one run (as ninja's PlanTest drives Plan).
#include <doctest/doctest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/hash/sha256.h"
#include "scheduler/scheduler_core.h"

namespace receta::scheduler {

class FakeOracle : public ArtifactOracle {
 public:
  std::optional<CacheEntry> FindCacheEntry(const std::string& key) override {
    auto it = cache.find(key);
    if (it == cache.end()) return std::nullopt;
    return it->second;
  }
  std::optional<std::vector<std::string>> CacheFamilyMembers(const std::string& family) override {
    if (families_unknown) return std::nullopt;
    std::vector<std::string> members;
    for (const CacheFamilyMember& member : families) {
      if (member.family == family) members.push_back(member.upstream_manifest);
    }
    return members;
  }
  bool HasBlob(const std::string& digest, uint64_t) override { return blobs.count(digest) > 0; }
  Result<std::string> ReadBlob(const std::string& digest, uint64_t) override {
    auto it = blobs.find(digest);
    if (it == blobs.end()) return Result<std::string>::Error("no blob " + digest);
    return it->second;
  }
  std::string Put(const std::string& bytes) {
    std::string digest = HashBytes(bytes).ToHex();
    blobs[digest] = bytes;
    return digest;
  }
  std::map<std::string, CacheEntry> cache;
  std::vector<CacheFamilyMember> families;
  bool families_unknown = false;  // as a store with entries older than families
  std::map<std::string, std::string> blobs;
};

// Dispatch without speculation unless asked: most tests pin down the order
// of plain dispatches (scheduler_speculation_test.cpp covers speculation).
inline CoreOptions NoSpeculation(CoreOptions options = CoreOptions{}) {
  options.speculative_dispatch = false;
  return options;
}

inline const char* kChain = R"(
name: chain
steps:
  a:
    run: echo a > a.txt
    inputs: [in.txt]
    outputs: [a.txt]
  b:
    run: cat a.txt > b.txt
    inputs: [a.txt]
    outputs: [b.txt]
)";

struct Harness {
  explicit Harness(CoreOptions options = NoSpeculation()) : core(oracle, options) {}
  FakeOracle oracle;
  SchedulerCore core;
  uint64_t now = 1'000'000;
  std::vector<protocol::Dispatch> dispatched;
  std::vector<protocol::KillAttempt> kills;
  std::vector<EventRecord> events;
  std::vector<Alert> alerts;

  void Drain() {
    Changes changes = core.TakeChanges();
    for (CacheEntry& entry : changes.cache_puts) oracle.cache[entry.key] = entry;
    oracle.families.insert(oracle.families.end(), changes.cache_families.begin(),
                           changes.cache_families.end());
    for (EventRecord& event : changes.events) events.push_back(event);
    for (Alert& alert : changes.alerts) alerts.push_back(alert);
    for (Outgoing& out : changes.messages) {
      if (auto* d = std::get_if<protocol::Dispatch>(&out.message)) dispatched.push_back(*d);
      if (auto* k = std::get_if<protocol::KillAttempt>(&out.message)) kills.push_back(*k);
    }
  }
  // A worker's Register: 8 cpus, taking speculative dispatches.
  static protocol::Register WorkerRegister(const std::string& id, uint32_t slots,
                                           std::vector<std::string> labels = {},
                                           uint64_t memory_bytes = 8ull << 30) {
    protocol::Register r;
    r.worker_id = id;
    r.name = id;
    r.hostname = "host";
    r.slots = slots;
    r.cpus = 8;
    r.memory_bytes = memory_bytes;
    r.labels = std::move(labels);
    r.features = std::vector<std::string>{std::string(protocol::kFeatureAfterAttempt)};
    return r;
  }
  void AddWorker(const std::string& id, uint32_t slots, std::vector<std::string> labels = {},
                 uint64_t memory_bytes = 8ull << 30) {
    core.Register(WorkerRegister(id, slots, std::move(labels), memory_bytes), now);
    Drain();
  }
  std::string Submit(const std::string& yaml, std::map<std::string, std::string> files = {},
                     bool no_cache = false) {
    protocol::SubmitRun submit;
    submit.dag_yaml = yaml;
    submit.dag_file = "test.yaml";
    submit.no_cache = no_cache;
    for (auto& [path, bytes] : files) {
      submit.workspace.push_back({path, oracle.Put(bytes), bytes.size(), false});
    }
    Result<std::string> id = core.Submit(submit, now);
    REQUIRE_MESSAGE(id.ok(), id.error());
    Drain();
    return *id;
  }
  // Finishes a dispatched attempt with the given outputs (path -> bytes).
  void Finish(const protocol::Dispatch& d, int exit_code, std::map<std::string, std::string> outputs = {},
              const std::string& worker = "") {
    protocol::AttemptFinished f;
    f.attempt_id = d.attempt_id;
    f.exit_code = exit_code;
    for (auto& [path, bytes] : outputs) f.outputs.push_back({path, oracle.Put(bytes), bytes.size(), false});
    Report(f, worker);
  }
  // Reports `f` from `worker` (default: the worker holding the attempt).
  void Report(const protocol::AttemptFinished& f, const std::string& worker = "") {
    core.OnAttemptFinished(worker.empty() ? WorkerOf(f.attempt_id) : worker, f, ++now);
    Drain();
  }
  std::string WorkerOf(const std::string& attempt_id) const {
    for (const auto& [id, w] : core.pool().workers()) {
      if (w.attempts.count(attempt_id)) return id;
    }
    return "";
  }
  const StepRecord& Step(const std::string& run, const std::string& name) {
    const Run* r = core.FindRun(run);
    REQUIRE(r != nullptr);
    return r->step(r->FindStep(name));
  }
  // kChain submitted with in.txt = "hello" and run to success (a makes
  // "A", b makes "B"), so its results are cached.
  void RunChainOnce() {
    Submit(kChain, {{"in.txt", "hello"}});
    Finish(LastDispatchOf("a"), 0, {{"a.txt", "A"}});
    Finish(LastDispatchOf("b"), 0, {{"b.txt", "B"}});
  }
  protocol::Dispatch LastDispatchOf(const std::string& step) const {
    for (auto it = dispatched.rbegin(); it != dispatched.rend(); ++it) {
      if (it->step == step) return *it;
    }
    FAIL("step " << step << " was never dispatched");
    return {};
  }
  std::set<std::string> DispatchedSteps() {
    std::set<std::string> names;
    for (const auto& d : dispatched) names.insert(d.step);
    return names;
  }
};

}  // namespace receta::scheduler
