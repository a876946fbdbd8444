// scheduler/server: what leaves a turn, and in which order, seen by a fake
// worker and a fake CLI on real DEALER sockets against an in-process Server
// (RocksDB in a temp dir, 127.0.0.1, an ephemeral port).
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/hash/sha256.h"
#include "common/json/json_value.h"
#include "net/blob_transfer.h"
#include "net/connection.h"
#include "scheduler/server.h"
#include "tests/unit/test_files.h"

using namespace receta;
using namespace std::chrono_literals;
using receta::testing::TempDir;

namespace {

// A Server serving in a thread until the fixture ends.
class RunningServer {
 public:
  explicit RunningServer(const std::string& data_dir, bool speculate = true) {
    scheduler::ServerOptions options;
    options.data_dir = data_dir;
    options.core.speculative_dispatch = speculate;
    options.listen = "tcp://127.0.0.1:*";
    Result<std::unique_ptr<scheduler::Server>> opened = scheduler::Server::Open(options);
    REQUIRE_MESSAGE(opened.ok(), opened.error());
    server_ = std::move(*opened);
    thread_ = std::thread([this] { served_ = server_->Serve(stop_); });
  }
  ~RunningServer() {
    stop_ = true;
    thread_.join();
    CHECK_MESSAGE(served_.ok(), served_.message());
  }
  const std::string& endpoint() const { return server_->endpoint(); }

 private:
  std::unique_ptr<scheduler::Server> server_;
  std::atomic<bool> stop_{false};
  Status served_ = Status::Ok();
  std::thread thread_;
};

std::unique_ptr<net::Connection> MustConnect(zmq::context_t& context, const std::string& endpoint) {
  Result<std::unique_ptr<net::Connection>> connection = net::Connection::Connect(context, endpoint);
  REQUIRE_MESSAGE(connection.ok(), connection.error());
  return std::move(*connection);
}

// The next message from the scheduler that is not a Heartbeat.
protocol::Message NextMessage(net::Connection& connection) {
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    Result<std::optional<net::Received>> received = connection.Receive(1s);
    REQUIRE_MESSAGE(received.ok(), received.error());
    if (!*received) continue;
    if (std::holds_alternative<protocol::Heartbeat>((*received)->envelope.message)) continue;
    return (*received)->envelope.message;
  }
  FAIL("no message from the scheduler within 10 s");
  return protocol::Heartbeat{};
}

template <typename T>
T Expect(const protocol::Message& message) {
  const T* typed = std::get_if<T>(&message);
  REQUIRE_MESSAGE(typed != nullptr, "got " << protocol::NameOf(message) << ", wanted " << T::kName);
  return *typed;
}

constexpr const char* kChainDag = R"(name: two-step-chain
steps:
  make:
    run: echo made > made.txt
    outputs: [made.txt]
  use:
    run: cat made.txt > used.txt
    inputs: [made.txt]
    outputs: [used.txt]
)";

// Registers a worker with `slots` slots on `connection`.
void RegisterWorker(net::Connection& connection, uint32_t slots) {
  protocol::Register hello;
  hello.worker_id = "0123456789abcdef";
  hello.name = "w1";
  hello.hostname = "test";
  hello.slots = slots;
  hello.cpus = slots;
  hello.os = "linux-x86_64";
  hello.receta_version = "0.1.0";
  hello.features = std::vector<std::string>{std::string(protocol::kFeatureAfterAttempt)};
  Result<protocol::RegisterAck> registered = connection.Call<protocol::RegisterAck>(hello, 10s);
  REQUIRE_MESSAGE(registered.ok(), registered.error());
}


// A server in a temp dir, a worker of `slots` slots registered with it and
// a CLI connection.
struct ServerAndWorker {
  TempDir dir;
  RunningServer server;
  zmq::context_t context{1};
  std::unique_ptr<net::Connection> worker = MustConnect(context, server.endpoint());
  std::unique_ptr<net::Connection> cli = MustConnect(context, server.endpoint());
  explicit ServerAndWorker(bool speculate = true, uint32_t slots = 1)
      : server(dir.Path("scheduler"), speculate) {
    RegisterWorker(*worker, slots);
  }
};

std::string SubmitDag(net::Connection& cli, const std::string& yaml) {
  protocol::SubmitRun submit;
  submit.dag_yaml = yaml;
  submit.dag_file = "dag.yaml";
  Result<protocol::SubmitReply> submitted = cli.Call<protocol::SubmitReply>(submit, 10s);
  REQUIRE_MESSAGE(submitted.ok(), submitted.error());
  return submitted->run_id;
}

JsonValue RunDocument(net::Connection& cli, const std::string& run_id) {
  protocol::RunStatus ask;
  ask.run_id = run_id;
  Result<protocol::RunStatusReply> status = cli.Call<protocol::RunStatusReply>(ask, 10s);
  REQUIRE_MESSAGE(status.ok(), status.error());
  Result<JsonValue> document = ParseJson(status->run_json);
  REQUIRE_MESSAGE(document.ok(), document.error());
  return std::move(*document);
}

// A step's successful result: one output, sent inline.
protocol::AttemptFinished MadeOneFile(const std::string& attempt_id, const std::string& path,
                                      const std::string& bytes) {
  const std::string digest = HashBytes(bytes).ToHex();
  protocol::AttemptFinished finished;
  finished.attempt_id = attempt_id;
  finished.exit_code = 0;
  finished.outputs = {{path, digest, bytes.size(), false}};
  finished.inline_blobs = std::vector<protocol::InlineBlob>{{digest, bytes}};
  finished.log_bytes = 0;
  return finished;
}

}  // namespace

TEST_CASE("ServerTurnTest.NextStepIsDispatchedBeforeTheResultIsAcknowledged") {
  // The fsync of a step's result overlaps its successor's dispatch: the
  // worker holds the result until AttemptFinishedAck (and re-sends it after
  // a scheduler restart), so the Dispatch need not wait for the disk. The
  // ack still does: it is the scheduler's promise that the result is kept.
  ServerAndWorker fx(/*speculate=*/false);
  net::Connection* worker = fx.worker.get();
  SubmitDag(*fx.cli, kChainDag);

  protocol::Dispatch make = Expect<protocol::Dispatch>(NextMessage(*worker));
  CHECK(make.step == "make");
  const std::string digest = HashBytes("made\n").ToHex();
  REQUIRE(worker->Send(MadeOneFile(make.attempt_id, "made.txt", "made\n"), worker->NextRequestId())
              .ok());

  protocol::Message first = NextMessage(*worker);
  protocol::Message second = NextMessage(*worker);
  protocol::Dispatch use = Expect<protocol::Dispatch>(first);
  CHECK(use.step == "use");
  REQUIRE(use.inputs.size() == 1);
  CHECK(use.inputs[0].digest == digest);
  CHECK(Expect<protocol::AttemptFinishedAck>(second).attempt_id == make.attempt_id);
}

TEST_CASE("ServerTurnTest.AChainsNextStepIsSentAheadToStartWhenItsUpstreamSucceeds") {
  // Speculative dispatch: while `make` runs, `use` (which waits on it
  // alone and has never been cached) is sent to the same worker with
  // after_attempt and its input named by path; when make's result arrives
  // no second Dispatch goes out, and `use` counts as dispatched there.
  ServerAndWorker fx;
  net::Connection* worker = fx.worker.get();
  net::Connection* cli = fx.cli.get();
  std::string run = SubmitDag(*cli, kChainDag);

  protocol::Dispatch make = Expect<protocol::Dispatch>(NextMessage(*worker));
  CHECK(make.step == "make");
  CHECK_FALSE(make.after_attempt.has_value());
  protocol::Dispatch use = Expect<protocol::Dispatch>(NextMessage(*worker));
  CHECK(use.step == "use");
  CHECK(use.after_attempt == make.attempt_id);
  REQUIRE(use.inputs.size() == 1);
  CHECK(use.inputs[0].path == "made.txt");
  CHECK(use.inputs[0].kind == protocol::kInputKindUpstream);
  CHECK(use.inputs[0].digest.empty());
  CHECK_FALSE(use.inline_blobs.has_value());

  REQUIRE(worker->Send(MadeOneFile(make.attempt_id, "made.txt", "made\n"), worker->NextRequestId())
              .ok());
  CHECK(Expect<protocol::AttemptFinishedAck>(NextMessage(*worker)).attempt_id == make.attempt_id);
  JsonValue after_make = RunDocument(*cli, run);
  const JsonValue& use_step = after_make["steps"].Items()[1];
  CHECK(use_step["name"].AsString() == "use");
  CHECK(use_step["state"].AsString() == "dispatched");
  CHECK(use_step["attempts"].AsInt() == 1);
  CHECK(use_step["worker"].AsString() == "w1");

  REQUIRE(worker->Send(MadeOneFile(use.attempt_id, "used.txt", "made\n"), worker->NextRequestId())
              .ok());
  CHECK(Expect<protocol::AttemptFinishedAck>(NextMessage(*worker)).attempt_id == use.attempt_id);
  CHECK(RunDocument(*cli, run)["state"].AsString() == "succeeded");
}

namespace {

constexpr const char* kReadsInputDag = R"(name: reads-input
steps:
  count:
    run: wc -c < in.txt > n.txt
    inputs: [in.txt]
    outputs: [n.txt]
)";

protocol::SubmitRun SubmitWithInlineInput(const std::string& sent_bytes) {
  const std::string bytes = "a,b\n1,2\n";
  protocol::SubmitRun submit;
  submit.dag_yaml = kReadsInputDag;
  submit.dag_file = "dag.yaml";
  submit.workspace = {{"in.txt", HashBytes(bytes).ToHex(), bytes.size(), false}};
  submit.inline_blobs = std::vector<protocol::InlineBlob>{{HashBytes(bytes).ToHex(), sent_bytes}};
  return submit;
}

}  // namespace

TEST_CASE("ServerTurnTest.WorkspaceFilesSentInlineWithTheSubmitAreKeptAndReachTheWorker") {
  ServerAndWorker fx;
  net::Connection* worker = fx.worker.get();
  net::Connection* cli = fx.cli.get();

  // No upload before: the bytes come with the request.
  protocol::SubmitRun submit = SubmitWithInlineInput("a,b\n1,2\n");
  Result<protocol::SubmitReply> submitted = cli->Call<protocol::SubmitReply>(submit, 10s);
  REQUIRE_MESSAGE(submitted.ok(), submitted.error());

  Result<protocol::BlobMissing> missing =
      cli->Call<protocol::BlobMissing>(protocol::BlobQuery{{submit.workspace[0].digest}}, 10s);
  REQUIRE_MESSAGE(missing.ok(), missing.error());
  CHECK(missing->digests.empty());
  protocol::Dispatch count = Expect<protocol::Dispatch>(NextMessage(*worker));
  REQUIRE(count.inputs.size() == 1);
  CHECK(count.inputs[0].digest == submit.workspace[0].digest);
  REQUIRE(count.inline_blobs.has_value());
  CHECK(count.inline_blobs->at(0).data == "a,b\n1,2\n");
}

TEST_CASE("ServerTurnTest.AWorkspaceFileSentInlineWithWrongBytesIsRefusedAndNoRunStarts") {
  TempDir dir;
  RunningServer server(dir.Path("scheduler"));
  zmq::context_t context(1);
  std::unique_ptr<net::Connection> cli = MustConnect(context, server.endpoint());

  // Same size, other bytes (corrupted on the way, or a file changed while
  // it was read): validation passes, the digest check does not.
  protocol::SubmitRun submit = SubmitWithInlineInput("a,b\n9,9\n");
  Result<protocol::SubmitReply> submitted = cli->Call<protocol::SubmitReply>(submit, 10s);
  REQUIRE_FALSE(submitted.ok());
  CHECK_MESSAGE(
      submitted.error().find("workspace file 'in.txt' (sha256 " + submit.workspace[0].digest +
                             ") sent inline was not stored") != std::string::npos,
      submitted.error());
  Result<protocol::BlobMissing> missing =
      cli->Call<protocol::BlobMissing>(protocol::BlobQuery{{submit.workspace[0].digest}}, 10s);
  REQUIRE_MESSAGE(missing.ok(), missing.error());
  CHECK(missing->digests.size() == 1);
  protocol::ListRuns list;
  Result<protocol::ListRunsReply> runs = cli->Call<protocol::ListRunsReply>(list, 10s);
  REQUIRE_MESSAGE(runs.ok(), runs.error());
  CHECK(runs->runs_json == "[]");
}

TEST_CASE("ServerTurnTest.ResultsArrivingTogetherShareASyncAndAreAllAcknowledgedAndKept") {
  // Group commit: the results of several turns wait for one fsync, and
  // each is acknowledged once it is durable; a restart keeps them all.
  constexpr const char* kTwoStepsDag = R"(name: two-at-once
steps:
  a:
    run: echo a > a.txt
    outputs: [a.txt]
  b:
    run: echo b > b.txt
    outputs: [b.txt]
)";
  TempDir dir;
  std::string run;
  {
    RunningServer server(dir.Path("scheduler"));
    zmq::context_t context(1);
    std::unique_ptr<net::Connection> worker = MustConnect(context, server.endpoint());
    std::unique_ptr<net::Connection> cli = MustConnect(context, server.endpoint());
    RegisterWorker(*worker, 2);
    run = SubmitDag(*cli, kTwoStepsDag);
    protocol::Dispatch first = Expect<protocol::Dispatch>(NextMessage(*worker));
    protocol::Dispatch second = Expect<protocol::Dispatch>(NextMessage(*worker));
    for (const protocol::Dispatch* d : {&first, &second}) {
      std::string bytes = d->step + "\n";
      REQUIRE(
          worker->Send(MadeOneFile(d->attempt_id, d->step + ".txt", bytes), worker->NextRequestId())
              .ok());
    }
    std::set<std::string> acked;
    while (acked.size() < 2) {
      protocol::Message message = NextMessage(*worker);
      if (auto* ack = std::get_if<protocol::AttemptFinishedAck>(&message))
        acked.insert(ack->attempt_id);
    }
    CHECK(acked == std::set<std::string>{first.attempt_id, second.attempt_id});
  }
  RunningServer reopened(dir.Path("scheduler"));
  zmq::context_t context(1);
  std::unique_ptr<net::Connection> cli = MustConnect(context, reopened.endpoint());
  JsonValue document = RunDocument(*cli, run);
  CHECK(document["state"].AsString() == "succeeded");
  for (const JsonValue& step : document["steps"].Items())
    CHECK(step["state"].AsString() == "succeeded");
}

TEST_CASE("ServerTurnTest.ABlobReportedDamagedIsHashedAndDroppedOnlyWhenItIsDamaged") {
  // The scheduler serves blob chunks as they are on disk; its readers
  // verify them and report damage. It believes a report only after hashing
  // its own copy.
  TempDir dir;
  RunningServer server(dir.Path("scheduler"));
  zmq::context_t context(1);
  std::unique_ptr<net::Connection> cli = MustConnect(context, server.endpoint());
  const std::string data(100 << 10, 'q');  // past the small-blob tier: a CAS file
  const std::string digest = HashBytes(data).ToHex();
  const std::string other = HashBytes("something else").ToHex();
  dir.Write("blob", data);
  Status uploaded = net::UploadBlob(*cli, dir.Path("blob"), digest, data.size());
  REQUIRE_MESSAGE(uploaded.ok(), uploaded.message());
  auto held = [&] {
    Result<protocol::BlobMissing> missing =
        cli->Call<protocol::BlobMissing>(protocol::BlobQuery{{digest}}, 10s);
    REQUIRE_MESSAGE(missing.ok(), missing.error());
    return missing->digests.empty();
  };

  // A sound copy: the damage was elsewhere, the blob stays.
  Result<protocol::BlobDamagedReply> reply =
      cli->Call<protocol::BlobDamagedReply>(protocol::BlobDamaged{digest, other}, 10s);
  REQUIRE_MESSAGE(reply.ok(), reply.error());
  CHECK_FALSE(reply->dropped);
  CHECK(held());

  // One byte flipped on disk: dropped, and no longer served.
  const std::string path = dir.Path("scheduler") + "/cas/" + digest.substr(0, 2) + "/" + digest;
  REQUIRE(std::filesystem::exists(path));
  std::filesystem::permissions(path, std::filesystem::perms::owner_write,
                               std::filesystem::perm_options::add);
  {
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(5000);
    file.put('Q');
  }
  reply = cli->Call<protocol::BlobDamagedReply>(protocol::BlobDamaged{digest, other}, 10s);
  REQUIRE_MESSAGE(reply.ok(), reply.error());
  CHECK(reply->dropped);
  CHECK_FALSE(held());
  CHECK_FALSE(std::filesystem::exists(path));
  Result<protocol::Message> get = cli->Request(protocol::BlobGet{digest, 0, 4096}, 10s);
  REQUIRE_FALSE(get.ok());
  CHECK(get.error().find("not in the scheduler's CAS") != std::string::npos);

  // Told again: nothing left to drop, and said so.
  reply = cli->Call<protocol::BlobDamagedReply>(protocol::BlobDamaged{digest, other}, 10s);
  REQUIRE_MESSAGE(reply.ok(), reply.error());
  CHECK(reply->dropped);

  // A report that names no digest is refused, naming the field.
  Result<protocol::Message> bad =
      cli->Request(protocol::BlobDamaged{"../../etc/passwd", other}, 10s);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().find("BlobDamaged: digest") != std::string::npos);
}
