// The agent against a fake scheduler: a ROUTER socket in the test speaks the
// worker session (Register, Dispatch, AttemptStarted, LogChunk,
// AttemptFinished, Ack) and serves blobs, while the real Agent runs in a
// thread with real processes.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <thread>

#include <zmq.hpp>

#include "common/hash/sha256.h"
#include "common/protocol/codec.h"
#include "test_files.h"
#include "worker/agent.h"

using receta::testing::ReadFile;
using receta::testing::TempDir;
namespace protocol = receta::protocol;
using namespace receta::worker;

namespace {

struct FromWorker {
  std::string identity;
  uint64_t request_id = 0;
  protocol::Message message;
  std::string blob;
};

class FakeScheduler {
 public:
  FakeScheduler() : router_(context_, zmq::socket_type::router) {
    router_.set(zmq::sockopt::linger, 0);
    router_.bind("tcp://127.0.0.1:*");
    endpoint_ = router_.get(zmq::sockopt::last_endpoint);
  }
  const std::string& endpoint() const { return endpoint_; }

  // The next message from any peer, within `timeout_ms`.
  std::optional<FromWorker> Receive(int timeout_ms = 5000) {
    std::vector<zmq::pollitem_t> items = {{static_cast<void*>(router_), 0, ZMQ_POLLIN, 0}};
    zmq::poll(items, std::chrono::milliseconds(timeout_ms));
    if (!(items[0].revents & ZMQ_POLLIN)) return std::nullopt;
    std::vector<zmq::message_t> parts;
    while (true) {
      zmq::message_t part;
      (void)router_.recv(part);
      parts.push_back(std::move(part));
      if (!router_.get(zmq::sockopt::rcvmore)) break;
    }
    REQUIRE(parts.size() >= 3);
    auto envelope = protocol::Decode(parts[2].to_string_view());
    REQUIRE_MESSAGE(envelope.ok(), envelope.error());
    FromWorker from{parts[0].to_string(), envelope->request_id, envelope->message, ""};
    if (parts.size() > 3) from.blob = parts[3].to_string();
    return from;
  }

  // The next message of type T, answering blob traffic on the way.
  template <typename T>
  std::optional<std::pair<FromWorker, T>> Expect(int timeout_ms = 5000) {
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < end) {
      std::optional<FromWorker> from = Receive(timeout_ms);
      if (!from) return std::nullopt;
      if (T* typed = std::get_if<T>(&from->message)) return std::pair{*from, *typed};
      ServeBlobs(*from);
    }
    return std::nullopt;
  }

  void Send(const std::string& identity, const protocol::Message& message, uint64_t request_id,
            const std::string* blob = nullptr) {
    auto header = protocol::Encode(message, request_id);
    REQUIRE(header.ok());
    router_.send(zmq::buffer(identity), zmq::send_flags::sndmore);
    router_.send(zmq::message_t(), zmq::send_flags::sndmore);
    router_.send(zmq::buffer(*header), blob ? zmq::send_flags::sndmore : zmq::send_flags::none);
    if (blob) router_.send(zmq::buffer(*blob), zmq::send_flags::none);
  }

  std::string served_blob;  // what BlobGet reads
  std::vector<std::string> queried;

 private:
  void ServeBlobs(const FromWorker& from) {
    if (auto* get = std::get_if<protocol::BlobGet>(&from.message)) {
      std::string chunk = served_blob.substr(get->offset, get->length);
      Send(from.identity,
           protocol::BlobGetChunk{get->digest, get->offset, chunk.size(), served_blob.size()},
           from.request_id, &chunk);
    } else if (auto* query = std::get_if<protocol::BlobQuery>(&from.message)) {
      queried.insert(queried.end(), query->digests.begin(), query->digests.end());
      Send(from.identity, protocol::BlobMissing{}, from.request_id);  // has them all
    } else if (auto* begin = std::get_if<protocol::BlobPutBegin>(&from.message)) {
      queried.push_back(begin->digest);
      Send(from.identity, protocol::BlobPutDone{begin->digest, begin->size_bytes},
           from.request_id);  // has it already
    }
  }

  zmq::context_t context_;
  zmq::socket_t router_;
  std::string endpoint_;
};

struct RunningAgent {
  int stop_fd = eventfd(0, EFD_CLOEXEC);
  std::unique_ptr<Agent> agent;
  std::thread thread;
  int exit_code = -1;
  void Start(AgentOptions options) {
    auto created = Agent::Create(std::move(options));
    REQUIRE_MESSAGE(created.ok(), created.error());
    agent = std::move(*created);
    thread = std::thread([this] { exit_code = agent->Run(stop_fd); });
  }
  void Stop() {
    uint64_t one = 1;
    REQUIRE(write(stop_fd, &one, sizeof(one)) == sizeof(one));
    thread.join();
  }
  ~RunningAgent() {
    if (thread.joinable()) Stop();
    close(stop_fd);
  }
};

}  // namespace

TEST_CASE("AgentTest.RegisterDispatchStreamFinishAck") {
  TempDir dir;
  FakeScheduler scheduler;
  RunningAgent worker;
  AgentOptions options;
  options.scheduler_endpoint = scheduler.endpoint();
  options.work_dir = dir.Path("work");
  options.slots = 2;
  options.labels = {"gpu", "big"};
  options.name = "w1";
  worker.Start(options);

  auto reg = scheduler.Expect<protocol::Register>();
  REQUIRE(reg);
  const protocol::Register& r = reg->second;
  CHECK(r.worker_id.size() == 16);
  CHECK(r.worker_id == ReadFile(dir.Path("work/worker_id")).substr(0, 16));
  CHECK(r.name == "w1");
  CHECK(r.labels == std::vector<std::string>{"gpu", "big"});
  CHECK(r.slots == 2);
  CHECK(r.cpus > 0);
  CHECK(r.memory_bytes > 0);
  CHECK(r.os.rfind("linux-", 0) == 0);
  std::string peer = reg->first.identity;
  scheduler.Send(peer, protocol::RegisterAck{r.worker_id, 1000, 5, {}, "test"},
                 reg->first.request_id);

  scheduler.served_blob = "1,2,3\n";
  std::string input_digest = receta::HashBytes(scheduler.served_blob).ToHex();
  protocol::Dispatch d;
  d.run_id = "run1";
  d.step = "train";
  d.attempt_id = "run1.0-3";
  d.command = "echo out-$RECETA_STEP-$RECETA_ATTEMPT; echo err >&2; cat data/in.csv > model/m.txt";
  d.inputs = {{"data/in.csv", input_digest, "file", scheduler.served_blob.size(), std::nullopt}};
  d.outputs = {"model/m.txt"};
  scheduler.Send(peer, d, 0);

  auto started = scheduler.Expect<protocol::AttemptStarted>();
  REQUIRE(started);
  CHECK(started->second.attempt_id == "run1.0-3");
  CHECK(started->second.pid > 0);

  std::string out, err;
  std::optional<protocol::AttemptFinished> finished;
  uint64_t finished_request = 0;
  while (!finished) {
    auto from = scheduler.Receive();
    REQUIRE(from);
    if (auto* log = std::get_if<protocol::LogChunk>(&from->message)) {
      (log->stream == "stdout" ? out : err) += log->data;
    } else if (auto* f = std::get_if<protocol::AttemptFinished>(&from->message)) {
      finished = *f;
      finished_request = from->request_id;
    } else if (auto* q = std::get_if<protocol::BlobQuery>(&from->message)) {
      scheduler.queried = q->digests;
      scheduler.Send(from->identity, protocol::BlobMissing{}, from->request_id);
    } else if (auto* b = std::get_if<protocol::BlobPutBegin>(&from->message)) {
      scheduler.queried = {b->digest};
      scheduler.Send(from->identity, protocol::BlobPutDone{b->digest, b->size_bytes},
                     from->request_id);
    }
  }
  CHECK(out == "out-train-3\n");
  CHECK(err == "err\n");
  CHECK(finished->exit_code == 0);
  CHECK(finished->error == "");
  REQUIRE(finished->outputs.size() == 1);
  CHECK(finished->outputs[0].path == "model/m.txt");
  CHECK(finished->outputs[0].digest == input_digest);
  // A small output travels inside AttemptFinished: no query, no upload.
  CHECK(scheduler.queried.empty());
  REQUIRE(finished->inline_blobs.has_value());
  REQUIRE(finished->inline_blobs->size() == 1);
  CHECK(finished->inline_blobs->at(0).digest == input_digest);
  CHECK(finished->inline_blobs->at(0).data == scheduler.served_blob);
  CHECK(finished_request != 0);

  // Unacknowledged, it comes again; the ack ends that.
  auto again = scheduler.Expect<protocol::AttemptFinished>(6000);
  REQUIRE(again);
  CHECK(again->second.attempt_id == "run1.0-3");
  scheduler.Send(peer, protocol::AttemptFinishedAck{"run1.0-3"}, again->first.request_id);

  // The sandbox is gone after success; the fetched input stays in the cache.
  CHECK_FALSE(std::filesystem::exists(dir.Path("work/sandboxes/run1.0-3")));
  CHECK(std::filesystem::exists(dir.Path("work/cas/" + input_digest.substr(0, 2) + "/" +
                                         input_digest)));
  worker.Stop();
  CHECK(worker.exit_code == 0);
}

TEST_CASE("AgentTest.MissingOutputKillAndReRegister") {
  TempDir dir;
  FakeScheduler scheduler;
  RunningAgent worker;
  AgentOptions options;
  options.scheduler_endpoint = scheduler.endpoint();
  options.work_dir = dir.Path("work");
  worker.Start(options);
  auto reg = scheduler.Expect<protocol::Register>();
  REQUIRE(reg);
  std::string worker_id = reg->second.worker_id;
  std::string identity = reg->first.identity;
  scheduler.Send(identity, protocol::RegisterAck{worker_id, 1000, 5, {}, "test"},
                 reg->first.request_id);

  protocol::Dispatch d;
  d.run_id = "r";
  d.step = "s";
  d.attempt_id = "r.0-1";
  d.command = "true";
  d.outputs = {"model/model.pkl"};
  scheduler.Send(identity, d, 0);
  auto finished = scheduler.Expect<protocol::AttemptFinished>();
  REQUIRE(finished);
  CHECK(finished->second.error ==
        "declared output 'model/model.pkl' was not created by the step");
  CHECK(std::filesystem::exists(dir.Path("work/failed/r.0-1")));
  scheduler.Send(identity, protocol::AttemptFinishedAck{"r.0-1"}, finished->first.request_id);

  d.attempt_id = "r.0-2";
  d.command = "sleep 1000";
  d.outputs = {};
  scheduler.Send(identity, d, 0);
  REQUIRE(scheduler.Expect<protocol::AttemptStarted>());
  scheduler.Send(identity, protocol::KillAttempt{"r.0-2", "cancelled", 100}, 0);
  auto killed = scheduler.Expect<protocol::AttemptFinished>();
  REQUIRE(killed);
  CHECK(killed->second.exit_code == -1);
  CHECK(killed->second.signal == SIGTERM);
  CHECK(killed->second.error.find("cancelled") != std::string::npos);

  // A scheduler that forgot the worker says so; the worker registers again
  // and then resends the unacknowledged AttemptFinished.
  scheduler.Send(identity,
                 protocol::Error{protocol::ErrorCode::kNotFound, "worker is not registered"}, 0);
  auto again = scheduler.Expect<protocol::Register>();
  REQUIRE(again);
  CHECK(again->second.worker_id == worker_id);
  scheduler.Send(again->first.identity, protocol::RegisterAck{worker_id, 1000, 5, {}, "test"},
                 again->first.request_id);
  auto resent = scheduler.Expect<protocol::AttemptFinished>();
  REQUIRE(resent);
  CHECK(resent->second.attempt_id == "r.0-2");
  worker.Stop();
}

namespace {

// Registers a one-slot worker with the fake scheduler; returns its identity.
std::string RegisterOneSlot(FakeScheduler& scheduler, RunningAgent& worker, TempDir& dir) {
  AgentOptions options;
  options.scheduler_endpoint = scheduler.endpoint();
  options.work_dir = dir.Path("work");
  options.slots = 1;
  worker.Start(options);
  auto reg = scheduler.Expect<protocol::Register>();
  REQUIRE(reg);
  scheduler.Send(reg->first.identity,
                 protocol::RegisterAck{reg->second.worker_id, 1000, 5, {}, "test"},
                 reg->first.request_id);
  return reg->first.identity;
}

// A step that runs until `gate` exists (no sleeps in the test itself).
protocol::Dispatch GatedDispatch(const std::string& attempt_id, const std::string& gate) {
  protocol::Dispatch d;
  d.run_id = "r";
  d.step = "s";
  d.attempt_id = attempt_id;
  d.command = "while [ ! -e '" + gate + "' ]; do sleep 0.01; done";
  return d;
}

}  // namespace

TEST_CASE("AgentTest.PreparesOneDispatchAheadQueuesTheRestAndStartsThemAsSlotsFree") {
  TempDir dir;
  FakeScheduler scheduler;
  RunningAgent worker;
  std::string identity = RegisterOneSlot(scheduler, worker, dir);
  std::string gate = dir.Path("go");

  scheduler.Send(identity, GatedDispatch("r.0-1", gate), 0);
  auto first = scheduler.Expect<protocol::AttemptStarted>();
  REQUIRE(first);
  CHECK(first->second.attempt_id == "r.0-1");
  protocol::Dispatch second = GatedDispatch("r.1-1", gate);
  second.command = "echo second";  // output: it reports its start however fast it is
  scheduler.Send(identity, second, 0);
  protocol::Dispatch third = second;
  third.attempt_id = "r.2-1";
  scheduler.Send(identity, third, 0);

  // With its one slot busy, the worker holds both without running them, and
  // says it holds them: r.1-1 prepared (its sandbox is there), r.2-1 queued.
  bool held_reported = false;
  while (!held_reported) {
    auto from = scheduler.Receive(3000);
    REQUIRE(from);
    REQUIRE_FALSE(std::holds_alternative<protocol::AttemptStarted>(from->message));
    auto* heartbeat = std::get_if<protocol::Heartbeat>(&from->message);
    if (heartbeat == nullptr) continue;
    CHECK(heartbeat->free_slots == 0);
    const auto& ids = heartbeat->running_attempt_ids;
    held_reported = std::find(ids.begin(), ids.end(), "r.1-1") != ids.end() &&
                    std::find(ids.begin(), ids.end(), "r.2-1") != ids.end();
  }
  CHECK(std::filesystem::exists(dir.Path("work/sandboxes/r.1-1")));
  CHECK_FALSE(std::filesystem::exists(dir.Path("work/sandboxes/r.2-1")));

  // The first ends: the held ones start, one at a time, after it.
  receta::testing::WriteFile(gate, "");
  std::vector<std::string> order;
  while (order.size() < 5) {
    auto from = scheduler.Receive();
    REQUIRE(from);
    if (auto* started = std::get_if<protocol::AttemptStarted>(&from->message)) {
      order.push_back("started " + started->attempt_id);
    } else if (auto* finished = std::get_if<protocol::AttemptFinished>(&from->message)) {
      CHECK(finished->exit_code == 0);
      if (std::find(order.begin(), order.end(), "finished " + finished->attempt_id) == order.end()) {
        order.push_back("finished " + finished->attempt_id);
      }
      scheduler.Send(identity, protocol::AttemptFinishedAck{finished->attempt_id}, from->request_id);
    }
  }
  CHECK(std::find(order.begin(), order.end(), "started r.1-1") != order.end());
  CHECK(std::find(order.begin(), order.end(), "started r.2-1") != order.end());
  CHECK(std::find(order.begin(), order.end(), "finished r.0-1") != order.end());
  worker.Stop();
}

TEST_CASE("AgentTest.KillingAQueuedAttemptEndsItWithoutStartingIt") {
  TempDir dir;
  FakeScheduler scheduler;
  RunningAgent worker;
  std::string identity = RegisterOneSlot(scheduler, worker, dir);
  std::string gate = dir.Path("go");

  scheduler.Send(identity, GatedDispatch("r.0-1", gate), 0);
  REQUIRE(scheduler.Expect<protocol::AttemptStarted>());
  scheduler.Send(identity, GatedDispatch("r.1-1", gate), 0);
  scheduler.Send(identity, protocol::KillAttempt{"r.1-1", "run cancelled", 100}, 0);

  auto killed = scheduler.Expect<protocol::AttemptFinished>();
  REQUIRE(killed);
  CHECK(killed->second.attempt_id == "r.1-1");
  CHECK(killed->second.exit_code == -1);
  CHECK(killed->second.error == "killed before it started: run cancelled");
  scheduler.Send(identity, protocol::AttemptFinishedAck{"r.1-1"}, killed->first.request_id);

  // The running one is untouched and ends normally; r.1-1 never starts.
  receta::testing::WriteFile(gate, "");
  auto finished = scheduler.Expect<protocol::AttemptFinished>();
  REQUIRE(finished);
  CHECK(finished->second.attempt_id == "r.0-1");
  CHECK(finished->second.exit_code == 0);
  CHECK_FALSE(std::filesystem::exists(dir.Path("work/sandboxes/r.1-1")));
  worker.Stop();
}

TEST_CASE("AgentTest.KillsItsStepsWhenItLosesTheScheduler") {
  TempDir dir;
  FakeScheduler scheduler;
  RunningAgent worker;
  AgentOptions options;
  options.scheduler_endpoint = scheduler.endpoint();
  options.work_dir = dir.Path("work");
  options.slots = 1;
  worker.Start(options);
  auto reg = scheduler.Expect<protocol::Register>();
  REQUIRE(reg);
  std::string worker_id = reg->second.worker_id;
  std::string identity = reg->first.identity;
  // A loss timeout of 50 ms x 4 = 200 ms.
  scheduler.Send(identity, protocol::RegisterAck{worker_id, 50, 4, {}, "test"},
                 reg->first.request_id);

  protocol::Dispatch running;
  running.run_id = "r";
  running.step = "s";
  running.attempt_id = "r.0-1";
  running.command = "sleep 1000";
  scheduler.Send(identity, running, 0);
  REQUIRE(scheduler.Expect<protocol::AttemptStarted>());
  protocol::Dispatch queued = running;
  queued.attempt_id = "r.1-1";
  queued.command = "true";
  scheduler.Send(identity, queued, 0);  // waits for the one slot

  SUBCASE("silent while registered") {}
  SUBCASE("silent while registering again") {
    // The worker registers again at once, and that Register goes unanswered.
    scheduler.Send(identity,
                   protocol::Error{protocol::ErrorCode::kNotFound, "worker is not registered"},
                   0);
  }

  // The scheduler goes silent. Past the loss timeout the worker kills the
  // running attempt, drops the queued one, and keeps registering; its
  // reports wait for a RegisterAck. Once a Register says it holds nothing,
  // both have ended.
  std::optional<FromWorker> last_register;
  while (!last_register) {
    auto from = scheduler.Receive();
    REQUIRE(from);
    CHECK_FALSE(std::holds_alternative<protocol::AttemptFinished>(from->message));
    auto* again = std::get_if<protocol::Register>(&from->message);
    if (again && again->running_attempt_ids.empty()) last_register = from;
  }
  scheduler.Send(last_register->identity, protocol::RegisterAck{worker_id, 1000, 10, {}, "test"},
                 last_register->request_id);

  std::map<std::string, protocol::AttemptFinished> reported;
  while (reported.size() < 2) {
    auto finished = scheduler.Expect<protocol::AttemptFinished>();
    REQUIRE(finished);
    reported[finished->second.attempt_id] = finished->second;
  }
  const std::string why = " ms; the scheduler will have run this step elsewhere";
  const protocol::AttemptFinished& killed = reported["r.0-1"];
  CHECK(killed.signal == SIGKILL);
  CHECK(killed.error.rfind("killed: lost the scheduler for ", 0) == 0);
  CHECK(killed.error.find(why) != std::string::npos);
  CHECK(killed.system_failure == true);
  const protocol::AttemptFinished& dropped = reported["r.1-1"];
  CHECK(dropped.exit_code == -1);
  CHECK(dropped.error.rfind("killed before it started: lost the scheduler for ", 0) == 0);
  CHECK(dropped.system_failure == true);
  CHECK_FALSE(std::filesystem::exists(dir.Path("work/sandboxes/r.1-1")));
  worker.Stop();
}

// A chunk sent just before the scheduler died may never have been read, so
// after each RegisterAck the worker sends the whole log of every attempt the
// scheduler has not acknowledged, before the attempt's result; an
// acknowledged attempt's log is not sent again.
TEST_CASE("AgentTest.ResendsTheLogOfUnacknowledgedAttemptsAfterRegistering") {
  TempDir dir;
  FakeScheduler scheduler;
  RunningAgent worker;
  std::string identity = RegisterOneSlot(scheduler, worker, dir);
  const std::string gate = dir.Path("gate");
  protocol::Dispatch d = GatedDispatch("r.0-1", gate);
  d.command = "echo first; " + d.command + "; echo second >&2";
  scheduler.Send(identity, d, 0);

  // Collects LogChunks up to the next AttemptFinished.
  auto collect = [&](std::string& log, std::vector<uint64_t>& offsets) {
    while (true) {
      std::optional<FromWorker> from = scheduler.Receive();
      REQUIRE(from);
      if (auto* chunk = std::get_if<protocol::LogChunk>(&from->message)) {
        CHECK(chunk->attempt_id == "r.0-1");
        offsets.push_back(chunk->offset.value_or(~uint64_t{0}));
        log += chunk->data;
      } else if (auto* f = std::get_if<protocol::AttemptFinished>(&from->message)) {
        CHECK(f->log_bytes == log.size());
        return from->request_id;
      }
    }
  };
  auto first_chunk = scheduler.Expect<protocol::LogChunk>();
  REQUIRE(first_chunk);
  CHECK(first_chunk->second.data == "first\n");
  CHECK(first_chunk->second.offset == 0);
  std::ofstream(gate).put('x');
  std::string log = first_chunk->second.data;
  std::vector<uint64_t> offsets = {0};
  collect(log, offsets);
  CHECK(log == "first\nsecond\n");
  CHECK(offsets == std::vector<uint64_t>{0, 6});

  // The scheduler restarts and forgets the worker, which registers again;
  // returns the worker's new identity.
  auto forget_and_register = [&] {
    scheduler.Send(identity, protocol::Error{protocol::ErrorCode::kNotFound, "not registered"}, 0);
    auto again = scheduler.Expect<protocol::Register>();
    REQUIRE(again);
    scheduler.Send(again->first.identity,
                   protocol::RegisterAck{again->second.worker_id, 1000, 5, {}, "test"},
                   again->first.request_id);
    identity = again->first.identity;
    return identity;
  };
  // Not acknowledged when the scheduler restarts.
  forget_and_register();
  std::string resent;
  std::vector<uint64_t> resent_offsets;
  uint64_t finished_request = collect(resent, resent_offsets);
  CHECK(resent == "first\nsecond\n");
  CHECK(resent_offsets == std::vector<uint64_t>{0, 6});
  scheduler.Send(identity, protocol::AttemptFinishedAck{"r.0-1"}, finished_request);

  // Acknowledged: a later registration sends no log of it. The next log the
  // scheduler sees is the next attempt's.
  forget_and_register();
  protocol::Dispatch next = GatedDispatch("r.0-2", gate);
  next.command = "echo next";
  scheduler.Send(identity, next, 0);
  auto next_chunk = scheduler.Expect<protocol::LogChunk>();
  REQUIRE(next_chunk);
  CHECK(next_chunk->second.attempt_id == "r.0-2");
  CHECK(next_chunk->second.data == "next\n");
  worker.Stop();
}
