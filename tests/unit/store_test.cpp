#include "scheduler/store.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <rocksdb/db.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "scheduler/store_keys.h"
#include "tests/unit/test_files.h"
#include "tests/unit/test_support.h"

using namespace receta::scheduler;
using receta::Result;
using receta::Status;
using receta::testing::Must;
using receta::testing::TempDir;

namespace {

std::unique_ptr<Store> OpenStore(const std::string& dir) { return Must(Store::Open(dir)); }

RunRecord Run(const std::string& id, uint64_t sequence) {
  RunRecord run;
  run.run_id = id;
  run.sequence = sequence;
  run.dag_name = "ml";
  run.params = {{"lr", "0.1"}};
  run.step_count = 2;
  return run;
}

StepRecord Step(const std::string& run_id, uint32_t index) {
  StepRecord step;
  step.run_id = run_id;
  step.index = index;
  step.name = "step" + std::to_string(index);
  step.state = StepState::kReady;
  return step;
}

EventRecord Event(uint64_t seq) {
  EventRecord event;
  event.seq = seq;
  event.kind = "step_ready";
  event.run_id = "r1";
  return event;
}

void Commit(Store& store, Store::Batch& batch) {
  Status s = store.Commit(batch);
  REQUIRE_MESSAGE(s.ok(), s.message());
}

// Writes raw bytes under `key` in column family `cf`, bypassing the Store,
// as a disk error or a buggy build might.
void PutRaw(const std::string& dir, const std::string& cf, const std::string& key,
            const std::string& value) {
  std::vector<std::string> names;
  REQUIRE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir, &names).ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const std::string& name : names)
    descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  REQUIRE(rocksdb::DB::Open(rocksdb::DBOptions(), dir, descriptors, &handles, &db).ok());
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == cf) CHECK(db->Put(rocksdb::WriteOptions(), handles[i], key, value).ok());
  }
  for (auto* handle : handles) db->DestroyColumnFamilyHandle(handle);
  delete db;
}

}  // namespace

TEST_CASE("StoreTest.PutsCommitsAndReadsBackAfterReopen") {
  TempDir dir;
  RunRecord run = Run("r1", 1);
  StepRecord step = Step("r1", 0);
  AttemptRecord attempt;
  attempt.attempt_id = "r1.0-1";
  attempt.number = 1;
  attempt.worker_id = "w1";
  step.attempts.push_back(attempt);
  CacheEntry entry{std::string(64, 'c'),
                   "ml",
                   "train",
                   "r1",
                   "r1.0-1",
                   5,
                   {{"m", std::string(64, 'a'), 3, false}},
                   "{}"};
  BlobRecord blob{std::string(64, 'a'), 3, 7};
  WorkerRecord worker;
  worker.worker_id = "w1";
  worker.labels = {"gpu"};
  {
    auto store = OpenStore(dir.Path("db"));
    auto batch = store->NewBatch();
    CHECK(batch->empty());
    batch->PutRun(run);
    batch->PutStep(step);
    batch->PutCacheEntry(entry);
    batch->PutBlob(blob);
    batch->PutWorker(worker);
    batch->AppendEvent(Event(1));
    batch->PutMeta("next_run", 42);
    CHECK(batch->count() == 7);
    CHECK_FALSE(batch->empty());
    Commit(*store, *batch);
  }
  auto store = OpenStore(dir.Path("db"));
  Result<std::optional<RunRecord>> got = store->GetRun("r1");
  REQUIRE(got.ok());
  REQUIRE(got->has_value());
  CHECK(**got == run);
  Result<std::optional<RunRecord>> absent = store->GetRun("nope");
  REQUIRE(absent.ok());
  CHECK_FALSE(absent->has_value());

  Result<std::vector<StepRecord>> steps = store->GetSteps("r1");
  REQUIRE(steps.ok());
  REQUIRE(steps->size() == 1);
  CHECK(steps->front() == step);

  Result<std::optional<CacheEntry>> cached = store->GetCacheEntry(entry.key);
  REQUIRE(cached.ok());
  REQUIRE(cached->has_value());
  CHECK(**cached == entry);

  std::vector<BlobRecord> blobs;
  REQUIRE(store
              ->ForEachBlob([&](BlobRecord&& b) {
                blobs.push_back(b);
                return true;
              })
              .ok());
  CHECK(blobs == std::vector<BlobRecord>{blob});
  std::vector<WorkerRecord> workers;
  REQUIRE(store
              ->ForEachWorker([&](WorkerRecord&& w) {
                workers.push_back(w);
                return true;
              })
              .ok());
  CHECK(workers == std::vector<WorkerRecord>{worker});
  CHECK(*store->GetMeta("next_run") == 42);
  CHECK(*store->GetMeta("absent") == 0);
  CHECK(*store->GetMeta("format_version") == 3);
  CHECK(*store->LastEventSeq() == 1);
}

TEST_CASE("StoreTest.DeletesCacheEntriesAndBlobs") {
  TempDir dir;
  auto store = OpenStore(dir.Path());
  auto batch = store->NewBatch();
  CacheEntry entry;
  entry.key = "k1";
  batch->PutCacheEntry(entry);
  entry.key = "k2";
  batch->PutCacheEntry(entry);
  BlobRecord blob;
  blob.digest = "d1";
  batch->PutBlob(blob);
  Commit(*store, *batch);
  auto second = store->NewBatch();
  second->DeleteCacheEntry("k1");
  second->DeleteBlob("d1");
  second->DeleteBlob("never-there");
  Commit(*store, *second);
  CHECK_FALSE(store->GetCacheEntry("k1")->has_value());
  CHECK(store->GetCacheEntry("k2")->has_value());
  int blobs = 0;
  REQUIRE(store
              ->ForEachBlob([&](BlobRecord&&) {
                ++blobs;
                return true;
              })
              .ok());
  CHECK(blobs == 0);
}

TEST_CASE("StoreTest.ForEachStopsWhenVisitReturnsFalse") {
  TempDir dir;
  auto store = OpenStore(dir.Path());
  auto batch = store->NewBatch();
  for (int i = 0; i < 5; ++i) batch->PutRun(Run("r" + std::to_string(i), i));
  Commit(*store, *batch);
  int seen = 0;
  REQUIRE(store->ForEachRun([&](RunRecord&&) { return ++seen < 2; }).ok());
  CHECK(seen == 2);
  seen = 0;
  REQUIRE(store
              ->ForEachRun([&](RunRecord&&) {
                ++seen;
                return true;
              })
              .ok());
  CHECK(seen == 5);
}

TEST_CASE("StoreTest.BatchIsAtomic") {
  TempDir dir;
  auto store = OpenStore(dir.Path());
  SUBCASE("an invalid record refuses the whole batch") {
    auto batch = store->NewBatch();
    batch->PutRun(Run("r1", 1));
    batch->AppendEvent(Event(0));  // seq 0 is a caller bug
    batch->PutRun(Run("r2", 2));
    Status s = store->Commit(*batch);
    REQUIRE_FALSE(s.ok());
    CHECK(s.message().find("event 'step_ready' has seq 0") != std::string::npos);
    CHECK(s.message().find("nothing committed") != std::string::npos);
    CHECK_FALSE(store->GetRun("r1")->has_value());
    CHECK_FALSE(store->GetRun("r2")->has_value());
  }
  SUBCASE("a run id with NUL cannot become a step key") {
    auto batch = store->NewBatch();
    batch->PutRun(Run("r1", 1));
    batch->PutStep(Step(std::string("r\0x", 3), 0));
    Status s = store->Commit(*batch);
    REQUIRE_FALSE(s.ok());
    CHECK(s.message().find("NUL") != std::string::npos);
    CHECK_FALSE(store->GetRun("r1")->has_value());
  }
  SUBCASE("a committed batch is all visible") {
    auto batch = store->NewBatch();
    for (uint32_t i = 0; i < 100; ++i) batch->PutStep(Step("r1", i));
    batch->PutRun(Run("r1", 1));
    Commit(*store, *batch);
    CHECK(store->GetSteps("r1")->size() == 100);
    CHECK(store->GetRun("r1")->has_value());
  }
}

TEST_CASE("StoreTest.StepsComeBackInIndexOrderPerRun") {
  TempDir dir;
  auto store = OpenStore(dir.Path());
  auto batch = store->NewBatch();
  // Indexes whose little-endian or decimal order differs from numeric order,
  // and runs whose ids are prefixes of each other.
  const std::vector<uint32_t> indexes = {256, 1, 0, 65536, 10, 2, 255, 9};
  for (uint32_t index : indexes) {
    batch->PutStep(Step("r1", index));
    batch->PutStep(Step("r10", index + 1000));
    batch->PutStep(Step("r", index + 2000));
  }
  Commit(*store, *batch);
  Result<std::vector<StepRecord>> steps = store->GetSteps("r1");
  REQUIRE(steps.ok());
  std::vector<uint32_t> got;
  for (const StepRecord& step : *steps) {
    CHECK(step.run_id == "r1");
    got.push_back(step.index);
  }
  CHECK(got == std::vector<uint32_t>{0, 1, 2, 9, 10, 255, 256, 65536});
  CHECK(store->GetSteps("r10")->size() == indexes.size());
  CHECK(store->GetSteps("r")->size() == indexes.size());
  CHECK(store->GetSteps("r2")->empty());
  // Rewriting a step replaces it.
  auto update = store->NewBatch();
  StepRecord done = Step("r1", 2);
  done.state = StepState::kSucceeded;
  update->PutStep(done);
  Commit(*store, *update);
  steps = store->GetSteps("r1");
  CHECK(steps->size() == indexes.size());
  CHECK((*steps)[2].state == StepState::kSucceeded);
}

TEST_CASE("StoreTest.EventsAfterHonoursSeqAndLimit") {
  TempDir dir;
  auto store = OpenStore(dir.Path());
  CHECK(*store->LastEventSeq() == 0);
  CHECK(store->EventsAfter(0, 10)->empty());
  auto batch = store->NewBatch();
  for (uint64_t seq = 1; seq <= 300; ++seq) batch->AppendEvent(Event(seq));
  Commit(*store, *batch);
  CHECK(*store->LastEventSeq() == 300);

  Result<std::vector<EventRecord>> events = store->EventsAfter(0, 10);
  REQUIRE(events.ok());
  REQUIRE(events->size() == 10);
  CHECK(events->front().seq == 1);
  CHECK(events->back().seq == 10);
  events = store->EventsAfter(255, 1000);  // crosses a byte boundary of the key
  REQUIRE(events->size() == 45);
  for (size_t i = 0; i < events->size(); ++i) CHECK((*events)[i].seq == 256 + i);
  CHECK(store->EventsAfter(300, 10)->empty());
  CHECK(store->EventsAfter(UINT64_MAX, 10)->empty());
  CHECK(store->EventsAfter(0, 0)->empty());
}

TEST_CASE("StoreTest.CorruptValueIsAnErrorNamingTheRecord") {
  TempDir dir;
  {
    auto store = OpenStore(dir.Path());
    auto batch = store->NewBatch();
    batch->PutRun(Run("r1", 1));
    batch->PutStep(Step("r1", 0));
    batch->AppendEvent(Event(1));
    Commit(*store, *batch);
  }
  PutRaw(dir.Path(), "runs", "r1", "\x92\x01\xc1garbage");
  PutRaw(dir.Path(), "steps", receta::scheduler::store_keys::StepKey("r1", 0),
         std::string("\x92\x01\x80", 3));
  PutRaw(dir.Path(), "events", receta::scheduler::store_keys::BigEndian64(2), "");
  PutRaw(dir.Path(), "meta", "next_run", "short");
  auto store = OpenStore(dir.Path());

  Result<std::optional<RunRecord>> run = store->GetRun("r1");
  REQUIRE_FALSE(run.ok());
  CHECK(run.error().rfind("run 'r1' in column family 'runs' of " + dir.Path() + ": ", 0) == 0);

  Status each = store->ForEachRun([](RunRecord&&) { return true; });
  REQUIRE_FALSE(each.ok());
  CHECK(each.message().rfind("run 'r1' in column family 'runs'", 0) == 0);

  Result<std::vector<StepRecord>> steps = store->GetSteps("r1");
  REQUIRE_FALSE(steps.ok());
  CHECK(steps.error() == "step 0 of run 'r1' in column family 'steps' of " + dir.Path() +
                             ": missing required field 'run_id'");

  Result<std::vector<EventRecord>> events = store->EventsAfter(0, 10);
  REQUIRE_FALSE(events.ok());
  CHECK(events.error().rfind("event 2 in column family 'events'", 0) == 0);

  Result<uint64_t> meta = store->GetMeta("next_run");
  REQUIRE_FALSE(meta.ok());
  CHECK(meta.error().find("meta 'next_run'") != std::string::npos);
  CHECK(meta.error().find("expected 8 bytes, got 5") != std::string::npos);
}

TEST_CASE("StoreTest.SecondOpenOfSameDirIsRefusedClearly") {
  TempDir dir;
  auto store = OpenStore(dir.Path());
  Result<std::unique_ptr<Store>> second = Store::Open(dir.Path());
  REQUIRE_FALSE(second.ok());
  CHECK(second.error().rfind("another receta-scheduler is using " + dir.Path(), 0) == 0);
  MESSAGE(second.error());
  store.reset();
  CHECK(Store::Open(dir.Path()).ok());  // the lock is released on close
}

TEST_CASE("StoreTest.LockHeldByAnotherProcessIsRefusedClearly") {
  TempDir dir;
  OpenStore(dir.Path()).reset();  // creates the database and its LOCK file
  int to_parent[2];
  int to_child[2];
  REQUIRE(::pipe(to_parent) == 0);
  REQUIRE(::pipe(to_child) == 0);
  const std::string lock_path = dir.Path("LOCK");
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // Only async-signal-safe calls here: lock as RocksDB does (fcntl), tell
    // the parent, wait for its word, exit.
    int fd = ::open(lock_path.c_str(), O_RDWR);
    struct flock lock = {};
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    char ok = (fd >= 0 && ::fcntl(fd, F_SETLK, &lock) == 0) ? 'y' : 'n';
    (void)!::write(to_parent[1], &ok, 1);
    (void)!::read(to_child[0], &ok, 1);
    ::_exit(0);
  }
  char locked = 0;
  REQUIRE(::read(to_parent[0], &locked, 1) == 1);
  CHECK(locked == 'y');
  Result<std::unique_ptr<Store>> store = Store::Open(dir.Path());
  REQUIRE_FALSE(store.ok());
  CHECK(store.error().rfind("another receta-scheduler is using " + dir.Path(), 0) == 0);
  MESSAGE(store.error());
  char done = 'x';
  REQUIRE(::write(to_child[1], &done, 1) == 1);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  for (int fd : {to_parent[0], to_parent[1], to_child[0], to_child[1]}) ::close(fd);
  CHECK(Store::Open(dir.Path()).ok());
}

TEST_CASE("StoreTest.RefusesNewerFormatVersion") {
  TempDir dir;
  {
    auto store = OpenStore(dir.Path());
    auto batch = store->NewBatch();
    batch->PutMeta("format_version", 4);
    Commit(*store, *batch);
  }
  Result<std::unique_ptr<Store>> store = Store::Open(dir.Path());
  REQUIRE_FALSE(store.ok());
  CHECK(store.error() ==
        "the state in " + dir.Path() +
            " has store format version 4, newer than this receta-scheduler reads (3); run "
            "the newer receta-scheduler, or use another --data-dir");
}

TEST_CASE("StoreTest.UpgradesAVersion1StateInPlace") {
  TempDir dir;
  {
    auto store = OpenStore(dir.Path());
    auto batch = store->NewBatch();
    batch->PutMeta("format_version", 1);
    batch->PutBlob(BlobRecord{std::string(64, 'a'), 3, 7});
    Commit(*store, *batch);
  }
  auto store = OpenStore(dir.Path());
  CHECK(*store->GetMeta("format_version") == 3);
  std::vector<BlobRecord> blobs;
  REQUIRE(store->ForEachBlob([&](BlobRecord&& b) { blobs.push_back(b); return true; }).ok());
  CHECK(blobs.size() == 1);
  CHECK_FALSE(store->GetBlobBytes(std::string(64, 'a'))->has_value());
}

TEST_CASE("StoreTest.CacheFamilyMembersAreListedByFamilyAndKeptAcrossReopens") {
  TempDir dir;
  const std::string family(64, 'f');
  const std::string neighbour = std::string(63, 'f') + 'e';  // sorts just before
  using Members = std::optional<std::vector<std::string>>;
  {
    auto store = OpenStore(dir.Path());
    CHECK(*store->CacheFamilyMembers(family) == Members(std::vector<std::string>{}));
    auto batch = store->NewBatch();
    batch->PutCacheFamilyMember({family, std::string(64, 'b')});
    batch->PutCacheFamilyMember({family, std::string(64, 'a')});
    batch->PutCacheFamilyMember({neighbour, std::string(64, 'c')});
    Commit(*store, *batch);
  }
  auto store = OpenStore(dir.Path());
  CHECK(*store->CacheFamilyMembers(family) ==
        Members(std::vector<std::string>{std::string(64, 'a'), std::string(64, 'b')}));
  CHECK(*store->CacheFamilyMembers(neighbour) ==
        Members(std::vector<std::string>{std::string(64, 'c')}));
}

// Cache entries written before format version 3 have no families: with
// some in the state, no family's members can be known (nothing is sent
// ahead of a step the cache might skip); with none, they all are.
TEST_CASE("StoreTest.AnOlderStateWithCacheEntriesCannotKnowFamilyMembers") {
  for (bool with_entry : {true, false}) {
    CAPTURE(with_entry);
    TempDir dir;
    {
      auto store = OpenStore(dir.Path());
      auto batch = store->NewBatch();
      batch->PutMeta("format_version", 2);
      batch->PutMeta("cache_families_complete", 0);
      if (with_entry) {
        CacheEntry entry;
        entry.key = std::string(64, 'c');
        entry.step = "train";
        batch->PutCacheEntry(entry);
      }
      Commit(*store, *batch);
    }
    auto store = OpenStore(dir.Path());
    CHECK(*store->GetMeta("format_version") == 3);
    CHECK(store->CacheFamilyMembers(std::string(64, 'f'))->has_value() == !with_entry);
  }
}

TEST_CASE("StoreTest.SmallBlobBytesRoundTrip") {
  TempDir dir;
  const std::string digest(64, 'b');
  const std::string bytes("raw\0bytes\xff", 10);
  {
    auto store = OpenStore(dir.Path());
    auto batch = store->NewBatch();
    batch->PutBlobBytes(digest, bytes);
    Commit(*store, *batch);
  }
  auto store = OpenStore(dir.Path());
  Result<std::optional<std::string>> read = store->GetBlobBytes(digest);
  REQUIRE(read.ok());
  REQUIRE(read->has_value());
  CHECK(**read == bytes);
  auto batch = store->NewBatch();
  batch->DeleteBlobBytes(digest);
  Commit(*store, *batch);
  CHECK_FALSE(store->GetBlobBytes(digest)->has_value());
}

TEST_CASE("StoreTest.SyncMakesUnsyncedBatchesDurableAndTheyReadBack") {
  // The scheduler commits a turn unsynced, sends its dispatches, then Syncs
  // (server.cpp, CommitTurn): the batch must be readable at once and after
  // a reopen, and Sync must succeed with nothing new to sync.
  TempDir dir;
  const std::string digest(64, 'c');
  {
    auto store = OpenStore(dir.Path());
    auto batch = store->NewBatch();
    batch->PutBlobBytes(digest, "unsynced");
    REQUIRE(store->Commit(*batch, /*sync=*/false).ok());
    CHECK(store->GetBlobBytes(digest)->value_or("") == "unsynced");
    Status synced = store->Sync();
    CHECK_MESSAGE(synced.ok(), synced.message());
    synced = store->Sync();
    CHECK_MESSAGE(synced.ok(), synced.message());
  }
  auto store = OpenStore(dir.Path());
  CHECK(store->GetBlobBytes(digest)->value_or("") == "unsynced");
}

TEST_CASE("StoreTest.OpenErrorsNameTheDirectory") {
  TempDir dir;
  receta::testing::WriteFile(dir.Path("file"), "x");
  Result<std::unique_ptr<Store>> store = Store::Open(dir.Path("file/db"));
  REQUIRE_FALSE(store.ok());
  CHECK(store.error().find(dir.Path("file/db")) != std::string::npos);
}

TEST_CASE("StoreTest.KeepsUnknownColumnFamilies") {
  TempDir dir;
  {
    rocksdb::Options options;
    options.create_if_missing = true;
    rocksdb::DB* db = nullptr;
    REQUIRE(rocksdb::DB::Open(options, dir.Path(), &db).ok());
    rocksdb::ColumnFamilyHandle* handle = nullptr;
    REQUIRE(db->CreateColumnFamily(rocksdb::ColumnFamilyOptions(), "schedules", &handle).ok());
    db->DestroyColumnFamilyHandle(handle);
    delete db;
  }
  auto store = OpenStore(dir.Path());
  auto batch = store->NewBatch();
  batch->PutRun(Run("r1", 1));
  Commit(*store, *batch);
  CHECK(store->GetRun("r1")->has_value());
}
