#include "scheduler/tiered_blob_store.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <memory>
#include <string>

#include "common/hash/sha256.h"
#include "tests/unit/test_files.h"
#include "tests/unit/test_support.h"

using namespace receta::scheduler;
using receta::HashBytes;
using receta::Result;
using receta::Status;
using receta::testing::Must;
using receta::testing::TempDir;

namespace {

// A scheduler's two stores in a temp dir, reopened as a restart would.
struct Stores {
  explicit Stores(const TempDir& dir) : dir_(dir) { Open(); }
  void Open() {
    blobs.reset();
    db.reset();
    db = Must(Store::Open(dir_.Path("db")));
    blobs = std::make_unique<TieredBlobStore>(Must(BlobStore::Open(dir_.Path("cas"))), *db);
  }
  // What Server::CommitTurn does with the turn's small blobs.
  void Commit() {
    auto batch = db->NewBatch();
    for (const auto& [digest, bytes] : blobs->TakePending()) batch->PutBlobBytes(digest, bytes);
    REQUIRE(db->Commit(*batch).ok());
  }
  const TempDir& dir_;
  std::unique_ptr<Store> db;
  std::unique_ptr<TieredBlobStore> blobs;
};

Status Put(BlobStore& cas, const std::string& digest, const std::string& bytes) {
  Result<std::unique_ptr<BlobWriter>> writer = cas.BeginWrite(digest, bytes.size());
  if (!writer.ok()) return writer.status();
  // Two chunks, as an upload sends them.
  size_t half = bytes.size() / 2;
  if (Status s = (*writer)->Write(0, std::string_view(bytes).substr(0, half)); !s.ok()) return s;
  if (Status s = (*writer)->Write(half, std::string_view(bytes).substr(half)); !s.ok()) return s;
  return (*writer)->Finish();
}

size_t FilesIn(const std::string& dir) {
  size_t n = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    n += entry.is_regular_file() ? 1 : 0;
  }
  return n;
}

}  // namespace

TEST_CASE("TieredBlobStoreTest.SmallBlobsLiveInTheDatabaseAndSurviveARestartOnceCommitted") {
  TempDir dir;
  Stores stores(dir);
  const std::string bytes = "accuracy: 0.93\n";
  const std::string digest = HashBytes(bytes).ToHex();
  REQUIRE(Put(*stores.blobs, digest, bytes).ok());
  // Pending: every read sees it before the commit.
  CHECK(stores.blobs->HasPending());
  CHECK(stores.blobs->Has(digest, bytes.size()));
  CHECK(stores.blobs->Has(digest));
  CHECK_FALSE(stores.blobs->Has(digest, bytes.size() + 1));
  CHECK(*stores.blobs->Size(digest) == bytes.size());
  CHECK(*stores.blobs->ReadChunk(digest, 10, 100) == "0.93\n");
  CHECK(stores.blobs->VerifyBlob(digest).ok());
  CHECK(FilesIn(dir.Path("cas")) == 0);  // no file, no inode
  stores.Commit();
  CHECK_FALSE(stores.blobs->HasPending());
  stores.Open();
  CHECK(stores.blobs->Has(digest, bytes.size()));
  CHECK(*stores.blobs->ReadChunk(digest, 0, 4) == "accu");
}

TEST_CASE("TieredBlobStoreTest.APendingBlobNeverCommittedIsGoneAfterARestart") {
  TempDir dir;
  Stores stores(dir);
  const std::string bytes = "lost with the crash";
  const std::string digest = HashBytes(bytes).ToHex();
  REQUIRE(Put(*stores.blobs, digest, bytes).ok());
  stores.Open();  // no commit: as a crash before the turn's commit
  CHECK_FALSE(stores.blobs->Has(digest));
  CHECK_FALSE(stores.blobs->Size(digest).ok());
}

TEST_CASE("TieredBlobStoreTest.BigBlobsAreFiles") {
  TempDir dir;
  Stores stores(dir);
  const std::string bytes(TieredBlobStore::kSmallBlobBytes + 1, 'm');
  const std::string digest = HashBytes(bytes).ToHex();
  REQUIRE(Put(*stores.blobs, digest, bytes).ok());
  CHECK_FALSE(stores.blobs->HasPending());
  CHECK(std::filesystem::exists(stores.blobs->PathOf(digest)));
  CHECK(stores.blobs->Has(digest, bytes.size()));
  CHECK(*stores.blobs->Size(digest) == bytes.size());
  REQUIRE(stores.blobs->Remove(digest).ok());
  CHECK_FALSE(stores.blobs->Has(digest));
}

TEST_CASE("TieredBlobStoreTest.WrongBytesAreRefusedWithTheReason") {
  TempDir dir;
  Stores stores(dir);
  const std::string claimed = HashBytes("the real bytes").ToHex();
  Status wrong = Put(*stores.blobs, claimed, "forged bytes!!");
  REQUIRE_FALSE(wrong.ok());
  CHECK(wrong.message().find("hash to " + HashBytes("forged bytes!!").ToHex()) != std::string::npos);
  CHECK(wrong.message().find("nothing was stored") != std::string::npos);
  CHECK_FALSE(stores.blobs->Has(claimed));
  CHECK_FALSE(stores.blobs->HasPending());

  Result<std::unique_ptr<BlobWriter>> writer = stores.blobs->BeginWrite(claimed, 14);
  REQUIRE(writer.ok());
  REQUIRE((*writer)->Write(0, "the real").ok());
  Status gap = (*writer)->Write(9, "bytes");
  REQUIRE_FALSE(gap.ok());
  CHECK(gap.message().find("chunks must arrive in order") != std::string::npos);
  Status past = (*writer)->Write(8, " bytes and more");
  REQUIRE_FALSE(past.ok());
  CHECK(past.message().find("runs past the declared size of 14 bytes") != std::string::npos);
  Status cut = (*writer)->Finish();
  REQUIRE_FALSE(cut.ok());
  CHECK(cut.message().find("8 bytes arrived, 14 were declared") != std::string::npos);

  Result<std::unique_ptr<BlobWriter>> bad = stores.blobs->BeginWrite("../../etc/passwd", 3);
  REQUIRE_FALSE(bad.ok());
  CHECK_FALSE(stores.blobs->Has("../../etc/passwd"));
}

TEST_CASE("TieredBlobStoreTest.ACorruptSmallBlobIsDroppedWhenVerified") {
  TempDir dir;
  Stores stores(dir);
  const std::string bytes = "model v1";
  const std::string digest = HashBytes(bytes).ToHex();
  REQUIRE(Put(*stores.blobs, digest, bytes).ok());
  stores.Commit();
  // The database's copy damaged behind the store's back.
  auto batch = stores.db->NewBatch();
  batch->PutBlobBytes(digest, "model v2");
  REQUIRE(stores.db->Commit(*batch).ok());
  Status verified = stores.blobs->VerifyBlob(digest);
  REQUIRE_FALSE(verified.ok());
  CHECK(verified.message() == "blob " + digest + " was corrupted (its bytes hash to " +
                                  HashBytes("model v2").ToHex() +
                                  "); removed it from the scheduler's database, it must be stored again");
  CHECK_FALSE(stores.blobs->Has(digest));
  stores.Open();
  CHECK_FALSE(stores.blobs->Has(digest));
}

TEST_CASE("TieredBlobStoreTest.RemoveTakesAPendingOrCommittedSmallBlob") {
  TempDir dir;
  Stores stores(dir);
  const std::string a = "a", b = "bb";
  REQUIRE(Put(*stores.blobs, HashBytes(a).ToHex(), a).ok());
  stores.Commit();
  REQUIRE(Put(*stores.blobs, HashBytes(b).ToHex(), b).ok());
  REQUIRE(stores.blobs->Remove(HashBytes(a).ToHex()).ok());
  REQUIRE(stores.blobs->Remove(HashBytes(b).ToHex()).ok());
  REQUIRE(stores.blobs->Remove(HashBytes("never stored").ToHex()).ok());
  CHECK_FALSE(stores.blobs->HasPending());
  stores.Open();
  CHECK_FALSE(stores.blobs->Has(HashBytes(a).ToHex()));
  CHECK_FALSE(stores.blobs->Has(HashBytes(b).ToHex()));
}
