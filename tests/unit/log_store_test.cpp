#include "scheduler/log_store.h"

#include <dirent.h>
#include <doctest/doctest.h>

#include <memory>
#include <string>

#include "tests/unit/test_files.h"
#include "tests/unit/test_support.h"

using namespace receta::scheduler;
using receta::Result;
using receta::Status;
using receta::testing::Must;
using receta::testing::ReadFile;
using receta::testing::TempDir;

namespace {

std::unique_ptr<LogStore> OpenLogs(const std::string& dir, uint64_t cap_bytes) {
  return Must(LogStore::Open(dir, cap_bytes));
}

void Append(LogStore& logs, const std::string& run, const std::string& attempt,
            std::string_view bytes) {
  // Each call continues where the log is, as a worker's next chunk does.
  Status s = logs.Append(run, attempt, logs.Received(run, attempt), bytes);
  REQUIRE_MESSAGE(s.ok(), s.message());
}

std::string ReadAll(const LogStore& logs, const std::string& run, const std::string& attempt) {
  Result<std::string> r = logs.Read(run, attempt, 0, UINT64_MAX);
  REQUIRE_MESSAGE(r.ok(), r.error());
  return *r;
}

// The exact marker line for a cap and a dropped count (see log_store.h).
std::string Marker(uint64_t cap, uint64_t dropped) {
  std::string count = std::to_string(dropped);
  return "[receta: log cut at " + std::to_string(cap) + " bytes; " + count +
         " more bytes dropped]" + std::string(20 - count.size(), ' ') + "\n";
}

size_t OpenFds() {
  size_t n = 0;
  DIR* dir = ::opendir("/proc/self/fd");
  REQUIRE(dir != nullptr);
  while (::readdir(dir) != nullptr) ++n;
  ::closedir(dir);
  return n;
}

}  // namespace

TEST_CASE("LogStoreTest.AppendsAndReadsByOffset") {
  TempDir dir;
  auto logs = OpenLogs(dir.Path("logs"), 1u << 20);
  CHECK(logs->Size("r1", "r1.0-1") == 0);
  CHECK(ReadAll(*logs, "r1", "r1.0-1").empty());  // no log yet
  Append(*logs, "r1", "r1.0-1", "hello ");
  Append(*logs, "r1", "r1.0-1", "");
  Append(*logs, "r1", "r1.0-1", "world\n");
  Append(*logs, "r1", "r1.1-1", "other");
  CHECK(logs->Size("r1", "r1.0-1") == 12);
  CHECK(ReadAll(*logs, "r1", "r1.0-1") == "hello world\n");
  CHECK(*logs->Read("r1", "r1.0-1", 6, 3) == "wor");
  CHECK(*logs->Read("r1", "r1.0-1", 12, 3) == "");
  CHECK(*logs->Read("r1", "r1.0-1", 1000, 3) == "");
  CHECK(ReadFile(dir.Path("logs/r1/r1.0-1.log")) == "hello world\n");
  CHECK(ReadFile(dir.Path("logs/r1/r1.1-1.log")) == "other");

  // Close, then a new store (a restart): the log is still there and grows.
  logs->Close("r1.0-1");
  logs->Close("never-opened");
  logs = OpenLogs(dir.Path("logs"), 1u << 20);
  CHECK(logs->Size("r1", "r1.0-1") == 12);
  Append(*logs, "r1", "r1.0-1", "more");
  CHECK(ReadAll(*logs, "r1", "r1.0-1") == "hello world\nmore");
}

TEST_CASE("LogStoreTest.CapWritesOneMarkerAndCountsDroppedBytes") {
  TempDir dir;
  auto logs = OpenLogs(dir.Path(), 10);
  Append(*logs, "r", "a", "12345678");
  Append(*logs, "r", "a", "abcdef");  // 2 kept, 4 dropped
  const std::string first = "12345678ab\n" + Marker(10, 4);
  CHECK(ReadAll(*logs, "r", "a") == first);
  CHECK(logs->Size("r", "a") == first.size());

  Append(*logs, "r", "a", "xyz");
  Append(*logs, "r", "a", std::string(1000, 'z'));
  const std::string later = "12345678ab\n" + Marker(10, 1007);
  CHECK(ReadAll(*logs, "r", "a") == later);
  CHECK(later.size() == first.size());  // the marker is rewritten in place

  // A restart recovers the count from the marker.
  logs = OpenLogs(dir.Path(), 10);
  Append(*logs, "r", "a", "1");
  CHECK(ReadAll(*logs, "r", "a") == "12345678ab\n" + Marker(10, 1008));
}

TEST_CASE("LogStoreTest.CutAtALineEndAddsNoBlankLine") {
  TempDir dir;
  auto logs = OpenLogs(dir.Path(), 6);
  Append(*logs, "r", "a", "line1\n");
  CHECK(ReadAll(*logs, "r", "a") == "line1\n");  // exactly at the cap: no cut yet
  Append(*logs, "r", "a", "x");
  CHECK(ReadAll(*logs, "r", "a") == "line1\n" + Marker(6, 1));
}

TEST_CASE("LogStoreTest.CapZeroStoresOnlyTheMarker") {
  TempDir dir;
  auto logs = OpenLogs(dir.Path(), 0);
  Append(*logs, "r", "a", "abc");
  CHECK(ReadAll(*logs, "r", "a") == Marker(0, 3));
}

TEST_CASE("LogStoreTest.ManyAttemptsStayWithinTheFdLimit") {
  TempDir dir;
  auto logs = OpenLogs(dir.Path(), 1u << 20);
  const size_t before = OpenFds();
  const int attempts = static_cast<int>(LogStore::kMaxOpenFiles) * 3;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < attempts; ++i) {
      Append(*logs, "run", "run." + std::to_string(i) + "-1", std::to_string(round) + ",");
    }
  }
  CHECK(OpenFds() <= before + LogStore::kMaxOpenFiles);
  for (int i = 0; i < attempts; ++i) {
    CHECK(ReadAll(*logs, "run", "run." + std::to_string(i) + "-1") == "0,1,2,");
  }
  for (int i = 0; i < attempts; ++i) logs->Close("run." + std::to_string(i) + "-1");
  CHECK(OpenFds() == before);
}

TEST_CASE("LogStoreTest.RefusesIdsThatCouldEscape") {
  TempDir dir;
  auto logs = OpenLogs(dir.Path("logs"), 100);
  for (const std::string& bad :
       {std::string(), std::string("."), std::string(".."), std::string("../x"), std::string("a/b"),
        std::string("a..b"), std::string("a b"), std::string("a\0b", 3), std::string(256, 'a'),
        std::string("é")}) {
    CAPTURE(bad);
    Status as_run = logs->Append(bad, "a", 0, "x");
    REQUIRE_FALSE(as_run.ok());
    CHECK(as_run.message().rfind("run id '", 0) == 0);
    CHECK(as_run.message().find("[A-Za-z0-9._-]") != std::string::npos);
    Status as_attempt = logs->Append("r", bad, 0, "x");
    REQUIRE_FALSE(as_attempt.ok());
    CHECK(as_attempt.message().rfind("attempt id '", 0) == 0);
    CHECK_FALSE(logs->Read(bad, "a", 0, 10).ok());
    CHECK_FALSE(logs->Read("r", bad, 0, 10).ok());
    CHECK(logs->Size(bad, "a") == 0);
    CHECK(logs->Received(bad, "a") == 0);
  }
  CHECK(ReadFile(dir.Path("x.log")).empty());
  Append(*logs, "r-1_2.3", "r-1_2.3.0-1", "ok");  // the id forms receta uses
}

// Workers send chunks at least once (again after every RegisterAck), so the
// store must take each byte once, whatever is sent twice.
TEST_CASE("LogStoreTest.ResentChunksAreStoredOnce") {
  TempDir dir;
  auto logs = OpenLogs(dir.Path(), 1u << 20);
  REQUIRE(logs->Append("r", "a", 0, "one\n").ok());
  REQUIRE(logs->Append("r", "a", 4, "two\n").ok());
  REQUIRE(logs->Append("r", "a", 0, "one\n").ok());       // resent whole
  REQUIRE(logs->Append("r", "a", 4, "two\nthr").ok());    // overlaps: only "thr" is new
  REQUIRE(logs->Append("r", "a", 11, "ee\n").ok());
  CHECK(ReadAll(*logs, "r", "a") == "one\ntwo\nthree\n");
  CHECK(logs->Received("r", "a") == 14);
  // A restarted scheduler knows what it has from the file.
  logs->Close("a");
  auto reopened = OpenLogs(dir.Path(), 1u << 20);
  CHECK(reopened->Received("r", "a") == 14);
  REQUIRE(reopened->Append("r", "a", 0, "one\ntwo\nthree\nfour\n").ok());
  CHECK(ReadAll(*reopened, "r", "a") == "one\ntwo\nthree\nfour\n");
}

TEST_CASE("LogStoreTest.BytesNeverResentAreNamedWhereTheyWere") {
  TempDir dir;
  auto logs = OpenLogs(dir.Path(), 1u << 20);
  REQUIRE(logs->Append("r", "a", 0, "start\n").ok());
  REQUIRE(logs->Append("r", "a", 106, "end\n").ok());  // bytes 6..105 never arrived
  CHECK(ReadAll(*logs, "r", "a") ==
        "start\n\n[receta: 100 bytes of this log were lost here (not resent after a scheduler "
        "restart)]\nend\n");
  CHECK(logs->Received("r", "a") == 110);
  REQUIRE(logs->Append("r", "a", 6, std::string(104, 'x')).ok());  // too late: already named
  CHECK(logs->Received("r", "a") == 110);
}

TEST_CASE("LogStoreTest.ResentChunksPastTheCapCountOnce") {
  TempDir dir;
  auto logs = OpenLogs(dir.Path(), 8);
  REQUIRE(logs->Append("r", "a", 0, "12345678abcd").ok());  // 8 kept, 4 dropped
  REQUIRE(logs->Append("r", "a", 8, "abcdef").ok());        // "ef" new
  CHECK(ReadAll(*logs, "r", "a") == "12345678\n" + Marker(8, 6));
  REQUIRE(logs->Append("r", "a", 20, "z").ok());  // 14..19 lost: counted as dropped
  CHECK(ReadAll(*logs, "r", "a") == "12345678\n" + Marker(8, 13));
  logs->Close("a");
  CHECK(logs->Received("r", "a") == 21);
}
