// Store on RocksDB.
//
// ---- On-disk format (store format_version 2) --------------------------------
// One RocksDB database in the directory given to Store::Open, with these
// column families (created when missing; unknown extra ones are opened and
// left alone):
//
//   CF        key                                     value
//   runs      run id (bytes)                          RunRecord
//   steps     run id + '\0' + big-endian u32 index    StepRecord
//   cache     cache key (lowercase hex)               CacheEntry
//   cache_families family + upstream manifest (hex)   empty (Run::CacheFamilyOf,
//             UpstreamManifest: a prefix scan lists a family's members)
//   blobs     digest (64 lowercase hex)               BlobRecord
//   blob_bytes digest (64 lowercase hex)              the blob's raw bytes
//             (small blobs only; larger ones are files in <data-dir>/cas)
//   workers   worker id                               WorkerRecord
//   events    big-endian u64 seq (>= 1)               EventRecord
//   meta      name                                    big-endian u64
//
// Record values are common/protocol/record_codec.h: msgpack
// [record_format_version = 1, {field name: value}]. The step key makes a
// prefix scan return one run's steps in index order (run ids never contain
// '\0'); the event key makes a forward scan return events in seq order.
// meta "format_version" holds this layout's version (2), written on first
// open; Open refuses a database whose version is newer than this build's.
// Any change to keys or to the meaning of a CF bumps kStoreFormatVersion.
// Version 2 added blob_bytes (a version 1 database is a valid version 2 one
// with none, and is marked 2 when opened: a version 1 build would not see
// small blobs). Version 3 added cache_families; meta
// "cache_families_complete" is 1 when every cache entry's families are
// there (a new database, or an older one with no cache entries), else
// CacheFamilyMembers answers "cannot know".
// -----------------------------------------------------------------------------

#include "scheduler/store.h"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <filesystem>
#include <system_error>
#include <utility>

#include "common/protocol/record_codec.h"
#include "scheduler/store_keys.h"

namespace receta::scheduler {
namespace {

using store_keys::BigEndian64;
using store_keys::Printable;

constexpr uint64_t kStoreFormatVersion = 3;
constexpr const char* kFormatVersionKey = "format_version";
constexpr const char* kFamiliesCompleteKey = "cache_families_complete";

enum Cf : size_t {
  kRuns,
  kSteps,
  kCache,
  kBlobs,
  kBlobBytes,
  kWorkers,
  kEvents,
  kMeta,
  kCacheFamilies,
  kCfCount
};
constexpr const char* kCfNames[kCfCount] = {
    "runs", "steps", "cache", "blobs", "blob_bytes", "workers", "events", "meta", "cache_families"};

// Why these numbers: the scheduler's state is small (a 10k-step DAG is a few
// MB of records) and its RSS budget is tens of MB, while RocksDB's defaults
// aim at servers (64 MB memtables per CF, an unbounded number of open table
// files). One shared 2 MB block cache, 2 MB memtables capped at 6 MB
// across all CFs, and a bounded number of open table files. (With 8 + 16 MB
// the scheduler grew from 45 to 65 MB over three 1,000-step benchmark runs:
// the memtables and cache filling up, not leaks. A 4 MB cache and an 8 MB
// memtable cap held 1.5 and 1.2 MB more after three rounds of the
// benchmark's chains and fan-outs, for no faster no-op rerun: 0.08-0.09 s
// either way.)
constexpr size_t kBlockCacheBytes = 2u << 20;
constexpr size_t kWriteBufferBytes = 2u << 20;
constexpr size_t kAllWriteBuffersBytes = 6u << 20;
constexpr uint64_t kMaxWalBytes = 64u << 20;
constexpr int kMaxOpenFiles = 128;
constexpr double kBloomBitsPerKey = 10;  // about 1% false positives

rocksdb::ColumnFamilyOptions CfOptions(const std::shared_ptr<rocksdb::Cache>& cache) {
  rocksdb::ColumnFamilyOptions options;
  options.write_buffer_size = kWriteBufferBytes;
  options.max_write_buffer_number = 2;
  options.target_file_size_base = 8u << 20;
  options.max_bytes_for_level_base = 32u << 20;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  table.cache_index_and_filter_blocks = true;
  // Why: most lookups of a run miss (a new blob, a new cache key: the
  // submit of a 1,000-file workspace asks about each file twice, and each
  // step's output and cache key once), and a miss without a filter reads
  // an index block of every table file that might hold the key.
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(kBloomBitsPerKey));
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return options;
}

rocksdb::DBOptions DbOptions() {
  rocksdb::DBOptions options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  options.max_open_files = kMaxOpenFiles;
  options.db_write_buffer_size = kAllWriteBuffersBytes;
  options.max_total_wal_size = kMaxWalBytes;
  options.max_background_jobs = 2;
  options.keep_log_file_num = 3;
  options.max_log_file_size = 1u << 20;
  options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  return options;
}

std::string RocksError(const rocksdb::Status& s) { return "RocksDB: " + s.ToString(); }

// Why: RocksDB reports a held LOCK file as an IOError whose text varies by
// holder ("lock hold by current process ... DIR/LOCK: No locks available"
// in this process, "While lock file: DIR/LOCK: Resource temporarily
// unavailable" in another); both name the LOCK file.
bool IsLockError(const rocksdb::Status& s) {
  return s.IsIOError() && s.ToString().find("/LOCK: ") != std::string::npos;
}

class RocksBatch final : public Store::Batch {
 public:
  explicit RocksBatch(std::vector<rocksdb::ColumnFamilyHandle*> cfs) : cfs_(std::move(cfs)) {}

  void PutRun(const RunRecord& run) override {
    PutRecord(kRuns, run.run_id, run, "run '" + run.run_id + "'");
  }
  void PutStep(const StepRecord& step) override {
    std::string what = "step " + std::to_string(step.index) + " ('" + step.name + "') of run '" +
                       Printable(step.run_id) + "'";
    if (step.run_id.find('\0') != std::string::npos) {
      Fail(
          what +
          ": run id contains a NUL byte, which the step key reserves as separator [this is a bug]");
      return;
    }
    PutRecord(kSteps, store_keys::StepKey(step.run_id, step.index), step, what);
  }
  void PutCacheEntry(const CacheEntry& entry) override {
    PutRecord(kCache, entry.key, entry, "cache entry '" + entry.key + "'");
  }
  void DeleteCacheEntry(const std::string& key) override { Delete(kCache, key); }
  void PutCacheFamilyMember(const CacheFamilyMember& member) override {
    Check(batch_.Put(cfs_[kCacheFamilies], member.family + member.upstream_manifest,
                     rocksdb::Slice()),
          "cache family '" + member.family + "'");
  }
  void PutBlob(const BlobRecord& blob) override {
    PutRecord(kBlobs, blob.digest, blob, "blob '" + blob.digest + "'");
  }
  void DeleteBlob(const std::string& digest) override { Delete(kBlobs, digest); }
  void PutBlobBytes(const std::string& digest, std::string_view bytes) override {
    Check(batch_.Put(cfs_[kBlobBytes], digest, rocksdb::Slice(bytes.data(), bytes.size())),
          "blob bytes '" + digest + "'");
  }
  void DeleteBlobBytes(const std::string& digest) override { Delete(kBlobBytes, digest); }
  void PutWorker(const WorkerRecord& worker) override {
    PutRecord(kWorkers, worker.worker_id, worker, "worker '" + worker.worker_id + "'");
  }
  void AppendEvent(const EventRecord& event) override {
    if (event.seq == 0) {
      Fail("event '" + event.kind + "' has seq 0; events are numbered from 1 [this is a bug]");
      return;
    }
    PutRecord(kEvents, BigEndian64(event.seq), event, "event " + std::to_string(event.seq));
  }
  void PutMeta(const std::string& key, uint64_t value) override {
    Check(batch_.Put(cfs_[kMeta], key, BigEndian64(value)), "meta '" + key + "'");
  }
  bool empty() const override { return batch_.Count() == 0 && status_.ok(); }
  size_t count() const override { return batch_.Count(); }

  rocksdb::WriteBatch& batch() { return batch_; }
  const Status& status() const { return status_; }

 private:
  template <typename T>
  void PutRecord(Cf cf, const std::string& key, const T& record, const std::string& what) {
    if (!status_.ok()) return;
    Result<std::string> value = protocol::EncodeRecord(record);
    if (!value.ok()) {
      Fail(what + " in column family '" + kCfNames[cf] + "': " + value.error());
      return;
    }
    Check(batch_.Put(cfs_[cf], key, *value), what + " in column family '" + kCfNames[cf] + "'");
  }
  void Delete(Cf cf, const std::string& key) {
    Check(batch_.Delete(cfs_[cf], key),
          "key '" + Printable(key) + "' in column family '" + kCfNames[cf] + "'");
  }
  void Check(const rocksdb::Status& s, const std::string& what) {
    if (!s.ok()) Fail("cannot add " + what + " to the batch: " + RocksError(s));
  }
  void Fail(std::string message) {
    if (status_.ok()) status_ = Status::Error(std::move(message));
  }

  std::vector<rocksdb::ColumnFamilyHandle*> cfs_;  // owned by the store, indexed by Cf
  rocksdb::WriteBatch batch_;
  Status status_;  // the first error; Commit refuses the whole batch then
};

class RocksStore final : public Store {
 public:
  RocksStore(std::string dir, std::unique_ptr<rocksdb::DB> db,
             std::vector<rocksdb::ColumnFamilyHandle*> handles,
             std::vector<rocksdb::ColumnFamilyHandle*> ours)
      : dir_(std::move(dir)),
        db_(std::move(db)),
        handles_(std::move(handles)),
        cfs_(std::move(ours)) {}

  ~RocksStore() override {
    for (rocksdb::ColumnFamilyHandle* handle : handles_) db_->DestroyColumnFamilyHandle(handle);
    db_->Close();
  }

  std::unique_ptr<Batch> NewBatch() override { return std::make_unique<RocksBatch>(cfs_); }

  Status Commit(Batch& batch, bool sync) override {
    auto& rocks = static_cast<RocksBatch&>(batch);
    if (!rocks.status().ok())
      return rocks.status().WithContext("store " + dir_ + ": nothing committed");
    // Why: the loop commits every iteration; an empty batch must not cost an fsync.
    if (rocks.count() == 0) return Status::Ok();
    rocksdb::WriteOptions options;
    options.sync = sync;
    rocksdb::Status s = db_->Write(options, &rocks.batch());
    if (!s.ok()) {
      return Status::Error("store " + dir_ + ": cannot commit a batch of " +
                           std::to_string(rocks.count()) + " writes: " + RocksError(s) +
                           "; check free disk space and permissions");
    }
    return Status::Ok();
  }

  Status Sync() override {
    rocksdb::Status s = db_->SyncWAL();
    if (!s.ok()) {
      return Status::Error("store " + dir_ + ": cannot sync the write-ahead log: " + RocksError(s) +
                           "; check the disk");
    }
    return Status::Ok();
  }

  Result<std::optional<RunRecord>> GetRun(const std::string& run_id) override {
    return GetRecord<RunRecord>(kRuns, run_id, "run '" + run_id + "'");
  }
  Status ForEachRun(const std::function<bool(RunRecord&&)>& visit) override {
    return ForEach<RunRecord>(kRuns, "run", visit);
  }
  Result<std::vector<StepRecord>> GetSteps(const std::string& run_id) override;
  Result<std::optional<CacheEntry>> GetCacheEntry(const std::string& key) override {
    return GetRecord<CacheEntry>(kCache, key, "cache entry '" + key + "'");
  }
  Status ForEachCacheEntry(const std::function<bool(CacheEntry&&)>& visit) override {
    return ForEach<CacheEntry>(kCache, "cache entry", visit);
  }
  Result<std::optional<std::vector<std::string>>> CacheFamilyMembers(
      const std::string& family) override {
    if (!families_complete_) return std::optional<std::vector<std::string>>();
    std::vector<std::string> members;
    std::unique_ptr<rocksdb::Iterator> it(
        db_->NewIterator(rocksdb::ReadOptions(), cfs_[kCacheFamilies]));
    for (it->Seek(family); it->Valid() && it->key().starts_with(family); it->Next()) {
      members.push_back(it->key().ToString().substr(family.size()));
    }
    if (!it->status().ok()) {
      return Status::Error(Where(kCacheFamilies, "cache family '" + family + "'") + ": " +
                           RocksError(it->status()));
    }
    return std::optional<std::vector<std::string>>(std::move(members));
  }
  void set_families_complete(bool complete) { families_complete_ = complete; }
  Status ForEachBlob(const std::function<bool(BlobRecord&&)>& visit) override {
    return ForEach<BlobRecord>(kBlobs, "blob", visit);
  }
  Result<std::optional<std::string>> GetBlobBytes(const std::string& digest) override {
    std::string value;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cfs_[kBlobBytes], digest, &value);
    if (s.IsNotFound()) return std::optional<std::string>();
    if (!s.ok()) {
      return Status::Error("cannot read " + Where(kBlobBytes, "blob '" + digest + "'") + ": " +
                           RocksError(s));
    }
    return std::optional<std::string>(std::move(value));
  }
  Status ForEachWorker(const std::function<bool(WorkerRecord&&)>& visit) override {
    return ForEach<WorkerRecord>(kWorkers, "worker", visit);
  }
  Result<std::vector<EventRecord>> EventsAfter(uint64_t after_seq, size_t limit) override;
  Result<uint64_t> LastEventSeq() override;
  Result<uint64_t> GetMeta(const std::string& key) override;

 private:
  std::string Where(Cf cf, std::string_view what) const {
    return std::string(what) + " in column family '" + kCfNames[cf] + "' of " + dir_;
  }

  template <typename T>
  Result<std::optional<T>> GetRecord(Cf cf, const std::string& key, const std::string& what) {
    std::string value;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cfs_[cf], key, &value);
    if (s.IsNotFound()) return std::optional<T>();
    if (!s.ok()) return Status::Error("cannot read " + Where(cf, what) + ": " + RocksError(s));
    Result<T> record = protocol::DecodeRecord<T>(value, Where(cf, what));
    if (!record.ok()) return record.status();
    return std::optional<T>(std::move(record).value());
  }

  template <typename T>
  Status ForEach(Cf cf, const char* noun, const std::function<bool(T&&)>& visit) {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cfs_[cf]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      std::string what = std::string(noun) + " '" + Printable(it->key().ToStringView()) + "'";
      Result<T> record = protocol::DecodeRecord<T>(it->value().ToStringView(), Where(cf, what));
      if (!record.ok()) return record.status();
      if (!visit(std::move(record).value())) return Status::Ok();
    }
    if (!it->status().ok()) {
      return Status::Error("cannot scan column family '" + std::string(kCfNames[cf]) + "' of " +
                           dir_ + ": " + RocksError(it->status()));
    }
    return Status::Ok();
  }

  std::string dir_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;  // every CF opened, owned
  std::vector<rocksdb::ColumnFamilyHandle*> cfs_;      // ours, indexed by Cf
  bool families_complete_ = false;  // meta cache_families_complete (CacheFamilyMembers)
};

Result<std::vector<StepRecord>> RocksStore::GetSteps(const std::string& run_id) {
  const std::string prefix = store_keys::StepPrefix(run_id);
  // Why an upper bound: the scan stops at the run's last step without
  // reading the next run's first block. '\x01' is the byte after the '\0'
  // separator.
  std::string upper = run_id + '\x01';
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions options;
  options.iterate_upper_bound = &upper_slice;
  std::vector<StepRecord> steps;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(options, cfs_[kSteps]));
  for (it->Seek(prefix); it->Valid(); it->Next()) {
    std::string_view key = it->key().ToStringView();
    std::optional<uint32_t> index = store_keys::ParseStepKey(key, prefix);
    if (!index) {
      return Status::Error("malformed key '" + Printable(key) + "' in column family 'steps' of " +
                           dir_ +
                           ": expected run id, NUL and a 4-byte index; the database is damaged");
    }
    std::string what = "step " + std::to_string(*index) + " of run '" + run_id + "'";
    Result<StepRecord> step =
        protocol::DecodeRecord<StepRecord>(it->value().ToStringView(), Where(kSteps, what));
    if (!step.ok()) return step.status();
    steps.push_back(std::move(step).value());
  }
  if (!it->status().ok()) {
    return Status::Error("cannot read the steps of run '" + run_id + "' in " + dir_ + ": " +
                         RocksError(it->status()));
  }
  return steps;
}

Result<std::vector<EventRecord>> RocksStore::EventsAfter(uint64_t after_seq, size_t limit) {
  std::vector<EventRecord> events;
  if (limit == 0 || after_seq == UINT64_MAX) return events;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cfs_[kEvents]));
  for (it->Seek(BigEndian64(after_seq + 1)); it->Valid() && events.size() < limit; it->Next()) {
    std::optional<uint64_t> seq = store_keys::ParseBigEndian64(it->key().ToStringView());
    if (!seq) {
      return Status::Error("malformed key '" + Printable(it->key().ToStringView()) +
                           "' in column family 'events' of " + dir_ + ": expected an 8-byte seq");
    }
    Result<EventRecord> event = protocol::DecodeRecord<EventRecord>(
        it->value().ToStringView(), Where(kEvents, "event " + std::to_string(*seq)));
    if (!event.ok()) return event.status();
    events.push_back(std::move(event).value());
  }
  if (!it->status().ok()) {
    return Status::Error("cannot read events after " + std::to_string(after_seq) + " in " + dir_ +
                         ": " + RocksError(it->status()));
  }
  return events;
}

Result<uint64_t> RocksStore::LastEventSeq() {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cfs_[kEvents]));
  it->SeekToLast();
  if (!it->status().ok()) {
    return Status::Error("cannot read the last event in " + dir_ + ": " + RocksError(it->status()));
  }
  if (!it->Valid()) return uint64_t{0};
  std::optional<uint64_t> seq = store_keys::ParseBigEndian64(it->key().ToStringView());
  if (!seq) {
    return Status::Error("malformed key '" + Printable(it->key().ToStringView()) +
                         "' in column family 'events' of " + dir_ + ": expected an 8-byte seq");
  }
  return *seq;
}

Result<uint64_t> RocksStore::GetMeta(const std::string& key) {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cfs_[kMeta], key, &value);
  if (s.IsNotFound()) return uint64_t{0};
  if (!s.ok())
    return Status::Error("cannot read " + Where(kMeta, "meta '" + key + "'") + ": " +
                         RocksError(s));
  std::optional<uint64_t> parsed = store_keys::ParseBigEndian64(value);
  if (!parsed) {
    return Status::Error(Where(kMeta, "meta '" + key + "'") +
                         " is damaged: expected 8 bytes, got " + std::to_string(value.size()));
  }
  return *parsed;
}

// Opens every CF already in the database plus ours. Why: RocksDB refuses to
// open a database without naming all of its column families.
std::vector<std::string> ColumnFamiliesToOpen(const std::string& dir) {
  std::vector<std::string> names;
  // Fails when the database does not exist yet; then only ours are created.
  (void)rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir, &names);
  auto add = [&names](const std::string& name) {
    for (const std::string& existing : names) {
      if (existing == name) return;
    }
    names.push_back(name);
  };
  add(rocksdb::kDefaultColumnFamilyName);
  for (const char* name : kCfNames) add(name);
  return names;
}

Status CheckFormatVersion(Store& store, const std::string& dir) {
  Result<uint64_t> version = store.GetMeta(kFormatVersionKey);
  if (!version.ok()) return version.status();
  if (*version < kStoreFormatVersion) {  // new, or an older layout this one extends
    std::unique_ptr<Store::Batch> batch = store.NewBatch();
    batch->PutMeta(kFormatVersionKey, kStoreFormatVersion);
    if (*version < 3) {
      // Entries made before version 3 have no families: complete only if none.
      bool no_entries = true;
      Status scan = store.ForEachCacheEntry([&](CacheEntry&&) { return no_entries = false; });
      if (!scan.ok()) return scan;
      batch->PutMeta(kFamiliesCompleteKey, no_entries ? 1 : 0);
    }
    return store.Commit(*batch);
  }
  if (*version > kStoreFormatVersion) {
    return Status::Error("the state in " + dir + " has store format version " +
                         std::to_string(*version) + ", newer than this receta-scheduler reads (" +
                         std::to_string(kStoreFormatVersion) +
                         "); run the newer receta-scheduler, or use another --data-dir");
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<Store>> Store::Open(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::Error("cannot create the state directory " + dir + ": " + ec.message());

  auto cache = rocksdb::NewLRUCache(kBlockCacheBytes);
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const std::string& name : ColumnFamiliesToOpen(dir))
    descriptors.emplace_back(name, CfOptions(cache));

  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(DbOptions(), dir, descriptors, &handles, &raw);
  if (!s.ok()) {
    if (IsLockError(s)) {
      return Status::Error("another receta-scheduler is using " + dir + " (" + RocksError(s) +
                           "); stop it first, or pass another --data-dir");
    }
    return Status::Error("cannot open the state database in " + dir + ": " + RocksError(s));
  }
  std::unique_ptr<rocksdb::DB> db(raw);
  std::vector<rocksdb::ColumnFamilyHandle*> ours(kCfCount, nullptr);
  for (size_t i = 0; i < descriptors.size(); ++i) {
    for (size_t cf = 0; cf < kCfCount; ++cf) {
      if (descriptors[i].name == kCfNames[cf]) ours[cf] = handles[i];
    }
  }
  auto store =
      std::make_unique<RocksStore>(dir, std::move(db), std::move(handles), std::move(ours));
  if (Status version = CheckFormatVersion(*store, dir); !version.ok()) return version;
  Result<uint64_t> complete = store->GetMeta(kFamiliesCompleteKey);
  if (!complete.ok()) return complete.status();
  store->set_families_complete(*complete == 1);
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace receta::scheduler
