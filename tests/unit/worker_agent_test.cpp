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
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <zmq.hpp>

#include "common/cache/upstream_manifest.h"
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

// A worker of one slot registered with a fake scheduler, in a temp dir.
// Members in this order: the worker stops before the scheduler goes.
// `heartbeat_ms` x `liveness` is how long a silent scheduler takes to be
// declared lost.
struct OneSlotAgent {
  TempDir dir;
  FakeScheduler scheduler;
  RunningAgent worker;
  std::string identity;
  explicit OneSlotAgent(uint32_t heartbeat_ms = 1000, uint32_t liveness = 5) {
    AgentOptions options;
    options.scheduler_endpoint = scheduler.endpoint();
    options.work_dir = dir.Path("work");
    options.slots = 1;
    worker.Start(options);
    auto reg = scheduler.Expect<protocol::Register>();
    REQUIRE(reg);
    scheduler.Send(reg->first.identity,
                   protocol::RegisterAck{reg->second.worker_id, heartbeat_ms, liveness, {}, "test"},
                   reg->first.request_id);
    identity = reg->first.identity;
  }
};

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
  OneSlotAgent agent;
  auto& [dir, scheduler, worker, identity] = agent;
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
  OneSlotAgent agent;
  auto& [dir, scheduler, worker, identity] = agent;
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
  OneSlotAgent agent(50, 4);  // a loss timeout of 50 ms x 4 = 200 ms
  auto& [dir, scheduler, worker, identity] = agent;

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
  const std::string& worker_id = std::get<protocol::Register>(last_register->message).worker_id;
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
  OneSlotAgent agent;
  auto& [dir, scheduler, worker, identity] = agent;
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

namespace {

// The next step of a chain, sent while `upstream` still runs on the worker:
// its input `path` is "whatever `upstream` produced there", unknown yet.
protocol::Dispatch SpeculativeDispatch(const std::string& attempt_id, const std::string& upstream,
                                       const std::string& path) {
  protocol::Dispatch d;
  d.run_id = "r";
  d.step = "next";
  d.attempt_id = attempt_id;
  d.after_attempt = upstream;
  d.inputs = {{path, "", std::string(protocol::kInputKindUpstream), 0, std::nullopt}};
  return d;
}

// Receives until a Heartbeat that `holds` accepts, failing on any message
// from `attempt_id` (it must not have started or ended meanwhile).
void AwaitHeartbeatWithoutWordFrom(
    FakeScheduler& scheduler, const std::string& attempt_id,
    const std::function<bool(const std::vector<std::string>&)>& holds) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (true) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    auto from = scheduler.Receive(3000);
    REQUIRE(from);
    if (auto* started = std::get_if<protocol::AttemptStarted>(&from->message)) {
      REQUIRE(started->attempt_id != attempt_id);
    } else if (auto* log = std::get_if<protocol::LogChunk>(&from->message)) {
      REQUIRE(log->attempt_id != attempt_id);
    } else if (auto* finished = std::get_if<protocol::AttemptFinished>(&from->message)) {
      REQUIRE_MESSAGE(finished->attempt_id != attempt_id, "error: " << finished->error);
    } else if (auto* heartbeat = std::get_if<protocol::Heartbeat>(&from->message)) {
      if (holds(heartbeat->running_attempt_ids)) return;
    }
  }
}

bool Lists(const std::vector<std::string>& ids, const std::string& id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

}  // namespace

TEST_CASE("AgentTest.ASpeculativeDispatchStartsWhenItsUpstreamSucceedsWithItsOutputs") {
  OneSlotAgent agent;
  auto& [dir, scheduler, worker, identity] = agent;
  std::string gate = dir.Path("go");
  const std::string content = "made by r.0-1\n";
  const std::string content_digest = receta::HashBytes(content).ToHex();

  protocol::Dispatch upstream = GatedDispatch("r.0-1", gate);
  upstream.command += "; printf 'made by r.0-1\\n' > out/a.txt";
  upstream.outputs = {"out/a.txt"};
  scheduler.Send(identity, upstream, 0);
  auto started = scheduler.Expect<protocol::AttemptStarted>();
  REQUIRE(started);
  CHECK(started->second.attempt_id == "r.0-1");

  // One slot plus one prepared ahead: r.1-1 has room to start now, so only
  // its after_attempt holds it back. It prints, so its start is reported
  // however fast it ends.
  protocol::Dispatch next = SpeculativeDispatch("r.1-1", "r.0-1", "out/a.txt");
  next.command = "cat out/a.txt > copy/b.txt && echo copied";
  next.outputs = {"copy/b.txt"};
  scheduler.Send(identity, next, 0);

  // Held, not started: a heartbeat lists it while r.0-1 still runs, and
  // nothing of r.1-1 came first (started at once, it would have failed on
  // its unresolved input, or started, well within the heartbeat interval).
  // (Its sandbox may be built already: that is no start.)
  AwaitHeartbeatWithoutWordFrom(scheduler, "r.1-1", [](const std::vector<std::string>& ids) {
    return Lists(ids, "r.0-1") && Lists(ids, "r.1-1");
  });

  // r.0-1 ends: r.1-1 starts after it, on the file it wrote. The Dispatch
  // went out before r.0-1's ack, as the scheduler sends it, so the worker
  // still holds r.0-1's result when it resolves r.1-1's input.
  receta::testing::WriteFile(gate, "");
  std::vector<std::string> order;
  std::optional<protocol::AttemptFinished> upstream_finished;
  std::optional<protocol::AttemptFinished> next_finished;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (!next_finished || !upstream_finished) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    auto from = scheduler.Receive();
    REQUIRE(from);
    // The upstream's output is in this worker's cache already: nothing to
    // fetch from the scheduler (which would not have it yet).
    CHECK_FALSE(std::holds_alternative<protocol::BlobGet>(from->message));
    if (auto* s = std::get_if<protocol::AttemptStarted>(&from->message)) {
      order.push_back("started " + s->attempt_id);
    } else if (auto* f = std::get_if<protocol::AttemptFinished>(&from->message)) {
      if (!Lists(order, "finished " + f->attempt_id)) order.push_back("finished " + f->attempt_id);
      (f->attempt_id == "r.0-1" ? upstream_finished : next_finished) = *f;
      scheduler.Send(identity, protocol::AttemptFinishedAck{f->attempt_id}, from->request_id);
    }
  }
  // r.1-1 starts from r.0-1's own thread, perhaps before r.0-1's result
  // has left: its reports wait for that (the scheduler would take them
  // first as a sign the worker lost r.0-1's result).
  CHECK(order == std::vector<std::string>{"finished r.0-1", "started r.1-1", "finished r.1-1"});
  REQUIRE(upstream_finished);
  CHECK(upstream_finished->exit_code == 0);
  REQUIRE(upstream_finished->outputs.size() == 1);
  CHECK(upstream_finished->outputs[0].digest == content_digest);
  CHECK(next_finished->exit_code == 0);
  CHECK(next_finished->error == "");
  REQUIRE(next_finished->outputs.size() == 1);
  CHECK(next_finished->outputs[0].path == "copy/b.txt");
  CHECK(next_finished->outputs[0].digest == content_digest);
  worker.Stop();
}

TEST_CASE("AgentTest.ASpeculativeDispatchWhoseUpstreamFailsWaitsForItsKill") {
  OneSlotAgent agent;
  auto& [dir, scheduler, worker, identity] = agent;
  std::string gate = dir.Path("go");

  // It writes its output, then fails: a result the next step must not read.
  protocol::Dispatch upstream = GatedDispatch("r.0-1", gate);
  upstream.command += "; echo partial > out/a.txt; exit 3";
  upstream.outputs = {"out/a.txt"};
  scheduler.Send(identity, upstream, 0);
  REQUIRE(scheduler.Expect<protocol::AttemptStarted>());
  protocol::Dispatch next = SpeculativeDispatch("r.1-1", "r.0-1", "out/a.txt");
  next.command = "echo ran; cat out/a.txt";
  scheduler.Send(identity, next, 0);
  // Held while r.0-1 runs (as in the test above), so r.0-1 fails with r.1-1
  // already waiting on it.
  AwaitHeartbeatWithoutWordFrom(scheduler, "r.1-1", [](const std::vector<std::string>& ids) {
    return Lists(ids, "r.0-1") && Lists(ids, "r.1-1");
  });

  receta::testing::WriteFile(gate, "");
  auto failed = scheduler.Expect<protocol::AttemptFinished>();
  REQUIRE(failed);
  CHECK(failed->second.attempt_id == "r.0-1");
  CHECK(failed->second.exit_code == 3);
  uint64_t failed_request = failed->first.request_id;

  // Its upstream failed and the scheduler has not answered yet: r.1-1 stays
  // held, neither started nor ended by the worker on its own. Unacknowledged,
  // r.0-1's result is still there for a worker that wrongly took it.
  AwaitHeartbeatWithoutWordFrom(scheduler, "r.1-1", [](const std::vector<std::string>& ids) {
    return !Lists(ids, "r.0-1") && Lists(ids, "r.1-1");
  });

  // The scheduler withdraws it, and acknowledges the failure.
  scheduler.Send(
      identity, protocol::KillAttempt{"r.1-1", "speculative dispatch withdrawn: r.0-1 failed", 100},
      0);
  scheduler.Send(identity, protocol::AttemptFinishedAck{"r.0-1"}, failed_request);
  std::optional<protocol::AttemptFinished> killed;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (!killed) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    auto from = scheduler.Receive();
    REQUIRE(from);
    if (auto* s = std::get_if<protocol::AttemptStarted>(&from->message))
      REQUIRE(s->attempt_id != "r.1-1");
    if (auto* log = std::get_if<protocol::LogChunk>(&from->message))
      REQUIRE(log->attempt_id != "r.1-1");
    auto* f = std::get_if<protocol::AttemptFinished>(&from->message);
    if (f == nullptr || f->attempt_id != "r.1-1") continue;  // e.g. r.0-1 resent before its ack
    killed = *f;
    scheduler.Send(identity, protocol::AttemptFinishedAck{"r.1-1"}, from->request_id);
  }
  CHECK(killed->exit_code == -1);
  CHECK(killed->signal == 0);
  CHECK(killed->error.rfind("killed before it started", 0) == 0);
  CHECK(killed->error.find("r.0-1 failed") != std::string::npos);
  CHECK(killed->outputs.empty());
  CHECK_FALSE(std::filesystem::exists(dir.Path("work/sandboxes/r.1-1")));
  CHECK_FALSE(std::filesystem::exists(dir.Path("work/failed/r.1-1")));
  worker.Stop();
}

namespace {

const std::string kMadeByUpstream = "made by r.0-1\n";

// r.0-1 of a chain: runs until `gate` exists, then writes kMadeByUpstream.
protocol::Dispatch WritingUpstream(const std::string& gate) {
  protocol::Dispatch d = GatedDispatch("r.0-1", gate);
  d.command += "; printf 'made by r.0-1\\n' > out/a.txt";
  d.outputs = {"out/a.txt"};
  return d;
}

// r.1-1, sent speculatively after r.0-1: copies r.0-1's out/a.txt. It
// prints, so its start is reported however fast it ends.
protocol::Dispatch CopyingNext() {
  protocol::Dispatch next = SpeculativeDispatch("r.1-1", "r.0-1", "out/a.txt");
  next.command = "cat out/a.txt > copy/b.txt && echo copied";
  next.outputs = {"copy/b.txt"};
  return next;
}

// What the scheduler sends in unless_upstream_made for a cached result of
// r.1-1 made from `bytes` at out/a.txt.
std::string CachedFrom(const std::string& bytes) {
  receta::Result<std::string> made = receta::UpstreamManifest(
      {"out/a.txt"},
      {protocol::FileEntry{"out/a.txt", receta::HashBytes(bytes).ToHex(), bytes.size(), false}});
  REQUIRE_MESSAGE(made.ok(), made.error());
  return *made;
}

// Whether `from` is a start, a log or a result of `attempt_id`.
bool IsWordFrom(const FromWorker& from, const std::string& attempt_id) {
  if (auto* started = std::get_if<protocol::AttemptStarted>(&from.message))
    return started->attempt_id == attempt_id;
  if (auto* log = std::get_if<protocol::LogChunk>(&from.message))
    return log->attempt_id == attempt_id;
  if (auto* finished = std::get_if<protocol::AttemptFinished>(&from.message)) {
    return finished->attempt_id == attempt_id;
  }
  return false;
}

bool IsFinished(const FromWorker& from, const std::string& attempt_id) {
  auto* finished = std::get_if<protocol::AttemptFinished>(&from.message);
  return finished != nullptr && finished->attempt_id == attempt_id;
}

// Receives, within 15 s, up to and including the first message `last`
// accepts; acknowledges every AttemptFinished before that one (the last is
// the caller's to acknowledge) and, as the scheduler does, answers each
// Heartbeat, so the worker never thinks it lost the scheduler however
// long this waits. Returns them all, in order.
std::vector<FromWorker> ReceiveUntil(FakeScheduler& scheduler, const std::string& identity,
                                     const std::function<bool(const FromWorker&)>& last) {
  std::vector<FromWorker> received;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (true) {
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline,
                    "15 s passed without the awaited message");
    auto from = scheduler.Receive(3000);
    REQUIRE_MESSAGE(from, "nothing from the worker for 3 s");
    received.push_back(*from);
    if (last(*from)) return received;
    if (auto* finished = std::get_if<protocol::AttemptFinished>(&from->message)) {
      scheduler.Send(identity, protocol::AttemptFinishedAck{finished->attempt_id},
                     from->request_id);
    } else if (std::holds_alternative<protocol::Heartbeat>(from->message)) {
      scheduler.Send(identity, protocol::Heartbeat{}, 0);
    }
  }
}

// Returns once the worker has handled every message sent to it before:
// the worker reads its messages in order and refuses a Dispatch whose
// attempt id cannot name a sandbox at once. Returns what came meanwhile.
// r.1-1's result (the last message received): it ended well with one
// output, a copy of what r.0-1 made; acknowledged.
void CheckCopiedTheUpstreamOutputAndAck(FakeScheduler& scheduler, const std::string& identity,
                                        const FromWorker& last) {
  const auto& finished = std::get<protocol::AttemptFinished>(last.message);
  CHECK(finished.attempt_id == "r.1-1");
  CHECK(finished.exit_code == 0);
  CHECK(finished.error == "");
  REQUIRE(finished.outputs.size() == 1);
  CHECK(finished.outputs[0].path == "copy/b.txt");
  CHECK(finished.outputs[0].digest == receta::HashBytes(kMadeByUpstream).ToHex());
  scheduler.Send(identity, protocol::AttemptFinishedAck{"r.1-1"}, last.request_id);
}

// What the worker sent up to r.1-1's result: r.1-1 started, nothing was
// fetched from the scheduler (r.0-1's output is in the worker's cache), and
// it copied that output (CheckCopiedTheUpstreamOutputAndAck).
void CheckNextRanOnTheUpstreamOutput(FakeScheduler& scheduler, const std::string& identity,
                                     const std::vector<FromWorker>& received) {
  bool started = false;
  for (const FromWorker& from : received) {
    CHECK_FALSE(std::holds_alternative<protocol::BlobGet>(from.message));
    if (auto* s = std::get_if<protocol::AttemptStarted>(&from.message)) started |= s->attempt_id == "r.1-1";
  }
  CHECK(started);
  CheckCopiedTheUpstreamOutputAndAck(scheduler, identity, received.back());
}

std::vector<FromWorker> AwaitHandled(FakeScheduler& scheduler, const std::string& identity) {
  static int probes = 0;
  protocol::Dispatch probe;
  probe.run_id = "probe";
  probe.step = "probe";
  probe.attempt_id = "probe/" + std::to_string(++probes);
  probe.command = "true";
  scheduler.Send(identity, probe, 0);
  std::vector<FromWorker> received = ReceiveUntil(scheduler, identity, [&](const FromWorker& from) {
    return IsFinished(from, probe.attempt_id);
  });
  const auto& refused = std::get<protocol::AttemptFinished>(received.back().message);
  CHECK(refused.error.find("cannot name a sandbox") != std::string::npos);
  scheduler.Send(identity, protocol::AttemptFinishedAck{refused.attempt_id},
                 received.back().request_id);
  received.pop_back();
  return received;
}

bool IsHeartbeat(const FromWorker& from) {
  return std::holds_alternative<protocol::Heartbeat>(from.message);
}

}  // namespace

// Regression: the speculative r.1-1 was resolved only when it got room to
// start, from r.0-1's result kept until r.0-1's AttemptFinishedAck. Here
// the room r.0-1 frees goes to y.0-1 (r.1-1 is not settled yet when r.0-1's
// process ends) and r.0-1 is acknowledged before x.0-1 or y.0-1 frees room:
// r.1-1 must still start, on r.0-1's output, not wait forever.
TEST_CASE(
    "AgentTest.ASpeculativeDispatchIsNotStrandedWhenItsUpstreamIsAcknowledgedBeforeItHasRoom") {
  OneSlotAgent agent;
  auto& [dir, scheduler, worker, identity] = agent;
  const std::string upstream_gate = dir.Path("go-r");
  const std::string others_gate = dir.Path("go-others");

  // The one slot: r.0-1 runs, x.0-1 is prepared ahead; r.1-1 waits for
  // r.0-1 and y.0-1 is queued behind it. x.0-1 and y.0-1 both run until
  // others_gate exists, so they hold the room whichever of them gets the
  // slot first (the slot gate does not keep dispatch order).
  scheduler.Send(identity, WritingUpstream(upstream_gate), 0);
  auto started = scheduler.Expect<protocol::AttemptStarted>();
  REQUIRE(started);
  CHECK(started->second.attempt_id == "r.0-1");
  scheduler.Send(identity, GatedDispatch("x.0-1", others_gate), 0);
  scheduler.Send(identity, CopyingNext(), 0);
  scheduler.Send(identity, GatedDispatch("y.0-1", others_gate), 0);
  AwaitHeartbeatWithoutWordFrom(scheduler, "r.1-1", [](const std::vector<std::string>& ids) {
    return Lists(ids, "r.0-1") && Lists(ids, "x.0-1") && Lists(ids, "r.1-1") && Lists(ids, "y.0-1");
  });

  // r.0-1 succeeds. Its process's end frees the slot (for x.0-1) and the
  // room, which r.1-1 takes to wait in (a worker that held speculative
  // dispatches queued until settled gave it to y.0-1); its result comes
  // after, with no room left.
  receta::testing::WriteFile(upstream_gate, "");
  std::vector<FromWorker> received = ReceiveUntil(
      scheduler, identity, [](const FromWorker& from) { return IsFinished(from, "r.0-1"); });
  for (const FromWorker& from : received) REQUIRE_FALSE(IsWordFrom(from, "r.1-1"));
  const auto& upstream_finished = std::get<protocol::AttemptFinished>(received.back().message);
  CHECK(upstream_finished.exit_code == 0);
  CHECK(upstream_finished.error == "");
  REQUIRE(upstream_finished.outputs.size() == 1);
  CHECK(upstream_finished.outputs[0].digest == receta::HashBytes(kMadeByUpstream).ToHex());

  // The scheduler acknowledges r.0-1 (the worker forgets its result) while
  // r.1-1 has not started (no room, or no slot).
  scheduler.Send(identity, protocol::AttemptFinishedAck{"r.0-1"}, received.back().request_id);
  for (const FromWorker& from : AwaitHandled(scheduler, identity))
    REQUIRE_FALSE(IsWordFrom(from, "r.1-1"));
  received = ReceiveUntil(scheduler, identity, IsHeartbeat);
  for (const FromWorker& from : received) REQUIRE_FALSE(IsWordFrom(from, "r.1-1"));
  const auto& heartbeat = std::get<protocol::Heartbeat>(received.back().message);
  CHECK(heartbeat.free_slots == 0);
  CHECK_FALSE(Lists(heartbeat.running_attempt_ids, "r.0-1"));
  CHECK(Lists(heartbeat.running_attempt_ids, "x.0-1"));
  CHECK(Lists(heartbeat.running_attempt_ids, "y.0-1"));
  CHECK(Lists(heartbeat.running_attempt_ids, "r.1-1"));

  // x.0-1 and y.0-1 end, room frees: r.1-1 starts, on r.0-1's file (still
  // in the worker's cache: nothing fetched).
  receta::testing::WriteFile(others_gate, "");
  received = ReceiveUntil(scheduler, identity,
                          [](const FromWorker& from) { return IsFinished(from, "r.1-1"); });
  bool next_started = false;
  for (const FromWorker& from : received) {
    CHECK_FALSE(std::holds_alternative<protocol::BlobGet>(from.message));
    if (auto* s = std::get_if<protocol::AttemptStarted>(&from.message))
      next_started |= s->attempt_id == "r.1-1";
    if (auto* f = std::get_if<protocol::AttemptFinished>(&from.message)) {
      CHECK_MESSAGE(f->exit_code == 0, f->attempt_id << ": " << f->error);
    }
  }
  CHECK(next_started);
  CheckCopiedTheUpstreamOutputAndAck(scheduler, identity, received.back());
  worker.Stop();
}

namespace {

// Sends r.0-1 (writing kMadeByUpstream) and `next` after it, either while
// r.0-1 runs (held until it ends, as checked) or once r.0-1 has finished,
// before its ack. Returns when the worker has settled `next`, with r.0-1
// succeeded and acknowledged, and no word from `next` yet.
void RunUpstreamThenSettle(FakeScheduler& scheduler, const std::string& identity, TempDir& dir,
                           const protocol::Dispatch& next, bool sent_after_upstream_finished) {
  const std::string gate = dir.Path("go");
  if (sent_after_upstream_finished) receta::testing::WriteFile(gate, "");
  scheduler.Send(identity, WritingUpstream(gate), 0);
  if (!sent_after_upstream_finished) {
    REQUIRE(scheduler.Expect<protocol::AttemptStarted>());
    scheduler.Send(identity, next, 0);
    AwaitHeartbeatWithoutWordFrom(scheduler, next.attempt_id,
                                  [](const std::vector<std::string>& ids) {
                                    return Lists(ids, "r.0-1") && Lists(ids, "r.1-1");
                                  });
    receta::testing::WriteFile(gate, "");
  }
  std::vector<FromWorker> received = ReceiveUntil(
      scheduler, identity, [](const FromWorker& from) { return IsFinished(from, "r.0-1"); });
  for (const FromWorker& from : received) REQUIRE_FALSE(IsWordFrom(from, next.attempt_id));
  const auto& upstream = std::get<protocol::AttemptFinished>(received.back().message);
  REQUIRE_MESSAGE(upstream.exit_code == 0, upstream.error);
  REQUIRE(upstream.outputs.size() == 1);
  REQUIRE(upstream.outputs[0].digest == receta::HashBytes(kMadeByUpstream).ToHex());
  uint64_t upstream_request = received.back().request_id;
  if (sent_after_upstream_finished) {
    // Its upstream's result is there, unacknowledged: settled on arrival.
    scheduler.Send(identity, next, 0);
    for (const FromWorker& from : AwaitHandled(scheduler, identity)) {
      REQUIRE_FALSE(IsWordFrom(from, next.attempt_id));
    }
  }
  scheduler.Send(identity, protocol::AttemptFinishedAck{"r.0-1"}, upstream_request);
}

}  // namespace

TEST_CASE(
    "AgentTest.ASpeculativeDispatchIsDroppedUnstartedWhenItsUpstreamMakesWhatACachedResultUsed") {
  OneSlotAgent agent;
  auto& [dir, scheduler, worker, identity] = agent;
  protocol::Dispatch next = CopyingNext();
  // Cached results of r.1-1 were made from other files and from exactly
  // what r.0-1 will write.
  next.unless_upstream_made = {CachedFrom("an older r.0\n"), CachedFrom(kMadeByUpstream)};

  bool sent_after_upstream_finished = false;
  SUBCASE("sent while its upstream runs") { sent_after_upstream_finished = false; }
  SUBCASE("sent after its upstream finished") { sent_after_upstream_finished = true; }
  RunUpstreamThenSettle(scheduler, identity, dir, next, sent_after_upstream_finished);

  // Dropped: not started, not reported, no longer held, and the worker
  // idle. Every heartbeat since it was settled says so; two of them, so
  // a wrong start or report has a second to show.
  int heartbeats = 0;
  std::vector<FromWorker> received = ReceiveUntil(scheduler, identity, [&](const FromWorker& from) {
    return IsHeartbeat(from) && ++heartbeats == 2;
  });
  for (const FromWorker& from : received) {
    REQUIRE_FALSE(IsWordFrom(from, "r.1-1"));
    if (auto* heartbeat = std::get_if<protocol::Heartbeat>(&from.message)) {
      CHECK(heartbeat->running_attempt_ids.empty());
      CHECK(heartbeat->free_slots == 1);
    }
  }
  CHECK_FALSE(std::filesystem::exists(dir.Path("work/sandboxes/r.1-1")));
  CHECK_FALSE(std::filesystem::exists(dir.Path("work/failed/r.1-1")));
  worker.Stop();
}

TEST_CASE(
    "AgentTest.ASpeculativeDispatchStartsWhenItsUpstreamMakesOtherBytesThanACachedResultUsed") {
  OneSlotAgent agent;
  auto& [dir, scheduler, worker, identity] = agent;
  protocol::Dispatch next = CopyingNext();
  // The same path, other bytes (of the same size): not what r.0-1 writes.
  const std::string other = "made by r.0-0\n";
  REQUIRE(other.size() == kMadeByUpstream.size());
  next.unless_upstream_made = {CachedFrom(other)};

  bool sent_after_upstream_finished = false;
  SUBCASE("sent while its upstream runs") { sent_after_upstream_finished = false; }
  SUBCASE("sent after its upstream finished") { sent_after_upstream_finished = true; }
  RunUpstreamThenSettle(scheduler, identity, dir, next, sent_after_upstream_finished);

  std::vector<FromWorker> received = ReceiveUntil(
      scheduler, identity, [](const FromWorker& from) { return IsFinished(from, "r.1-1"); });
  CheckNextRanOnTheUpstreamOutput(scheduler, identity, received);
  worker.Stop();
}

// The scheduler may acknowledge r.0-1 before it sends the step after it:
// the worker keeps r.0-1's result past the ack (among its last acknowledged
// successes), so r.1-1 arriving then is still settled from it and runs on
// r.0-1's output, rather than waiting forever for an upstream already gone.
TEST_CASE("AgentTest.ASpeculativeDispatchArrivingAfterItsUpstreamsAckStillRunsOnItsOutputs") {
  OneSlotAgent agent;
  auto& [dir, scheduler, worker, identity] = agent;

  // r.0-1 runs to its end at once (its gate is open) and succeeds.
  const std::string gate = dir.Path("go");
  receta::testing::WriteFile(gate, "");
  scheduler.Send(identity, WritingUpstream(gate), 0);
  std::vector<FromWorker> received = ReceiveUntil(
      scheduler, identity, [](const FromWorker& from) { return IsFinished(from, "r.0-1"); });
  const auto& upstream = std::get<protocol::AttemptFinished>(received.back().message);
  REQUIRE_MESSAGE(upstream.exit_code == 0, upstream.error);
  REQUIRE(upstream.outputs.size() == 1);
  REQUIRE(upstream.outputs[0].digest == receta::HashBytes(kMadeByUpstream).ToHex());

  // Acknowledged, and the ack handled, before r.1-1 is sent.
  scheduler.Send(identity, protocol::AttemptFinishedAck{"r.0-1"}, received.back().request_id);
  AwaitHandled(scheduler, identity);
  scheduler.Send(identity, CopyingNext(), 0);

  // r.1-1 starts and copies r.0-1's file, from this worker's cache: nothing
  // fetched from the scheduler.
  received = ReceiveUntil(scheduler, identity,
                          [](const FromWorker& from) { return IsFinished(from, "r.1-1"); });
  CheckNextRanOnTheUpstreamOutput(scheduler, identity, received);
  worker.Stop();
}

// r.9-1 never ran on this worker: nothing here will ever settle r.1-1, so
// it ends on arrival, never started, as a system failure the scheduler
// retries, rather than being held forever.
TEST_CASE("AgentTest.ASpeculativeDispatchAfterAnUnknownAttemptEndsAtOnce") {
  OneSlotAgent agent;
  auto& [dir, scheduler, worker, identity] = agent;

  protocol::Dispatch next = SpeculativeDispatch("r.1-1", "r.9-1", "out/a.txt");
  next.command = "echo ran > copy/b.txt";
  next.outputs = {"copy/b.txt"};
  scheduler.Send(identity, next, 0);

  // At once: its result comes before the worker has handled the next
  // message (AwaitHandled acknowledges it on the way).
  std::vector<FromWorker> received = AwaitHandled(scheduler, identity);
  std::optional<protocol::AttemptFinished> ended;
  for (const FromWorker& from : received) {
    if (auto* s = std::get_if<protocol::AttemptStarted>(&from.message))
      CHECK(s->attempt_id != "r.1-1");
    if (auto* log = std::get_if<protocol::LogChunk>(&from.message))
      CHECK(log->attempt_id != "r.1-1");
    if (IsFinished(from, "r.1-1")) {
      CHECK_FALSE(ended);
      ended = std::get<protocol::AttemptFinished>(from.message);
    }
  }
  REQUIRE_MESSAGE(ended, "r.1-1 did not end before the worker handled the next message");
  CHECK(ended->exit_code == -1);
  CHECK(ended->signal == 0);
  CHECK(ended->system_failure);
  CHECK(ended->error.find("r.9-1") != std::string::npos);
  CHECK(ended->error.find("not known to this worker") != std::string::npos);
  CHECK(ended->outputs.empty());

  // No longer held, and nothing more from it (it was acknowledged).
  received = ReceiveUntil(scheduler, identity, IsHeartbeat);
  for (const FromWorker& from : received) CHECK_FALSE(IsWordFrom(from, "r.1-1"));
  const auto& heartbeat = std::get<protocol::Heartbeat>(received.back().message);
  CHECK(heartbeat.running_attempt_ids.empty());
  CHECK(heartbeat.free_slots == 1);
  CHECK_FALSE(std::filesystem::exists(dir.Path("work/sandboxes/r.1-1")));
  CHECK_FALSE(std::filesystem::exists(dir.Path("work/failed/r.1-1")));
  worker.Stop();
}
