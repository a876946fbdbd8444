// net/: Connection, blob transfer and endpoint resolution, against the
// FakeScheduler (a ROUTER in a test thread on 127.0.0.1).
#include <doctest/doctest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "common/hash/sha256.h"
#include "net/blob_transfer.h"
#include "net/connection.h"
#include "net/endpoint.h"
#include "tests/unit/fake_scheduler.h"
#include "tests/unit/test_files.h"

using namespace receta;
using namespace std::chrono_literals;
using receta::testing::FakeScheduler;
using receta::testing::PatternBytes;
using receta::testing::ReadFile;
using receta::testing::TempDir;

namespace {

std::unique_ptr<net::Connection> MustConnect(zmq::context_t& context, const std::string& endpoint) {
  Result<std::unique_ptr<net::Connection>> connection = net::Connection::Connect(context, endpoint);
  REQUIRE_MESSAGE(connection.ok(), connection.error());
  return std::move(*connection);
}

}  // namespace

// 9 MiB and some: a download big enough to be hashed on a thread of its own.
TEST_CASE("BlobTransferTest.UploadsThenDownloadsZeroOneFiveAndAHalfAndNineMiB") {
  FakeScheduler server(FakeScheduler::Options{.credit_bytes = 2u << 20});
  zmq::context_t context;
  auto connection = MustConnect(context, server.endpoint());
  TempDir dir;
  for (size_t size :
       {size_t{0}, size_t{1}, size_t{5} * (1u << 20) + (1u << 19), size_t{9} * (1u << 20) + 7}) {
    CAPTURE(size);
    std::string data = PatternBytes(size);
    std::string path = dir.Write("in-" + std::to_string(size), data);
    std::string digest = HashBytes(data).ToHex();

    Result<std::vector<std::string>> missing = net::QueryMissingBlobs(*connection, {digest});
    REQUIRE_MESSAGE(missing.ok(), missing.error());
    CHECK(*missing == std::vector<std::string>{digest});

    Status uploaded = net::UploadBlob(*connection, path, digest, size);
    REQUIRE_MESSAGE(uploaded.ok(), uploaded.message());
    CHECK(server.Blob(digest) == data);
    missing = net::QueryMissingBlobs(*connection, {digest});
    CHECK(missing->empty());
    // Uploading again is answered at once: the scheduler has it.
    CHECK(net::UploadBlob(*connection, path, digest, size).ok());

    std::string out = dir.Path("out-" + std::to_string(size));
    Status downloaded = net::DownloadBlob(*connection, digest, size, out);
    REQUIRE_MESSAGE(downloaded.ok(), downloaded.message());
    CHECK(ReadFile(out) == data);
  }
  CHECK_FALSE(server.credit_violated());
  // No temp files left behind.
  for (const auto& entry : std::filesystem::directory_iterator(dir.Path())) {
    CHECK(entry.path().filename().string().find("receta-tmp") == std::string::npos);
  }
}

TEST_CASE("BlobTransferTest.QueriesManyDigestsInBatches") {
  FakeScheduler server;
  zmq::context_t context;
  auto connection = MustConnect(context, server.endpoint());
  server.PutBlob("present");
  std::vector<std::string> digests;
  for (size_t i = 0; i < net::kQueryBatchDigests + 5; ++i) {
    digests.push_back(HashBytes(std::to_string(i)).ToHex());
  }
  digests.push_back(HashBytes("present").ToHex());
  Result<std::vector<std::string>> missing = net::QueryMissingBlobs(*connection, digests);
  REQUIRE_MESSAGE(missing.ok(), missing.error());
  CHECK(missing->size() == digests.size() - 1);
  CHECK(missing->front() == digests.front());
  int queries = 0;
  for (const std::string& name : server.requests()) queries += name == "BlobQuery";
  CHECK(queries == 2);
}

TEST_CASE("BlobTransferTest.UploadRetriesOnceAfterAConflict") {
  FakeScheduler once(FakeScheduler::Options{.conflicts_to_send = 1});
  zmq::context_t context;
  TempDir dir;
  std::string data = PatternBytes(3000);
  std::string path = dir.Write("f", data);
  std::string digest = HashBytes(data).ToHex();
  auto connection = MustConnect(context, once.endpoint());
  Status uploaded = net::UploadBlob(*connection, path, digest, data.size());
  CHECK_MESSAGE(uploaded.ok(), uploaded.message());

  FakeScheduler always(FakeScheduler::Options{.conflicts_to_send = 100});
  auto second = MustConnect(context, always.endpoint());
  uploaded = net::UploadBlob(*second, path, digest, data.size());
  REQUIRE_FALSE(uploaded.ok());
  CHECK(uploaded.message().find("bytes do not hash to") != std::string::npos);
}

TEST_CASE("BlobTransferTest.UploadRefusesAFileChangedSinceHashing") {
  FakeScheduler server;
  zmq::context_t context;
  auto connection = MustConnect(context, server.endpoint());
  TempDir dir;
  std::string path = dir.Write("f", "new contents");
  Status wrong_size = net::UploadBlob(*connection, path, HashBytes("old").ToHex(), 3);
  REQUIRE_FALSE(wrong_size.ok());
  CHECK(wrong_size.message().find(path + " changed after it was hashed") != std::string::npos);
  Status same_size = net::UploadBlob(*connection, path, HashBytes("old contents").ToHex(), 12);
  REQUIRE_FALSE(same_size.ok());
  CHECK(same_size.message().find("no longer hash to") != std::string::npos);
  Status missing = net::UploadBlob(*connection, dir.Path("absent"), HashBytes("").ToHex(), 0);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.message().find("cannot open " + dir.Path("absent")) != std::string::npos);
}

TEST_CASE("BlobTransferTest.SizeOnlyUploadSendsEveryByteAndStillChecksTheSize") {
  // The worker's uploads (LocalCheck::kSizeOnly): no second local hash, the
  // scheduler verifies the digest; the bytes must arrive intact across
  // several chunks, and a file whose size changed is still refused here.
  FakeScheduler server;
  zmq::context_t context;
  auto connection = MustConnect(context, server.endpoint());
  TempDir dir;
  std::string data = PatternBytes((3u << 20) + 5);
  std::string path = dir.Write("f", data);
  std::string digest = HashBytes(data).ToHex();
  Status uploaded = net::UploadBlob(*connection, path, digest, data.size(), net::kTransferReplyTimeout,
                                    std::nullopt, net::LocalCheck::kSizeOnly);
  REQUIRE_MESSAGE(uploaded.ok(), uploaded.message());
  CHECK(server.Blob(digest) == data);

  std::string other = HashBytes("other").ToHex();
  Status resized = net::UploadBlob(*connection, path, other, data.size() - 1, net::kTransferReplyTimeout,
                                   std::nullopt, net::LocalCheck::kSizeOnly);
  REQUIRE_FALSE(resized.ok());
  CHECK(resized.message().find(path + " changed after it was hashed") != std::string::npos);
  CHECK_FALSE(server.Blob(other).has_value());
}

namespace {

// Files f0..f<n-1> of different sizes (the first empty), as upload items.
std::vector<net::UploadItem> SmallItems(TempDir& dir, int n, std::map<std::string, std::string>& data) {
  std::vector<net::UploadItem> items;
  for (int i = 0; i < n; ++i) {
    std::string bytes = i == 0 ? "" : PatternBytes(static_cast<size_t>(i) * 37) + std::to_string(i);
    std::string path = dir.Write("f" + std::to_string(i), bytes);
    std::string digest = HashBytes(bytes).ToHex();
    data[digest] = bytes;
    items.push_back({path, digest, bytes.size()});
  }
  return items;
}

size_t IndexOf(const std::vector<std::string>& names, const std::string& name, size_t nth = 0) {
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == name && nth-- == 0) return i;
  }
  return names.size();
}

}  // namespace

TEST_CASE("BlobTransferTest.UploadBlobsPipelinesSmallFilesAndStreamsLargeOnes") {
  FakeScheduler server;
  zmq::context_t context;
  auto connection = MustConnect(context, server.endpoint());
  TempDir dir;
  std::map<std::string, std::string> data;
  std::vector<net::UploadItem> items = SmallItems(dir, 300, data);
  std::string one_chunk = PatternBytes(net::kTransferChunkBytes);
  std::string large = PatternBytes((3u << 20) + 11) + "large";
  for (const std::string* bytes : {&one_chunk, &large}) {
    std::string digest = HashBytes(*bytes).ToHex();
    data[digest] = *bytes;
    items.push_back({dir.Write("big" + std::to_string(bytes->size()), *bytes), digest, bytes->size()});
  }
  items.push_back(items[5]);  // the same digest twice is sent once

  Status uploaded = net::UploadBlobs(*connection, items);
  REQUIRE_MESSAGE(uploaded.ok(), uploaded.message());
  for (const auto& [digest, bytes] : data) {
    CAPTURE(bytes.size());
    CHECK(server.Blob(digest) == bytes);
  }
  CHECK_FALSE(server.credit_violated());
  std::vector<std::string> requests = server.requests();
  CHECK(std::count(requests.begin(), requests.end(), "BlobPutBegin") == static_cast<long>(data.size()));
  // Pipelined: many uploads begin before the first one ends.
  CHECK(IndexOf(requests, "BlobPutBegin", 50) < IndexOf(requests, "BlobPutEnd"));
}

TEST_CASE("BlobTransferTest.UploadBlobsRetriesAConflictOnceStreamsWhenCreditIsShortAndNamesAChangedFile") {
  zmq::context_t context;
  TempDir dir;
  std::map<std::string, std::string> data;
  std::vector<net::UploadItem> items = SmallItems(dir, 40, data);
  {
    FakeScheduler conflicting(FakeScheduler::Options{.conflicts_to_send = 1});
    auto connection = MustConnect(context, conflicting.endpoint());
    Status uploaded = net::UploadBlobs(*connection, items);
    REQUIRE_MESSAGE(uploaded.ok(), uploaded.message());
    for (const auto& [digest, bytes] : data) CHECK(conflicting.Blob(digest) == bytes);
  }
  {
    // A scheduler granting less than a file: it is streamed within credit.
    FakeScheduler stingy(FakeScheduler::Options{.credit_bytes = 500});
    auto connection = MustConnect(context, stingy.endpoint());
    Status uploaded = net::UploadBlobs(*connection, items);
    REQUIRE_MESSAGE(uploaded.ok(), uploaded.message());
    for (const auto& [digest, bytes] : data) CHECK(stingy.Blob(digest) == bytes);
    CHECK_FALSE(stingy.credit_violated());
  }
  {
    FakeScheduler server;
    auto connection = MustConnect(context, server.endpoint());
    std::string changed = items[7].path;
    dir.Write("f7", std::string(items[7].size_bytes, 'z'));  // same size, other bytes
    Status uploaded = net::UploadBlobs(*connection, items);
    REQUIRE_FALSE(uploaded.ok());
    CHECK(uploaded.message().find(changed + " changed after it was hashed") != std::string::npos);
    CHECK_FALSE(server.Blob(items[7].digest).has_value());
  }
}

// Hashed here (3 MiB) or on a thread (9 MiB), damage is caught the same,
// and reported to the scheduler (BlobDamaged), whose answer the error
// carries: here its copy is sound and the bytes changed on the way.
TEST_CASE("BlobTransferTest.DownloadOfDamagedBlobFailsReportsAndLeavesNoFile") {
  FakeScheduler server(FakeScheduler::Options{.corrupt_downloads = true});
  zmq::context_t context;
  auto connection = MustConnect(context, server.endpoint());
  for (size_t size : {size_t{3} << 20, size_t{9} << 20}) {
    CAPTURE(size);
    std::string data = PatternBytes(size);
    server.PutBlob(data);
    TempDir dir;
    std::string digest = HashBytes(data).ToHex();
    Status downloaded = net::DownloadBlob(*connection, digest, data.size(), dir.Path("out"));
    REQUIRE_FALSE(downloaded.ok());
    CHECK(downloaded.message().find("downloaded bytes of blob " + digest) != std::string::npos);
    CHECK(downloaded.message().find(
              "the scheduler's copy checks out, so the bytes were damaged on the way") !=
          std::string::npos);
    std::optional<protocol::Message> last = server.last_request();
    REQUIRE(last.has_value());
    auto* report = std::get_if<protocol::BlobDamaged>(&*last);
    REQUIRE(report != nullptr);
    CHECK(report->digest == digest);
    std::string damaged = data;  // as corrupt_downloads sends it: each chunk's first byte flipped
    for (size_t offset = 0; offset < size; offset += net::kTransferChunkBytes) damaged[offset] ^= 1;
    CHECK(report->actual_digest == HashBytes(damaged).ToHex());
    CHECK(server.Blob(digest).has_value());
    CHECK(std::filesystem::is_empty(dir.Path()));
  }
}

// A copy damaged at the scheduler: the report has it dropped, and the error
// says so; with a scheduler that cannot be told, the error says that.
TEST_CASE("BlobTransferTest.DownloadOfBlobDamagedAtTheSchedulerHasItDropped") {
  zmq::context_t context;
  std::string data = PatternBytes(2 << 20);
  std::string digest = HashBytes(data).ToHex();
  std::string damaged = data;
  damaged[12345] ^= 0x40;
  {
    FakeScheduler server;
    server.PutBlobAs(digest, damaged);
    auto connection = MustConnect(context, server.endpoint());
    TempDir dir;
    Status downloaded = net::DownloadBlob(*connection, digest, data.size(), dir.Path("out"));
    REQUIRE_FALSE(downloaded.ok());
    CHECK(downloaded.message().find("the scheduler's copy was damaged and is dropped") !=
          std::string::npos);
    CHECK_FALSE(server.Blob(digest).has_value());
    CHECK(std::filesystem::is_empty(dir.Path()));
  }
  {
    // An older scheduler: it does not know the report.
    FakeScheduler server(FakeScheduler::Options{.answers_blob_damaged = false});
    server.PutBlobAs(digest, damaged);
    server.SetHandler([](const protocol::Message&) -> std::optional<protocol::Message> {
      return protocol::Error{protocol::ErrorCode::kUnknownType, "unknown message type 44"};
    });
    auto connection = MustConnect(context, server.endpoint());
    TempDir dir;
    Status downloaded = net::DownloadBlob(*connection, digest, data.size(), dir.Path("out"));
    REQUIRE_FALSE(downloaded.ok());
    CHECK(downloaded.message().find("telling the scheduler failed (unknown message type 44)") !=
          std::string::npos);
    CHECK(downloaded.message().find("it has not checked its copy: retry once it answers") !=
          std::string::npos);
  }
}

TEST_CASE("BlobTransferTest.DownloadOfMissingBlobNamesTheDigest") {
  FakeScheduler server;
  zmq::context_t context;
  auto connection = MustConnect(context, server.endpoint());
  TempDir dir;
  std::string digest = HashBytes("never uploaded").ToHex();
  Status downloaded = net::DownloadBlob(*connection, digest, 14, dir.Path("out"));
  REQUIRE_FALSE(downloaded.ok());
  CHECK(downloaded.message().find("blob " + digest + " is not in the scheduler's store") !=
        std::string::npos);
  CHECK(std::filesystem::is_empty(dir.Path()));

  server.PutBlob("short");
  downloaded = net::DownloadBlob(*connection, HashBytes("short").ToHex(), 99, dir.Path("out"));
  REQUIRE_FALSE(downloaded.ok());
  CHECK(downloaded.message().find("is 5 bytes there, but 99 were expected") != std::string::npos);
}

TEST_CASE("ConnectionTest.SilentSchedulerTimesOutNamingTheEndpoint") {
  FakeScheduler server(FakeScheduler::Options{.silent = true});
  zmq::context_t context;
  auto connection = MustConnect(context, server.endpoint());
  auto started = std::chrono::steady_clock::now();
  Result<protocol::ListRunsReply> reply =
      connection->Call<protocol::ListRunsReply>(protocol::ListRuns{}, 300ms);
  REQUIRE_FALSE(reply.ok());
  CHECK(reply.error() == "no reply from the scheduler at " + server.endpoint() +
                             " after 0.3s; is receta-scheduler running? (set --scheduler or "
                             "RECETA_SCHEDULER)");
  CHECK(std::chrono::steady_clock::now() - started < 5s);

  TempDir dir;
  Status downloaded =
      net::DownloadBlob(*connection, HashBytes("x").ToHex(), 1, dir.Path("o"), 200ms);
  REQUIRE_FALSE(downloaded.ok());
  CHECK(downloaded.message().find("stalled") != std::string::npos);
  std::string path = dir.Write("f", "x");
  Status uploaded = net::UploadBlob(*connection, path, HashBytes("x").ToHex(), 1, 200ms);
  REQUIRE_FALSE(uploaded.ok());
  CHECK(uploaded.message().find("stalled") != std::string::npos);
}

TEST_CASE("ConnectionTest.NobodyListeningTimesOut") {
  zmq::context_t context;
  // A port that was free a moment ago: bind, read the port, close.
  std::string endpoint;
  {
    zmq::socket_t probe(context, zmq::socket_type::router);
    probe.bind("tcp://127.0.0.1:*");
    endpoint = probe.get(zmq::sockopt::last_endpoint);
  }
  auto connection = MustConnect(context, endpoint);
  Result<protocol::Message> reply = connection->Request(protocol::ListWorkers{}, 200ms);
  REQUIRE_FALSE(reply.ok());
  CHECK(reply.error().find("no reply from the scheduler at " + endpoint) == 0);
}

TEST_CASE("ConnectionTest.ErrorRepliesAndWrongRepliesBecomeErrors") {
  FakeScheduler server;
  server.SetHandler([](const protocol::Message& request) -> std::optional<protocol::Message> {
    if (std::holds_alternative<protocol::RunStatus>(request)) {
      return protocol::Error{protocol::ErrorCode::kNotFound, "run r-9 not found"};
    }
    return protocol::CancelReply{"r-1", 2};
  });
  zmq::context_t context;
  auto connection = MustConnect(context, server.endpoint());
  Result<protocol::RunStatusReply> status =
      connection->Call<protocol::RunStatusReply>(protocol::RunStatus{"r-9", std::nullopt}, 2s);
  CHECK(status.error() == "run r-9 not found");
  Result<protocol::ListRunsReply> runs =
      connection->Call<protocol::ListRunsReply>(protocol::ListRuns{}, 2s);
  CHECK(runs.error() == "unexpected reply CancelReply to ListRuns (wanted ListRunsReply)");
  Result<protocol::CancelReply> cancel =
      connection->Call<protocol::CancelReply>(protocol::Cancel{"r-1", "test"}, 2s);
  REQUIRE(cancel.ok());
  CHECK(cancel->cancelled_steps == 2);
}

TEST_CASE("ConnectionTest.GarbageFromThePeerIsAnError") {
  FakeScheduler server(FakeScheduler::Options{.garbage_replies = true});
  zmq::context_t context;
  auto connection = MustConnect(context, server.endpoint());
  Result<protocol::Message> reply = connection->Request(protocol::BlobQuery{}, 2s);
  REQUIRE_FALSE(reply.ok());
  CHECK(reply.error().find("undecodable message from " + server.endpoint()) == 0);
}

TEST_CASE("EndpointTest.ConnectRefusesMalformedEndpoints") {
  zmq::context_t context;
  for (const char* bad : {"", "localhost:7700", "tcp://127.0.0.1", "tcp://:7700",
                          "tcp://127.0.0.1:http", "tcp://127.0.0.1:0", "tcp://127.0.0.1:70000",
                          "tcp://127.0.0.1:*", "udp://1.2.3.4:5", "ipc://"}) {
    CAPTURE(bad);
    Result<std::unique_ptr<net::Connection>> connection = net::Connection::Connect(context, bad);
    REQUIRE_FALSE(connection.ok());
    CHECK(connection.error().find(std::string("bad scheduler endpoint '") + bad + "'") == 0);
    CHECK(connection.error().find("expected tcp://HOST:PORT") != std::string::npos);
  }
  CHECK(net::CheckEndpoint("tcp://127.0.0.1:7700").ok());
  CHECK(net::CheckEndpoint("tcp://sched.lab:1").ok());
  CHECK(net::CheckEndpoint("ipc:///tmp/receta.sock").ok());
}

TEST_CASE("EndpointTest.FlagThenEnvThenFileThenDefault") {
  TempDir dir;
  std::string old_cwd = std::filesystem::current_path().string();
  std::filesystem::current_path(dir.Path());
  const char* old_env = getenv("RECETA_SCHEDULER");
  std::string saved_env = old_env ? old_env : "";
  unsetenv("RECETA_SCHEDULER");

  CHECK(net::ResolveSchedulerEndpoint("") == "tcp://127.0.0.1:7700");
  std::filesystem::create_directory(".receta");
  testing::WriteFile(".receta/scheduler.endpoint", "tcp://127.0.0.1:41234\n");
  CHECK(net::ResolveSchedulerEndpoint("") == "tcp://127.0.0.1:41234");
  testing::WriteFile(".receta/scheduler.endpoint", "  \n");
  CHECK(net::ResolveSchedulerEndpoint("") == "tcp://127.0.0.1:7700");
  testing::WriteFile(".receta/scheduler.endpoint", "tcp://127.0.0.1:41234\n");
  setenv("RECETA_SCHEDULER", "tcp://env:1", 1);
  CHECK(net::ResolveSchedulerEndpoint("") == "tcp://env:1");
  setenv("RECETA_SCHEDULER", "", 1);
  CHECK(net::ResolveSchedulerEndpoint("") == "tcp://127.0.0.1:41234");
  setenv("RECETA_SCHEDULER", "tcp://env:1", 1);
  CHECK(net::ResolveSchedulerEndpoint(" tcp://flag:2 ") == "tcp://flag:2");

  std::filesystem::current_path(old_cwd);
  if (old_env) {
    setenv("RECETA_SCHEDULER", saved_env.c_str(), 1);
  } else {
    unsetenv("RECETA_SCHEDULER");
  }
}
