#include "scheduler/blob_store.h"

#include <doctest/doctest.h>
#include <sys/stat.h>

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
using receta::testing::ReadFile;
using receta::testing::TempDir;

namespace {

std::unique_ptr<BlobStore> OpenCas(const std::string& dir) { return Must(BlobStore::Open(dir)); }

std::string Bytes(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + 7) & 0xff);
  return s;
}

// Writes `bytes` as a blob in chunks of `chunk` bytes and finishes it.
Status Store(BlobStore& cas, const std::string& digest, const std::string& bytes, size_t chunk) {
  Result<std::unique_ptr<BlobWriter>> writer = cas.BeginWrite(digest, bytes.size());
  if (!writer.ok()) return writer.status();
  for (size_t offset = 0; offset < bytes.size(); offset += chunk) {
    if (Status s = (*writer)->Write(offset, std::string_view(bytes).substr(offset, chunk)); !s.ok())
      return s;
  }
  return (*writer)->Finish();
}

size_t FilesIn(const std::string& dir) {
  size_t n = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir))
    n += entry.is_regular_file();
  return n;
}

}  // namespace

TEST_CASE("BlobStoreTest.WritesInChunksAndReadsBack") {
  TempDir dir;
  auto cas = OpenCas(dir.Path("cas"));
  const std::string bytes = Bytes(3 * 1000 + 17);
  const std::string digest = HashBytes(bytes).ToHex();
  CHECK_FALSE(cas->Has(digest));
  REQUIRE(Store(*cas, digest, bytes, 1000).ok());
  CHECK(cas->Has(digest));
  CHECK(cas->Has(digest, bytes.size()));
  CHECK_FALSE(cas->Has(digest, bytes.size() + 1));
  CHECK(*cas->Size(digest) == bytes.size());
  CHECK(cas->PathOf(digest) == dir.Path("cas/" + digest.substr(0, 2) + "/" + digest));
  CHECK(ReadFile(cas->PathOf(digest)) == bytes);
  CHECK(FilesIn(dir.Path("cas/tmp")) == 0);

  // Chunks, the last one short, and reads past the end.
  std::string joined;
  for (uint64_t offset = 0; offset < bytes.size(); offset += 1024) {
    Result<std::string> chunk = cas->ReadChunk(digest, offset, 1024);
    REQUIRE(chunk.ok());
    joined += *chunk;
  }
  CHECK(joined == bytes);
  CHECK(cas->ReadChunk(digest, bytes.size() - 5, 1024)->size() == 5);
  CHECK(cas->ReadChunk(digest, bytes.size(), 1024)->empty());
  Result<std::string> past = cas->ReadChunk(digest, bytes.size() + 1, 10);
  REQUIRE_FALSE(past.ok());
  CHECK(past.error().find("past its end") != std::string::npos);
  CHECK(cas->VerifyBlob(digest).ok());
}

TEST_CASE("BlobStoreTest.BigBlobsWrittenPastThePageCacheReadBackExactly") {
  // Blobs of 8 MiB and more go through DirectAppender (O_DIRECT, padded
  // tail cut to length); what is stored and served must be the bytes sent.
  TempDir dir;
  auto cas = OpenCas(dir.Path("cas"));
  const std::string bytes = Bytes((9u << 20) + 4321);
  const std::string digest = HashBytes(bytes).ToHex();
  REQUIRE(Store(*cas, digest, bytes, (1u << 20) + 3).ok());
  CHECK(*cas->Size(digest) == bytes.size());
  CHECK(ReadFile(cas->PathOf(digest)) == bytes);
  CHECK(cas->ReadChunk(digest, bytes.size() - 100, 1000)->size() == 100);
  CHECK(cas->VerifyBlob(digest).ok());
  struct stat st;
  REQUIRE(stat(cas->PathOf(digest).c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0444);
  CHECK(FilesIn(dir.Path("cas/tmp")) == 0);

  // A big blob whose bytes do not match leaves nothing behind.
  const std::string other = Bytes((8u << 20) + 1);
  Status wrong = Store(*cas, HashBytes("something else").ToHex(), other, 1u << 20);
  REQUIRE_FALSE(wrong.ok());
  CHECK(wrong.message().find("nothing was stored") != std::string::npos);
  CHECK(FilesIn(dir.Path("cas")) == 1);
}

TEST_CASE("BlobStoreTest.WrongDigestLeavesNoFile") {
  TempDir dir;
  auto cas = OpenCas(dir.Path("cas"));
  const std::string claimed = HashBytes("what was promised").ToHex();
  Status s = Store(*cas, claimed, "what arrived", 4);
  REQUIRE_FALSE(s.ok());
  CHECK(s.message() == "blob " + claimed + ": the 12 bytes that arrived hash to " +
                           HashBytes("what arrived").ToHex() +
                           ", not to the digest declared; nothing was stored");
  CHECK_FALSE(cas->Has(claimed));
  CHECK(FilesIn(dir.Path("cas")) == 0);
}

TEST_CASE("BlobStoreTest.SizeAndOrderAreChecked") {
  TempDir dir;
  auto cas = OpenCas(dir.Path("cas"));
  const std::string bytes = "0123456789";
  const std::string digest = HashBytes(bytes).ToHex();
  SUBCASE("out of order offset") {
    auto writer = std::move(cas->BeginWrite(digest, bytes.size())).value();
    REQUIRE(writer->Write(0, "01234").ok());
    Status s = writer->Write(6, "6789");
    REQUIRE_FALSE(s.ok());
    CHECK(s.message() ==
          "blob " + digest +
              ": chunk at offset 6, but 5 bytes are written; chunks must arrive in order");
    CHECK(writer->Write(0, "01234").message().find("chunk at offset 0, but 5") !=
          std::string::npos);
    REQUIRE(writer->Write(5, "56789").ok());
    CHECK(writer->Finish().ok());
    CHECK(cas->Has(digest, 10));
  }
  SUBCASE("more than declared") {
    auto writer = std::move(cas->BeginWrite(digest, 4)).value();
    Status s = writer->Write(0, bytes);
    REQUIRE_FALSE(s.ok());
    CHECK(s.message().find("runs past the declared size of 4 bytes") != std::string::npos);
  }
  SUBCASE("fewer than declared") {
    auto writer = std::move(cas->BeginWrite(digest, 11)).value();
    REQUIRE(writer->Write(0, bytes).ok());
    Status s = writer->Finish();
    REQUIRE_FALSE(s.ok());
    CHECK(s.message() ==
          "blob " + digest + ": 10 bytes arrived, 11 were declared; the upload was cut short");
    CHECK_FALSE(cas->Has(digest));
    CHECK(writer->Write(10, "x").message().find("the writer is closed") != std::string::npos);
  }
  SUBCASE("abort and destructor remove the temp file") {
    auto writer = std::move(cas->BeginWrite(digest, 10)).value();
    REQUIRE(writer->Write(0, "01").ok());
    CHECK(FilesIn(dir.Path("cas/tmp")) == 1);
    writer->Abort();
    CHECK(FilesIn(dir.Path("cas/tmp")) == 0);
    auto dropped = std::move(cas->BeginWrite(digest, 10)).value();
    REQUIRE(dropped->Write(0, "01").ok());
    dropped.reset();
    CHECK(FilesIn(dir.Path("cas/tmp")) == 0);
  }
  CHECK(FilesIn(dir.Path("cas/tmp")) == 0);
}

TEST_CASE("BlobStoreTest.ConcurrentWritersOfOneDigestBothSucceed") {
  TempDir dir;
  auto cas = OpenCas(dir.Path("cas"));
  const std::string bytes = Bytes(5000);
  const std::string digest = HashBytes(bytes).ToHex();
  auto a = std::move(cas->BeginWrite(digest, bytes.size())).value();
  auto b = std::move(cas->BeginWrite(digest, bytes.size())).value();
  REQUIRE(a->Write(0, std::string_view(bytes).substr(0, 2500)).ok());
  REQUIRE(b->Write(0, std::string_view(bytes).substr(0, 4000)).ok());
  REQUIRE(a->Write(2500, std::string_view(bytes).substr(2500)).ok());
  REQUIRE(a->Finish().ok());
  CHECK(ReadFile(cas->PathOf(digest)) == bytes);
  REQUIRE(b->Write(4000, std::string_view(bytes).substr(4000)).ok());
  REQUIRE(b->Finish().ok());
  CHECK(ReadFile(cas->PathOf(digest)) == bytes);
  CHECK(FilesIn(dir.Path("cas")) == 1);
}

TEST_CASE("BlobStoreTest.VerifyRemovesACorruptedBlob") {
  TempDir dir;
  auto cas = OpenCas(dir.Path("cas"));
  const std::string bytes = Bytes(4096);
  const std::string digest = HashBytes(bytes).ToHex();
  REQUIRE(Store(*cas, digest, bytes, 4096).ok());
  std::string flipped = bytes;
  flipped[2000] = static_cast<char>(flipped[2000] ^ 1);
  const std::string path = cas->PathOf(digest);
  REQUIRE(::chmod(path.c_str(), 0644) == 0);  // stored blobs are read-only
  receta::testing::WriteFile(path, flipped);
  CHECK(cas->Has(digest, bytes.size()));  // a stat cannot tell
  Status s = cas->VerifyBlob(digest);
  REQUIRE_FALSE(s.ok());
  CHECK(s.message() == "blob " + digest + " was corrupted (its bytes hash to " +
                           HashBytes(flipped).ToHex() + "); removed it from " + path +
                           ", it must be stored again");
  CHECK_FALSE(cas->Has(digest));
  CHECK(cas->VerifyBlob(digest).message().find("is not in the store") != std::string::npos);
}

TEST_CASE("BlobStoreTest.StoredBlobsAreReadOnly") {
  TempDir dir;
  auto cas = OpenCas(dir.Path("cas"));
  const std::string digest = HashBytes("x").ToHex();
  REQUIRE(Store(*cas, digest, "x", 1).ok());
  struct stat st;
  REQUIRE(::stat(cas->PathOf(digest).c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0444);
  CHECK(cas->Remove(digest).ok());
  CHECK_FALSE(cas->Has(digest));
  CHECK(cas->Remove(digest).ok());  // absent is fine
}

TEST_CASE("BlobStoreTest.EmptyBlob") {
  TempDir dir;
  auto cas = OpenCas(dir.Path("cas"));
  const std::string digest = HashBytes("").ToHex();
  auto writer = std::move(cas->BeginWrite(digest, 0)).value();
  REQUIRE(writer->Finish().ok());
  CHECK(cas->Has(digest));
  CHECK(*cas->Size(digest) == 0);
  CHECK(cas->ReadChunk(digest, 0, 100)->empty());
  CHECK(cas->VerifyBlob(digest).ok());
}

TEST_CASE("BlobStoreTest.PutFileHashesAndCopies") {
  TempDir dir;
  auto cas = OpenCas(dir.Path("cas"));
  const std::string bytes = Bytes(3u << 20);  // over the copy chunk
  const std::string source = dir.Write("input.bin", bytes);
  Result<std::string> digest = cas->PutFile(source);
  REQUIRE_MESSAGE(digest.ok(), digest.error());
  CHECK(*digest == HashBytes(bytes).ToHex());
  CHECK(ReadFile(cas->PathOf(*digest)) == bytes);
  CHECK(FilesIn(dir.Path("cas/tmp")) == 0);
  Result<std::string> missing = cas->PutFile(dir.Path("nope"));
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().find(dir.Path("nope")) != std::string::npos);
}

TEST_CASE("BlobStoreTest.BadDigestsNeverBecomePaths") {
  TempDir dir;
  auto cas = OpenCas(dir.Path("cas"));
  const std::string upper(64, 'A');
  for (const std::string& bad :
       {std::string(), std::string("../../etc/passwd"), std::string(63, 'a'), std::string(65, 'a'),
        upper, "tmp/" + std::string(60, 'a'), std::string(62, 'a') + "/x",
        std::string(63, 'a') + '\0'}) {
    CAPTURE(bad);
    CHECK_FALSE(cas->Has(bad));
    CHECK(cas->PathOf(bad).empty());
    Result<std::unique_ptr<BlobWriter>> writer = cas->BeginWrite(bad, 1);
    REQUIRE_FALSE(writer.ok());
    CHECK(writer.error().find("is not a SHA-256 in 64 lowercase hex characters") !=
          std::string::npos);
    CHECK_FALSE(cas->ReadChunk(bad, 0, 1).ok());
    CHECK_FALSE(cas->Size(bad).ok());
    CHECK_FALSE(cas->VerifyBlob(bad).ok());
    CHECK_FALSE(cas->Remove(bad).ok());
  }
  CHECK(FilesIn(dir.Path("cas")) == 0);
}

TEST_CASE("BlobStoreTest.OpenRemovesTempFilesOfACrash") {
  TempDir dir;
  {
    auto cas = OpenCas(dir.Path("cas"));
    auto writer = std::move(cas->BeginWrite(HashBytes("abc").ToHex(), 3)).value();
    REQUIRE(writer->Write(0, "ab").ok());
    std::filesystem::copy(dir.Path("cas/tmp"), dir.Path("saved"));  // as if the process died here
  }
  std::filesystem::remove_all(dir.Path("cas/tmp"));
  std::filesystem::copy(dir.Path("saved"), dir.Path("cas/tmp"));
  CHECK(FilesIn(dir.Path("cas/tmp")) == 1);
  auto cas = OpenCas(dir.Path("cas"));
  CHECK(FilesIn(dir.Path("cas/tmp")) == 0);
}

TEST_CASE("BlobStoreTest.ReadsAreBounded") {
  TempDir dir;
  auto cas = OpenCas(dir.Path("cas"));
  const std::string digest = HashBytes("x").ToHex();
  REQUIRE(Store(*cas, digest, "x", 1).ok());
  Result<std::string> huge = cas->ReadChunk(digest, 0, 1ull << 40);
  REQUIRE_FALSE(huge.ok());
  CHECK(huge.error().find("read in chunks") != std::string::npos);
  Result<std::string> absent = cas->ReadChunk(HashBytes("y").ToHex(), 0, 1);
  REQUIRE_FALSE(absent.ok());
  CHECK(absent.error().find("is not in the store") != std::string::npos);
}
