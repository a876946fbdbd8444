// One Attempt driven directly, with a fake BlobRemote and a sink that
// collects its messages: which failures are the step's own and which the
// worker's (AttemptFinished.system_failure). Real processes and files.
#include <doctest/doctest.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "common/cache/upstream_manifest.h"
#include "common/hash/sha256.h"
#include "common/protocol/codec.h"
#include "common/protocol/validate.h"
#include "test_files.h"
#include "test_support.h"
#include "worker/attempt.h"
#include "worker/attempt_pool.h"
#include "worker/disk_full.h"
#include "worker/event_mailbox.h"
#include "worker/upstream_handoff.h"

using receta::Result;
using receta::Status;
using receta::testing::Must;
using receta::testing::TempDir;
using namespace receta::worker;
namespace protocol = receta::protocol;

namespace {

// Serves nothing; fails each kind of transfer on demand.
class FakeRemote : public BlobRemote {
 public:
  std::string download_error = "connection reset by the scheduler";
  std::string upload_error;  // empty: uploads succeed
  // Shared by the copies the attempts get.
  std::shared_ptr<int> uploads = std::make_shared<int>(0);  // blobs
  std::shared_ptr<int> upload_calls = std::make_shared<int>(0);
  std::shared_ptr<int> downloads = std::make_shared<int>(0);
  std::function<void()> before_upload;  // optional

  Status Download(const std::string&, uint64_t, const std::string&) override {
    ++*downloads;
    return Status::Error(download_error);
  }
  Status Upload(const std::vector<receta::net::UploadItem>& blobs) override {
    if (before_upload) before_upload();
    *uploads += static_cast<int>(blobs.size());
    ++*upload_calls;
    return upload_error.empty() ? Status::Ok() : Status::Error(upload_error);
  }
};

// Collects an attempt's messages; Started can be waited for from another
// thread.
class CollectingSink : public AttemptSink {
 public:
  void Started(protocol::AttemptStarted started) override {
    std::lock_guard<std::mutex> lock(mu_);
    started_ = started;
    cv_.notify_all();
  }
  void Log(protocol::LogChunk) override {}
  void Finished(protocol::AttemptFinished finished) override { this->finished = finished; }
  void Dropped(const std::string& why) override { dropped = why; }

  bool WaitStarted() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return started_.has_value(); });
  }
  std::optional<protocol::AttemptStarted> started() {
    std::lock_guard<std::mutex> lock(mu_);
    return started_;
  }

  std::optional<protocol::AttemptFinished> finished;
  std::optional<std::string> dropped;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<protocol::AttemptStarted> started_;
};

// A work dir with a cache and the attempt's directories, and a remote the
// test configures before the attempt runs.
struct Fixture {
  TempDir dir;
  LocalCache cache = Must(LocalCache::Open(dir.Path("cas")));
  FakeRemote remote;

  protocol::Dispatch Dispatch(const std::string& command) {
    protocol::Dispatch d;
    d.run_id = "r";
    d.step = "s";
    d.attempt_id = "r.0-1";
    d.command = command;
    return d;
  }
  std::unique_ptr<Attempt> Make(protocol::Dispatch d, ProcessGroupTracker* tracker = nullptr,
                                UpstreamHandoff* handoff = nullptr) {
    AttemptDirs dirs{dir.Path("sandboxes"), dir.Path("failed"), {}};
    // The attempt owns what the factory makes: a copy of the configured one.
    BlobRemoteFactory factory = [this]() -> Result<std::unique_ptr<BlobRemote>> {
      return std::unique_ptr<BlobRemote>(new FakeRemote(remote));
    };
    return std::make_unique<Attempt>(std::move(d), cache, dirs, factory,
                                     std::map<std::string, std::string>{}, tracker, nullptr,
                                     handoff);
  }
  protocol::AttemptFinished Run(protocol::Dispatch d) {
    auto attempt = Make(std::move(d));
    CollectingSink sink;
    attempt->Run(sink);
    REQUIRE(sink.finished);
    return *sink.finished;
  }
};

}  // namespace

TEST_CASE("AttemptTest.SuccessLeavesSystemFailureUnset") {
  Fixture f;
  protocol::AttemptFinished finished = f.Run(f.Dispatch("true"));
  CHECK(finished.exit_code == 0);
  CHECK(finished.error == "");
  CHECK_FALSE(finished.system_failure.has_value());
}

TEST_CASE("AttemptTest.NonZeroExitIsTheStepsFailure") {
  Fixture f;
  protocol::AttemptFinished finished = f.Run(f.Dispatch("exit 3"));
  CHECK(finished.exit_code == 3);
  CHECK(finished.system_failure == false);
}

TEST_CASE("AttemptTest.ASignalTheStepSentItselfIsTheStepsFailure") {
  Fixture f;
  protocol::AttemptFinished finished = f.Run(f.Dispatch("kill -KILL $$"));
  CHECK(finished.signal == SIGKILL);
  CHECK(finished.system_failure == false);
}

TEST_CASE("AttemptTest.MissingDeclaredOutputIsTheStepsFailure") {
  Fixture f;
  protocol::Dispatch d = f.Dispatch("true");
  d.outputs = {"model/m.pkl"};
  protocol::AttemptFinished finished = f.Run(d);
  CHECK(finished.exit_code == 0);
  CHECK(finished.error == "declared output 'model/m.pkl' was not created by the step");
  CHECK(finished.system_failure == false);
}

TEST_CASE("AttemptTest.TimeoutIsTheStepsFailure") {
  Fixture f;
  protocol::Dispatch d = f.Dispatch("sleep 1000");
  d.timeout_ms = 100;
  protocol::AttemptFinished finished = f.Run(d);
  CHECK(finished.timed_out);
  CHECK(finished.signal == SIGTERM);
  CHECK(finished.error == "timed out after 100 ms; the process group was killed");
  CHECK(finished.system_failure == false);
}

TEST_CASE("AttemptTest.InputThatCannotBeFetchedIsASystemFailure") {
  Fixture f;
  protocol::Dispatch d = f.Dispatch("cat data/in.csv");
  std::string digest = receta::HashBytes("1,2,3\n").ToHex();
  d.inputs = {{"data/in.csv", digest, "file", 6, std::nullopt}};
  auto attempt = f.Make(d);
  CollectingSink sink;
  attempt->Run(sink);
  REQUIRE(sink.finished);
  CHECK(sink.finished->error == "could not fetch input 'data/in.csv' (sha256 " + digest +
                                    "): connection reset by the scheduler");
  CHECK(sink.finished->system_failure == true);
  CHECK_FALSE(sink.started());  // the command never ran
}

TEST_CASE("AttemptTest.OutputsOverTheInlineLimitGoUpInOneBatchAndAFailureNamesThem") {
  Fixture f;
  f.remote.upload_error = "the scheduler's disk is full";
  std::string half = std::to_string(protocol::kMaxInlineBlobBytes / 2 + 1);
  protocol::Dispatch d = f.Dispatch("for f in a b c; do (echo $f; head -c " + half + " /dev/zero) > $f.bin; done");
  d.outputs = {"a.bin", "b.bin", "c.bin"};
  protocol::AttemptFinished finished = f.Run(d);
  CHECK(finished.exit_code == 0);
  CHECK(*f.remote.uploads == 3);
  CHECK(*f.remote.upload_calls == 1);
  CHECK_MESSAGE(finished.error.find("could not upload outputs 'a.bin', 'b.bin' and 1 more: the scheduler's disk is full") == 0,
                finished.error);
  CHECK(finished.system_failure == true);
}

TEST_CASE("AttemptTest.OutputThatCannotBeUploadedIsASystemFailure") {
  Fixture f;
  f.remote.upload_error = "the scheduler's disk is full";
  // Over the inline limit: only such outputs are uploaded on their own.
  protocol::Dispatch d = f.Dispatch("head -c " + std::to_string(protocol::kMaxInlineBlobBytes + 1) +
                                    " /dev/zero > m.pkl");
  d.outputs = {"m.pkl"};
  protocol::AttemptFinished finished = f.Run(d);
  CHECK(finished.exit_code == 0);
  CHECK(finished.error.find("could not upload output 'm.pkl'") == 0);
  CHECK(finished.system_failure == true);
  CHECK(*f.remote.uploads == 1);
}

TEST_CASE("AttemptTest.SmallOutputsTravelInsideAttemptFinished") {
  Fixture f;
  f.remote.upload_error = "no upload was expected";
  protocol::Dispatch d = f.Dispatch("printf 'w1' > a.pkl; printf 'w1' > b.pkl; printf 'metrics' > m.json");
  d.outputs = {"a.pkl", "b.pkl", "m.json"};
  protocol::AttemptFinished finished = f.Run(d);
  CHECK(finished.error == "");
  CHECK(*f.remote.uploads == 0);
  REQUIRE(finished.outputs.size() == 3);
  REQUIRE(finished.inline_blobs.has_value());
  // One blob per distinct digest, each the output's bytes.
  REQUIRE(finished.inline_blobs->size() == 2);
  CHECK(finished.inline_blobs->at(0).digest == receta::HashBytes("w1").ToHex());
  CHECK(finished.inline_blobs->at(0).data == "w1");
  CHECK(finished.inline_blobs->at(1).data == "metrics");
  CHECK(protocol::Validate(finished).ok());
}

TEST_CASE("AttemptTest.InlineInputIsPlacedWithoutAFetch") {
  Fixture f;
  protocol::Dispatch d = f.Dispatch("cat data/in.csv > out.csv");
  std::string digest = receta::HashBytes("1,2,3\n").ToHex();
  d.inputs = {{"data/in.csv", digest, "file", 6, std::nullopt}};
  d.inline_blobs = std::vector<protocol::InlineBlob>{{digest, "1,2,3\n"}};
  d.outputs = {"out.csv"};
  protocol::AttemptFinished finished = f.Run(d);
  CHECK(finished.error == "");
  CHECK(*f.remote.downloads == 0);
  CHECK(f.cache.Contains(digest));
  REQUIRE(finished.outputs.size() == 1);
  CHECK(finished.outputs[0].digest == digest);
}

// Bytes sent inline for a blob the worker holds are not written again when
// they take more than a block: the input is a link to the cached blob (two
// links, where a written file has one). A block or less is written without
// asking the cache (one link), which costs no more than the link would.
TEST_CASE("AttemptTest.InlineInputTheCacheHoldsIsLinkedFromItUnlessSmall") {
  for (const size_t size : {size_t{6}, size_t{4096}, size_t{4097}, size_t{100'000}}) {
    CAPTURE(size);
    Fixture f;
    const std::string text(size, 'x');
    std::string digest = receta::HashBytes(text).ToHex();
    const std::string source = f.dir.Path("held.csv");
    receta::testing::WriteFile(source, text);
    REQUIRE(f.cache.InsertCopyOf(source, digest).ok());
    const bool linked = size > 4096;
    protocol::Dispatch d =
        f.Dispatch("test \"$(stat -c %h data/in.csv)\" " + std::string(linked ? "-ge 2" : "-eq 1") +
                   " && test \"$(wc -c < data/in.csv)\" -eq " + std::to_string(size));
    d.inputs = {{"data/in.csv", digest, "file", size, std::nullopt}};
    d.inline_blobs = std::vector<protocol::InlineBlob>{{digest, text}};
    protocol::AttemptFinished finished = f.Run(d);
    CHECK(finished.error == "");
    CHECK(finished.exit_code == 0);
    CHECK(*f.remote.downloads == 0);
  }
}

TEST_CASE("AttemptTest.InlineInputWithWrongBytesIsASystemFailure") {
  Fixture f;
  protocol::Dispatch d = f.Dispatch("cat data/in.csv");
  std::string digest = receta::HashBytes("1,2,3\n").ToHex();
  d.inputs = {{"data/in.csv", digest, "file", 6, std::nullopt}};
  d.inline_blobs = std::vector<protocol::InlineBlob>{{digest, "9,9,9\n"}};
  protocol::AttemptFinished finished = f.Run(d);
  CHECK(finished.error == "could not fetch input 'data/in.csv' (sha256 " + digest +
                              "): the 6 bytes sent inline hash to " +
                              receta::HashBytes("9,9,9\n").ToHex());
  CHECK(finished.system_failure == true);
  CHECK_FALSE(f.cache.Contains(digest));
}

TEST_CASE("AttemptTest.KilledBeforeItStartsIsASystemFailure") {
  Fixture f;
  auto attempt = f.Make(f.Dispatch("true"));
  attempt->Kill(0, "run cancelled");
  CollectingSink sink;
  attempt->Run(sink);
  REQUIRE(sink.finished);
  CHECK(sink.finished->error == "killed before it started: run cancelled");
  CHECK(sink.finished->system_failure == true);
  CHECK_FALSE(sink.started());
}

TEST_CASE("AttemptTest.KilledWhileRunningIsASystemFailure") {
  Fixture f;
  auto attempt = f.Make(f.Dispatch("sleep 1000"));
  CollectingSink sink;
  std::thread runner([&] { attempt->Run(sink); });
  bool started = sink.WaitStarted();
  attempt->Kill(0,
                "lost the scheduler for 200 ms; the scheduler will have run this step "
                "elsewhere");
  runner.join();
  REQUIRE(started);
  REQUIRE(sink.finished);
  CHECK(sink.finished->signal == SIGKILL);
  CHECK(sink.finished->error ==
        "killed: lost the scheduler for 200 ms; the scheduler will have run this step "
        "elsewhere");
  CHECK(sink.finished->system_failure == true);
}

TEST_CASE("AttemptTest.TellsTheTrackerOfItsProcessGroup") {
  struct Tracker : ProcessGroupTracker {
    std::vector<std::string> calls;
    void Hold(pid_t pgid) override { calls.push_back("hold " + std::to_string(pgid)); }
    void Release(pid_t pgid) override { calls.push_back("release " + std::to_string(pgid)); }
  } tracker;
  Fixture f;
  // Output makes it report its start (a silent step that ends within
  // kStartedAfterMs would not).
  auto attempt = f.Make(f.Dispatch("echo tracked"), &tracker);
  CollectingSink sink;
  attempt->Run(sink);
  REQUIRE(sink.started());
  std::string pid = std::to_string(sink.started()->pid);
  CHECK(tracker.calls == std::vector<std::string>{"hold " + pid, "release " + pid});
}

namespace {

// Waits (with a deadline) for a file to appear.
bool AppearsWithin10s(const std::string& path) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (access(path.c_str(), F_OK) != 0) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// A chain's second step sent ahead: it waits for attempt r.0-1, whose
// output model.txt it reads with its own params.txt (sent inline).
struct SpeculativeStep {
  Fixture f;
  UpstreamHandoff handoff;
  const std::string model = "weights 0.5\n";
  const std::string params = "lr=0.1\n";
  protocol::Dispatch dispatch = f.Dispatch("cat model.txt params.txt > report.txt");

  SpeculativeStep() {
    dispatch.attempt_id = "r.1s7-1";
    dispatch.after_attempt = "r.0-1";
    std::string params_digest = receta::HashBytes(params).ToHex();
    dispatch.inputs = {
        {"model.txt", "", std::string(protocol::kInputKindUpstream), 0, std::nullopt},
        {"params.txt", params_digest, "file", params.size(), std::nullopt}};
    dispatch.inline_blobs = std::vector<protocol::InlineBlob>{{params_digest, params}};
    dispatch.outputs = {"report.txt"};
  }
  // What r.0-1 reports once it made model.txt, which is in the local cache
  // as the upstream's Collect leaves it.
  protocol::AttemptFinished Upstream(int exit_code = 0) {
    protocol::AttemptFinished upstream;
    upstream.attempt_id = "r.0-1";
    upstream.exit_code = exit_code;
    std::string digest = receta::HashBytes(model).ToHex();
    std::string made = f.dir.Path("made.txt");
    receta::testing::WriteFile(made, model);
    REQUIRE(f.cache.InsertCopyOf(made, digest).ok());
    upstream.outputs = {{"model.txt", digest, model.size(), false}};
    return upstream;
  }
  std::string SandboxFile(const std::string& name) {
    return f.dir.Path("sandboxes") + "/" + dispatch.attempt_id + "/" + name;
  }

  // Runs the attempt on a thread of its own, as the agent does (registered
  // with the handoff first); whether its sandbox got its own input within
  // 10 s while it waits.
  std::unique_ptr<Attempt> attempt;
  CollectingSink sink;
  std::thread runner;
  bool StartAndAwaitPrepared() {
    handoff.Expect(dispatch.attempt_id, "r.0-1");
    attempt = f.Make(dispatch, nullptr, &handoff);
    runner = std::thread([this] { attempt->Run(sink); });
    return AppearsWithin10s(SandboxFile("params.txt"));
  }
  ~SpeculativeStep() {
    if (runner.joinable()) runner.join();
  }
};


}  // namespace

TEST_CASE("AttemptTest.SpeculativeAttemptBuildsItsSandboxAheadThenRunsOnItsUpstreamsOutput") {
  SpeculativeStep s;
  CollectingSink& sink = s.sink;
  // Its own input is in place while the upstream has made nothing yet.
  bool prepared = s.StartAndAwaitPrepared();
  CHECK(access(s.SandboxFile("model.txt").c_str(), F_OK) != 0);
  CHECK_FALSE(sink.started());
  s.handoff.Deliver(s.Upstream());
  s.runner.join();
  CHECK(prepared);
  REQUIRE(sink.finished);
  CHECK(sink.finished->error == "");
  CHECK(sink.finished->exit_code == 0);
  REQUIRE(sink.finished->outputs.size() == 1);
  CHECK(sink.finished->outputs[0].digest == receta::HashBytes(s.model + s.params).ToHex());
  CHECK(s.handoff.waiting() == 0);
}

TEST_CASE("AttemptTest.SpeculativeAttemptWaitsThroughAFailedUpstreamUntilItIsKilled") {
  SpeculativeStep s;
  CollectingSink& sink = s.sink;
  bool prepared = s.StartAndAwaitPrepared();
  s.handoff.Deliver(s.Upstream(/*exit_code=*/1));
  // Still waiting: only the scheduler withdraws it.
  CHECK(s.handoff.waiting() == 1);
  s.attempt->Kill(0, "its upstream failed");
  s.runner.join();
  CHECK(prepared);
  REQUIRE(sink.finished);
  CHECK(sink.finished->error == "killed before it started: its upstream failed");
  CHECK(sink.finished->system_failure == true);
  CHECK_FALSE(sink.started());
  CHECK(s.handoff.waiting() == 0);
}

TEST_CASE("AttemptTest.SpeculativeAttemptIsDroppedWhenItsUpstreamMadeWhatACachedResultUsed") {
  SpeculativeStep s;
  protocol::AttemptFinished upstream = s.Upstream();
  s.dispatch.unless_upstream_made =
      std::vector<std::string>{Must(receta::UpstreamManifest({"model.txt"}, upstream.outputs))};
  s.handoff.Expect(s.dispatch.attempt_id, "r.0-1");
  s.handoff.Deliver(upstream);  // before it runs: the same answer
  auto attempt = s.f.Make(s.dispatch, nullptr, &s.handoff);
  CollectingSink sink;
  attempt->Run(sink);
  CHECK_FALSE(sink.finished);
  REQUIRE(sink.dropped);
  CHECK(*sink.dropped == "attempt r.0-1 made what a cached result of step s was made from");
  CHECK_FALSE(sink.started());
  CHECK(access(s.SandboxFile("params.txt").c_str(), F_OK) != 0);
}

TEST_CASE("AttemptTest.SpeculativeAttemptWhoseUpstreamMadeNoInputOfItsIsTheStepsFailure") {
  SpeculativeStep s;
  protocol::AttemptFinished upstream = s.Upstream();
  upstream.outputs[0].path = "other.txt";
  s.handoff.Expect(s.dispatch.attempt_id, "r.0-1");
  s.handoff.Deliver(upstream);
  auto attempt = s.f.Make(s.dispatch, nullptr, &s.handoff);
  CollectingSink sink;
  attempt->Run(sink);
  REQUIRE(sink.finished);
  CHECK(sink.finished->error ==
        "could not place the inputs: input 'model.txt': attempt r.0-1 produced no file at or "
        "under it");
  CHECK(sink.finished->system_failure != true);
  CHECK_FALSE(sink.started());
}

TEST_CASE("AttemptTest.SpeculativeAttemptWithNothingToWaitOnEndsAtOnce") {
  SpeculativeStep s;
  CollectingSink sink;
  s.f.Make(s.dispatch)->Run(sink);  // no handoff
  REQUIRE(sink.finished);
  CHECK(sink.finished->error == "its upstream attempt r.0-1 is not known to this worker");
  CHECK(sink.finished->system_failure == true);
}

TEST_CASE("AttemptTest.AnAttemptHandsItsResultToTheStepWaitingOnItBeforeItReports") {
  Fixture f;
  UpstreamHandoff handoff;
  handoff.Expect("r.1s7-1", "r.0-1");
  protocol::Dispatch d = f.Dispatch("printf 'w' > model.txt");
  d.outputs = {"model.txt"};
  struct CheckingSink : CollectingSink {
    UpstreamHandoff* handoff;
    std::optional<protocol::AttemptFinished> handed;
    void Finished(protocol::AttemptFinished finished) override {
      handed = handoff->AwaitSuccess("r.1s7-1", [] { return true; });
      CollectingSink::Finished(std::move(finished));
    }
  } sink;
  sink.handoff = &handoff;
  f.Make(d, nullptr, &handoff)->Run(sink);
  REQUIRE(sink.finished);
  REQUIRE(sink.handed);
  REQUIRE(sink.handed->outputs.size() == 1);
  CHECK(sink.handed->outputs[0].digest == receta::HashBytes("w").ToHex());
  CHECK_FALSE(sink.handed->inline_blobs.has_value());
}

TEST_CASE("AttemptTest.AStepWaitingOnAnAttemptGetsItsResultOnlyOnceItsOutputsAreUploaded") {
  // A chain's next step must not run on outputs the scheduler may never
  // get (a worker killed mid-upload): a large output is handed over after
  // its upload, not before.
  Fixture f;
  UpstreamHandoff handoff;
  handoff.Expect("r.1s7-1", "r.0-1");
  bool handed_before_upload = true;
  f.remote.before_upload = [&] {
    handed_before_upload = handoff.AwaitSuccess("r.1s7-1", [] { return true; }).has_value();
  };
  protocol::Dispatch d = f.Dispatch("head -c 300000 /dev/zero > model.bin");
  d.outputs = {"model.bin"};
  CollectingSink sink;
  f.Make(d, nullptr, &handoff)->Run(sink);
  REQUIRE(sink.finished);
  CHECK(sink.finished->error == "");
  CHECK(*f.remote.uploads == 1);
  CHECK_FALSE(handed_before_upload);
  std::optional<protocol::AttemptFinished> handed =
      handoff.AwaitSuccess("r.1s7-1", [] { return true; });
  REQUIRE(handed);
  REQUIRE(handed->outputs.size() == 1);
  CHECK(handed->outputs[0].digest == receta::HashBytes(std::string(300000, '\0')).ToHex());
}

TEST_CASE("DiskFullTest.RecognisesEnospcText") {
  CHECK(SaysDiskFull(std::string("cannot write 'x': ") + strerror(ENOSPC)));
  CHECK(SaysDiskFull("cannot copy: " +
                     std::make_error_code(std::errc::no_space_on_device).message()));
  CHECK_FALSE(SaysDiskFull("cannot write 'x': Permission denied"));
}

TEST_CASE("DiskFullTest.NoNoteForADiskWithRoom") {
  TempDir dir;
  CHECK_FALSE(DiskFullNote(dir.Path()).has_value());
  CHECK_FALSE(DiskFullNote(dir.Path("does-not-exist")).has_value());
}

// ---- EventMailbox --------------------------------------------------------------

namespace {

bool Readable(int fd, std::chrono::milliseconds wait = std::chrono::milliseconds(0)) {
  pollfd item{fd, POLLIN, 0};
  return poll(&item, 1, static_cast<int>(wait.count())) == 1 && (item.revents & POLLIN);
}

// As the agent's loop does: waits up to `timeout` for the fd, then takes
// what is there (nothing on timeout).
std::deque<std::string> WaitAndTakeAll(EventMailbox& mailbox, std::chrono::milliseconds timeout) {
  Readable(mailbox.fd(), timeout);
  return mailbox.TakeAll();
}

}  // namespace

TEST_CASE("EventMailboxTest.TheFdIsReadableExactlyWhileFramesWait") {
  Result<std::unique_ptr<EventMailbox>> made = EventMailbox::Create();
  REQUIRE(made.ok());
  EventMailbox& mailbox = **made;
  CHECK_FALSE(Readable(mailbox.fd()));
  CHECK(mailbox.TakeAll().empty());
  mailbox.Post("a");
  mailbox.Post("b");  // the second post does not need a second wake-up
  CHECK(Readable(mailbox.fd()));
  CHECK(mailbox.TakeAll() == std::deque<std::string>{"a", "b"});
  CHECK_FALSE(Readable(mailbox.fd()));  // else the main loop would spin
  mailbox.Post("c");
  CHECK(Readable(mailbox.fd()));
  CHECK(WaitAndTakeAll(mailbox, std::chrono::milliseconds(0)) == std::deque<std::string>{"c"});
  CHECK(WaitAndTakeAll(mailbox, std::chrono::milliseconds(10)).empty());
}

// Frames from many threads all arrive, each thread's in the order it
// posted them, while the reader takes them as they come.
TEST_CASE("EventMailboxTest.EveryFrameFromManyThreadsArrivesInEachThreadsOrder") {
  Result<std::unique_ptr<EventMailbox>> made = EventMailbox::Create();
  REQUIRE(made.ok());
  EventMailbox& mailbox = **made;
  constexpr int kThreads = 4;
  constexpr int kFrames = 5000;
  std::vector<std::thread> posters;
  for (int t = 0; t < kThreads; ++t) {
    posters.emplace_back([&mailbox, t] {
      for (int i = 0; i < kFrames; ++i) mailbox.Post(std::to_string(t) + ":" + std::to_string(i));
    });
  }
  std::vector<int> next(kThreads, 0);
  int received = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (received < kThreads * kFrames && std::chrono::steady_clock::now() < deadline) {
    for (const std::string& frame : WaitAndTakeAll(mailbox, std::chrono::milliseconds(100))) {
      size_t colon = frame.find(':');
      int t = std::stoi(frame.substr(0, colon));
      int i = std::stoi(frame.substr(colon + 1));
      CHECK(i == next[t]);
      next[t] = i + 1;
      ++received;
    }
  }
  for (std::thread& poster : posters) poster.join();
  CHECK(received == kThreads * kFrames);
  CHECK_FALSE(Readable(mailbox.fd()));
}

// ---- AttemptPool ---------------------------------------------------------------

namespace {

// The agent's end of the pool's mailbox: frames as PushSink posts them.
struct PoolEvents {
  std::unique_ptr<EventMailbox> mailbox = MakeMailbox();
  std::deque<std::string> frames;  // taken from the mailbox, not yet looked at
  static std::unique_ptr<EventMailbox> MakeMailbox() {
    Result<std::unique_ptr<EventMailbox>> made = EventMailbox::Create();
    REQUIRE(made.ok());
    return std::move(*made);
  }
  // The next frame's kind and the attempt it is about. A result is taken
  // from `pool`, where it waits for the main thread, exactly once.
  std::pair<char, std::string> Next(AttemptPool& pool) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (frames.empty() && std::chrono::steady_clock::now() < deadline) {
      frames = WaitAndTakeAll(*mailbox, std::chrono::milliseconds(100));
    }
    REQUIRE_FALSE(frames.empty());
    const std::string frame = std::move(frames.front());
    frames.pop_front();
    std::optional<PushSink::Event> event = PushSink::Parse(frame);
    REQUIRE(event);
    const char kind = event->kind;
    if (kind == PushSink::kSlotFree) return {kind, std::string(event->attempt_id)};
    if (kind == PushSink::kFinished) {
      CHECK(event->header.empty());  // the result stays in the process
      const std::string id(event->attempt_id);
      std::optional<protocol::AttemptFinished> f = pool.TakeFinished(id);
      REQUIRE(f.has_value());
      CHECK(f->attempt_id == id);
      CHECK_MESSAGE(f->error.empty(), f->error);
      CHECK_FALSE(pool.TakeFinished(id).has_value());
      return {kind, f->attempt_id};
    }
    Result<protocol::Envelope> envelope = protocol::Decode(event->header);
    REQUIRE(envelope.ok());
    if (auto* s = std::get_if<protocol::AttemptStarted>(&envelope->message)) return {kind, s->attempt_id};
    if (auto* l = std::get_if<protocol::LogChunk>(&envelope->message)) return {kind, l->attempt_id};
    FAIL("unexpected ", protocol::NameOf(envelope->message));
    return {};
  }
};

}  // namespace

TEST_CASE("AttemptPoolTest.AttemptsOneAfterAnotherShareOneThread") {
  Fixture fx;
  PoolEvents events;
  AttemptPool pool(*events.mailbox);
  for (const std::string id : {"r.0-1", "r.1-1", "r.2-1"}) {
    protocol::Dispatch d = fx.Dispatch("echo " + id);
    d.attempt_id = id;
    // The last attempt's thread is back waiting (it pushes the result just
    // before it gets there).
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (pool.idle() < pool.threads() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
    pool.Submit(fx.Make(std::move(d)));
    std::vector<std::pair<char, std::string>> seen;
    while (seen.empty() || seen.back().first != PushSink::kFinished)
      seen.push_back(events.Next(pool));
    // In order: started, its log, the slot freed, then the result.
    CHECK(seen.front() == std::pair{PushSink::kStarted, id});
    CHECK(seen[seen.size() - 2] == std::pair{PushSink::kSlotFree, id});
    CHECK(seen.back().second == id);
  }
  CHECK(pool.threads() == 1);
  pool.Stop();
}

// The main thread hears of a process's end only while it holds dispatches
// waiting for room (the agent's flag); the result comes either way.
TEST_CASE("AttemptPoolTest.AProcessEndIsToldOnlyWhileDispatchesWait") {
  Fixture fx;
  PoolEvents events;
  std::atomic<bool> waiting{false};
  AttemptPool pool(*events.mailbox, &waiting);
  for (const bool wait : {false, true, false}) {
    waiting = wait;
    const std::string id = std::string("r.") + (wait ? "1" : "0") + "-1";
    protocol::Dispatch d = fx.Dispatch("true");
    d.attempt_id = id;
    pool.Submit(fx.Make(std::move(d)));
    std::vector<char> kinds;
    while (kinds.empty() || kinds.back() != PushSink::kFinished)
      kinds.push_back(events.Next(pool).first);
    const bool told = std::count(kinds.begin(), kinds.end(), PushSink::kSlotFree) == 1;
    CHECK_MESSAGE(told == wait, "dispatches waiting: " << wait);
  }
  pool.Stop();
}

TEST_CASE("AttemptPoolTest.AttemptsAtOnceGetThreadsOfTheirOwnAndStopWaitsForThem") {
  Fixture fx;
  PoolEvents events;
  AttemptPool pool(*events.mailbox);
  const std::string gate = fx.dir.Path("gate");
  for (const std::string id : {"r.0-1", "r.1-1"}) {
    protocol::Dispatch d = fx.Dispatch("while [ ! -e '" + gate + "' ]; do sleep 0.01; done");
    d.attempt_id = id;
    pool.Submit(fx.Make(std::move(d)));
  }
  // Both run at once: both start before either can end.
  std::set<std::string> started;
  while (started.size() < 2) {
    auto [kind, id] = events.Next(pool);
    REQUIRE(kind == PushSink::kStarted);
    started.insert(id);
  }
  CHECK(pool.threads() == 2);
  std::ofstream(gate).put('x');
  pool.Stop();  // returns once both attempts ended
  size_t finished = 0;
  for (int i = 0; i < 4; ++i) finished += events.Next(pool).first == PushSink::kFinished ? 1 : 0;
  CHECK(finished == 2);
}
