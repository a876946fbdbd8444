// scheduler/server: what leaves a turn, and in which order, seen by a fake
// worker and a fake CLI on real DEALER sockets against an in-process Server
// (RocksDB in a temp dir, 127.0.0.1, an ephemeral port).
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "common/hash/sha256.h"
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
  explicit RunningServer(const std::string& data_dir) {
    scheduler::ServerOptions options;
    options.data_dir = data_dir;
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

}  // namespace

TEST_CASE("ServerTurnTest.NextStepIsDispatchedBeforeTheResultIsAcknowledged") {
  // The fsync of a step's result overlaps its successor's dispatch: the
  // worker holds the result until AttemptFinishedAck (and re-sends it after
  // a scheduler restart), so the Dispatch need not wait for the disk. The
  // ack still does: it is the scheduler's promise that the result is kept.
  TempDir dir;
  RunningServer server(dir.Path("scheduler"));
  zmq::context_t context(1);
  std::unique_ptr<net::Connection> worker = MustConnect(context, server.endpoint());
  std::unique_ptr<net::Connection> cli = MustConnect(context, server.endpoint());

  protocol::Register hello;
  hello.worker_id = "0123456789abcdef";
  hello.name = "w1";
  hello.hostname = "test";
  hello.slots = 1;
  hello.cpus = 1;
  hello.os = "linux-x86_64";
  hello.receta_version = "0.1.0";
  Result<protocol::RegisterAck> registered = worker->Call<protocol::RegisterAck>(hello, 10s);
  REQUIRE_MESSAGE(registered.ok(), registered.error());

  protocol::SubmitRun submit;
  submit.dag_yaml = kChainDag;
  submit.dag_file = "dag.yaml";
  Result<protocol::SubmitReply> submitted = cli->Call<protocol::SubmitReply>(submit, 10s);
  REQUIRE_MESSAGE(submitted.ok(), submitted.error());

  protocol::Dispatch make = Expect<protocol::Dispatch>(NextMessage(*worker));
  CHECK(make.step == "make");
  const std::string made = "made\n";
  const std::string digest = HashBytes(made).ToHex();
  protocol::AttemptFinished finished;
  finished.attempt_id = make.attempt_id;
  finished.exit_code = 0;
  finished.outputs = {{"made.txt", digest, made.size(), false}};
  finished.inline_blobs = std::vector<protocol::InlineBlob>{{digest, made}};
  finished.log_bytes = 0;
  REQUIRE(worker->Send(finished, worker->NextRequestId()).ok());

  protocol::Message first = NextMessage(*worker);
  protocol::Message second = NextMessage(*worker);
  protocol::Dispatch use = Expect<protocol::Dispatch>(first);
  CHECK(use.step == "use");
  REQUIRE(use.inputs.size() == 1);
  CHECK(use.inputs[0].digest == digest);
  CHECK(Expect<protocol::AttemptFinishedAck>(second).attempt_id == make.attempt_id);
}
