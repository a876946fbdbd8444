#pragma once
// Store: the scheduler's durable state in one RocksDB database.
//
// Column families: "runs" (run id -> RunRecord), "steps" (run id + '\0' +
// big-endian u32 step index -> StepRecord), "cache" (hex key -> CacheEntry),
// "blobs" (digest -> BlobRecord), "blob_bytes" (digest -> the raw bytes of
// a small blob, see tiered_blob_store.h), "workers" (id -> WorkerRecord), "events"
// (big-endian u64 seq -> EventRecord), "meta" (counters such as the next run
// sequence). Values are msgpack via common/protocol/record_codec.h.
//
// Writes go through a Batch: the scheduler's loop collects every transition
// of one iteration into one Batch (group commit: many transitions, at most
// one fsync) and acts on them only after Commit succeeds. A batch committed
// with sync=false is in the WAL (it survives the process being killed) and
// reaches the disk with the next synced one; the loop syncs every batch it
// acknowledges to a peer (Server::CommitTurn).
// Only the scheduler's loop thread uses a Store. The key layout, value
// encoding and format version are written down at the top of store.cpp.
//
// Every read error names the column family, the record and the directory;
// a value that does not decode is an error naming the record and field (no
// crash). Open refuses a database written by a newer format, and a
// directory locked by another Store ("another receta-scheduler is using
// DIR ...").

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "scheduler/records.h"
#include "common/status.h"

namespace receta::scheduler {

class Store {
 public:
  /// Opens (creating if needed) the database in `dir`. The error names the
  /// directory and RocksDB's reason (e.g. a lock held by another scheduler).
  static Result<std::unique_ptr<Store>> Open(const std::string& dir);
  virtual ~Store() = default;

  /// Transitions to commit together. A Batch must not outlive its Store.
  /// A Put that cannot be encoded (a record over kMaxMessageBytes, a run id
  /// with a NUL byte, an event with seq 0) is remembered, and Commit then
  /// refuses the whole batch with that error.
  class Batch {
   public:
    virtual ~Batch() = default;
    virtual void PutRun(const RunRecord& run) = 0;
    virtual void PutStep(const StepRecord& step) = 0;
    virtual void PutCacheEntry(const CacheEntry& entry) = 0;
    virtual void DeleteCacheEntry(const std::string& key) = 0;
    /// Records a cache entry under one of its families (Run::CacheFamilyOf)
    /// with what that input held.
    virtual void PutCacheFamilyMember(const CacheFamilyMember& member) = 0;
    virtual void PutBlob(const BlobRecord& blob) = 0;
    virtual void DeleteBlob(const std::string& digest) = 0;
    /// The bytes of a small blob, committed with what refers to it.
    virtual void PutBlobBytes(const std::string& digest, std::string_view bytes) = 0;
    virtual void DeleteBlobBytes(const std::string& digest) = 0;
    virtual void PutWorker(const WorkerRecord& worker) = 0;
    /// `event.seq` must be set (NextEventSeq); events are never rewritten.
    virtual void AppendEvent(const EventRecord& event) = 0;
    virtual void PutMeta(const std::string& key, uint64_t value) = 0;
    virtual bool empty() const = 0;
    virtual size_t count() const = 0;
  };
  virtual std::unique_ptr<Batch> NewBatch() = 0;
  /// Writes the batch, fsync'ed when `sync`. Nothing of it is visible on
  /// failure. An empty batch returns Ok without touching the disk.
  virtual Status Commit(Batch& batch, bool sync = true) = 0;
  /// Makes every batch committed so far durable (one fsync of the WAL), as
  /// if the last one had been committed with sync=true.
  virtual Status Sync() = 0;

  // ---- Reads (point lookups and scans, for startup and for queries) -------
  virtual Result<std::optional<RunRecord>> GetRun(const std::string& run_id) = 0;
  /// Every run, calling `visit` in no particular order; stops early when
  /// visit returns false.
  virtual Status ForEachRun(const std::function<bool(RunRecord&&)>& visit) = 0;
  /// The steps of one run in index order.
  virtual Result<std::vector<StepRecord>> GetSteps(const std::string& run_id) = 0;
  virtual Result<std::optional<CacheEntry>> GetCacheEntry(const std::string& key) = 0;
  virtual Status ForEachCacheEntry(const std::function<bool(CacheEntry&&)>& visit) = 0;
  /// The upstream manifests recorded under `family`, or nullopt when the
  /// store cannot know (it holds cache entries older than families, format
  /// version 3).
  virtual Result<std::optional<std::vector<std::string>>> CacheFamilyMembers(
      const std::string& family) = 0;
  virtual Status ForEachBlob(const std::function<bool(BlobRecord&&)>& visit) = 0;
  /// A small blob's bytes, nullopt when the store holds none for `digest`.
  virtual Result<std::optional<std::string>> GetBlobBytes(const std::string& digest) = 0;
  virtual Status ForEachWorker(const std::function<bool(WorkerRecord&&)>& visit) = 0;
  /// Events with seq > after_seq in seq order, at most `limit`.
  virtual Result<std::vector<EventRecord>> EventsAfter(uint64_t after_seq, size_t limit) = 0;
  /// The highest event seq stored, 0 when none.
  virtual Result<uint64_t> LastEventSeq() = 0;
  virtual Result<uint64_t> GetMeta(const std::string& key) = 0;  // 0 when absent
};

}  // namespace receta::scheduler
