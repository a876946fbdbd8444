// The client verbs run in-process against the FakeScheduler: what they send,
// what they print, and their exit codes. No real scheduler needed.
#include <doctest/doctest.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "cli/app.h"
#include "cli/client_commands.h"
#include "common/hash/sha256.h"
#include "tests/unit/fake_scheduler.h"
#include "tests/unit/test_files.h"
#include "tests/unit/test_support.h"

using namespace receta;
using namespace receta::cli;
using receta::testing::FakeScheduler;
using receta::testing::ReadFile;
using receta::testing::TempDir;

namespace {

const receta::testing::UtcTimeZone kUtc;

// Keeps the stat cache of these tests out of the user's home.
// (mkdtemp, not TempDir: doctest assertions cannot run before main.)
struct PrivateCacheHome {
  PrivateCacheHome() {
    static std::string cache_home = [] {
      std::string name = (std::filesystem::temp_directory_path() / "receta-xdg-XXXXXX").string();
      return mkdtemp(name.data()) ? name : std::string("/tmp");
    }();
    setenv("XDG_CACHE_HOME", cache_home.c_str(), 1);
  }
};
const PrivateCacheHome kCacheHome;

ClientArgs To(const FakeScheduler& server, bool json = false) {
  return ClientArgs{server.endpoint(), json};
}

const char* kRunning = R"({"id":"r-1","dag":"p","state":"running","submitted_ms":1714564800000,
  "event_seq":5,"steps":[{"name":"a","state":"running","worker":"w-1"},{"name":"b","state":"pending"}]})";
const char* kSucceeded = R"({"id":"r-1","dag":"p","state":"succeeded","submitted_ms":1714564800000,
  "duration_ms":9000,"event_seq":9,"steps":[{"name":"a","state":"succeeded"},{"name":"b","state":"cached"}]})";

// A scheduler whose run r-1 finishes over two Events polls.
std::optional<protocol::Message> ScriptedRun(const protocol::Message& request,
                                             std::atomic<bool>& finished) {
  using namespace protocol;
  if (auto* status = std::get_if<RunStatus>(&request)) {
    if (status->run_id != "r-1")
      return Error{ErrorCode::kNotFound, "no run '" + status->run_id + "'"};
    return RunStatusReply{finished ? kSucceeded : kRunning};
  }
  if (auto* events = std::get_if<Events>(&request)) {
    if (events->after_seq == 5) {
      return EventsReply{
          R"([{"seq":6,"time_ms":1714564801000,"kind":"step_succeeded","run_id":"r-1","step":"a","state":"succeeded"},
        {"seq":7,"time_ms":1714564802000,"kind":"step_cached","run_id":"r-1","step":"b","state":"cached"}])",
          7};
    }
    if (events->after_seq == 7) {
      finished = true;
      return EventsReply{
          R"([{"seq":9,"time_ms":1714564803000,"kind":"run_succeeded","run_id":"r-1"}])", 9};
    }
    return EventsReply{"[]", events->after_seq};
  }
  return std::nullopt;
}

}  // namespace

TEST_CASE("ClientVerbsTest.UnreachableSchedulerIsOneLineNamingTheEndpoint") {
  FakeScheduler silent(FakeScheduler::Options{.silent = true});
  std::ostringstream out, err;
  auto started = std::chrono::steady_clock::now();
  CHECK(WorkersCommand(To(silent), out, err) == 1);
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(8));
  CHECK(err.str() == "receta: no reply from the scheduler at " + silent.endpoint() +
                         " after 5s; is receta-scheduler running? (set --scheduler or "
                         "RECETA_SCHEDULER)\n");
  CHECK(out.str().empty());
}

TEST_CASE("ClientVerbsTest.ReadVerbsPrintJsonVerbatimOrTables") {
  FakeScheduler server;
  std::atomic<bool> finished{false};
  server.SetHandler([&](const protocol::Message& request) -> std::optional<protocol::Message> {
    using namespace protocol;
    if (auto* list = std::get_if<ListRuns>(&request)) {
      CHECK(list->limit == 20);
      CHECK(list->dag_name == std::optional<std::string>("p"));
      return ListRunsReply{R"([{"id":"r-1","dag":"p","state":"running"}])"};
    }
    if (std::holds_alternative<ListWorkers>(request)) return ListWorkersReply{"[]"};
    if (std::holds_alternative<CacheList>(request)) return CacheListReply{"not json"};
    return ScriptedRun(request, finished);
  });
  std::ostringstream out, err;
  CHECK(RunsCommand(RunsArgs{To(server, true), 20, "p"}, out, err) == 0);
  CHECK(out.str() == "[{\"id\":\"r-1\",\"dag\":\"p\",\"state\":\"running\"}]\n");
  out.str("");
  CHECK(RunsCommand(RunsArgs{To(server), 20, "p"}, out, err) == 0);
  CHECK(out.str().find("r-1  p    running") != std::string::npos);
  out.str("");
  CHECK(StatusCommand(To(server, true), "r-1", out, err) == 0);
  CHECK(out.str() == std::string(kRunning) + "\n");
  out.str("");
  CHECK(StatusCommand(To(server), "r-9", out, err) == 1);
  CHECK(err.str() == "receta: no run 'r-9'\n");
  err.str("");
  CHECK(WorkersCommand(To(server), out, err) == 0);
  CHECK(out.str().find("no workers have registered") == 0);
  CHECK(CacheLsCommand(To(server), out, err) == 1);
  CHECK(err.str().find("receta: the scheduler sent a malformed cache entries document") == 0);
}

TEST_CASE("ClientVerbsTest.StatusOfARunTooBigForItsFullStatusShowsTheBriefOneAndSaysSo") {
  FakeScheduler server;
  server.SetHandler([&](const protocol::Message& request) -> std::optional<protocol::Message> {
    if (!std::holds_alternative<protocol::RunStatus>(request)) return std::nullopt;
    return protocol::RunStatusReply{
        R"({"id":"r-1","dag":"big","state":"running","brief":true,)"
        R"("brief_because":"its full status (100000 steps, 97 MiB) is over the 64 MiB a reply may carry",)"
        R"("steps":[{"name":"s0","state":"succeeded","worker":"w1","started_ms":0,"duration_ms":1200,"error":"","reason":""}]})"};
  });
  std::ostringstream out, err;
  CHECK(StatusCommand(To(server), "r-1", out, err) == 0);
  CHECK(err.str() ==
        "receta: run r-1: its full status (100000 steps, 97 MiB) is over the 64 MiB a reply may carry; "
        "showing each step's state, worker, duration and error only\n");
  // The counts a brief document lacks are "?", not made-up zeros.
  CHECK_MESSAGE(out.str().find("s0    succeeded  ?         ?         w1") != std::string::npos, out.str());
  out.str("");
  err.str("");
  CHECK(StatusCommand(To(server, true), "r-1", out, err) == 0);
  CHECK(out.str().find("\"brief_because\"") != std::string::npos);
  CHECK(err.str().find("over the 64 MiB") != std::string::npos);
}

TEST_CASE("ClientVerbsTest.WatchFollowsEventsToTheEnd") {
  FakeScheduler server;
  std::atomic<bool> finished{false};
  server.SetHandler([&](const protocol::Message& r) { return ScriptedRun(r, finished); });
  std::ostringstream out, err;
  CHECK(WatchCommand(To(server), "r-1", out, err, /*tty=*/false) == 0);
  CHECK(out.str() ==
        "watching run r-1: 0/2 steps finished\n"
        "12:00:01 a succeeded\n"
        "12:00:02 b cached\n"
        "12:00:03 run succeeded (2/2 steps finished)\n"
        "run r-1 succeeded in 9.0s: 1 ran, 1 cached, 2 steps\n");
  CHECK(err.str().empty());

  finished = false;
  std::ostringstream screen;
  CHECK(WatchCommand(To(server), "r-1", screen, err, /*tty=*/true) == 0);
  CHECK(screen.str().find("\x1b[") != std::string::npos);
  CHECK(screen.str().find("[####################] 2/2") != std::string::npos);

  std::ostringstream missing;
  CHECK(WatchCommand(To(server), "r-404", missing, err, false) == 1);
  CHECK(err.str() == "receta: no run 'r-404'\n");
}

TEST_CASE("ClientVerbsTest.SubmitSendsMissingInputsAndPrintsTheRunId") {
  TempDir dir;
  std::filesystem::create_directories(dir.Path("src"));
  dir.Write("src/a.py", "print(1)\n");
  dir.Write("src/b.py", "print(2)\n");
  const std::string weights(300'000, 'w');  // over the inline limit: uploaded
  dir.Write("src/weights.bin", weights);
  dir.Write("p.yaml", R"(name: p
params:
  n: 1
steps:
  a:
    run: python3 src/a.py {{params.n}}
    inputs: [src]
    outputs: [out.txt]
)");
  FakeScheduler server;
  server.PutBlob("print(2)\n");  // already there: must not be uploaded again
  std::atomic<bool> finished{false};
  std::mutex mu;
  protocol::SubmitRun submitted;
  server.SetHandler([&](const protocol::Message& request) -> std::optional<protocol::Message> {
    if (auto* submit = std::get_if<protocol::SubmitRun>(&request)) {
      std::lock_guard<std::mutex> lock(mu);
      submitted = *submit;
      return protocol::SubmitReply{"r-1"};
    }
    return ScriptedRun(request, finished);
  });
  SubmitArgs args{To(server), dir.Path("p.yaml"), {"n=3"}, /*no_cache=*/true, /*wait=*/false};
  std::ostringstream out, err;
  CHECK(SubmitCommand(args, out, err, false) == 0);
  CHECK(out.str() == "r-1\n");
  CHECK_MESSAGE(err.str().find("uploading 2 files (293.0 KiB)") != std::string::npos, err.str());
  CHECK(server.Blob(HashBytes(weights).ToHex()) == weights);
  {
    std::lock_guard<std::mutex> lock(mu);
    // The small missing file travels with the request; the one already
    // there does not.
    REQUIRE(submitted.inline_blobs.has_value());
    REQUIRE(submitted.inline_blobs->size() == 1);
    CHECK(submitted.inline_blobs->at(0).digest == HashBytes("print(1)\n").ToHex());
    CHECK(submitted.inline_blobs->at(0).data == "print(1)\n");
    CHECK(submitted.dag_yaml == ReadFile(dir.Path("p.yaml")));
    CHECK(submitted.params == std::map<std::string, std::string>{{"n", "3"}});
    CHECK(submitted.no_cache);
    REQUIRE(submitted.workspace.size() == 3);
    CHECK(submitted.workspace[0] ==
          protocol::FileEntry{"src/a.py", HashBytes("print(1)\n").ToHex(), 9, false});
    CHECK(submitted.workspace[1].path == "src/b.py");
    CHECK(submitted.workspace[2].path == "src/weights.bin");
  }
  int puts = 0;
  for (const std::string& name : server.requests()) puts += name == "BlobPutBegin";
  CHECK(puts == 1);

  // --wait follows the run (on stderr: stdout stays the run id alone) and
  // exits with its outcome.
  args.wait = true;
  std::ostringstream waited, followed;
  CHECK(SubmitCommand(args, waited, followed, false) == 0);
  CHECK(waited.str() == "r-1\n");
  CHECK(followed.str().find("watching run r-1") != std::string::npos);
  CHECK(followed.str().find("run r-1 succeeded") != std::string::npos);

  // A DAG with errors is never sent.
  dir.Write("bad.yaml", "name: bad\nsteps:\n  a:\n    run: x\n    needs: [nope]\n");
  std::ostringstream bad_out, bad_err;
  CHECK(SubmitCommand(SubmitArgs{To(server), dir.Path("bad.yaml"), {}, false, false}, bad_out,
                      bad_err, false) == 1);
  CHECK(bad_err.str().find("nothing was submitted") != std::string::npos);
  CHECK(bad_out.str().empty());
  // A malformed -p is a usage error.
  CHECK(SubmitCommand(SubmitArgs{To(server), dir.Path("p.yaml"), {"n"}, false, false}, bad_out,
                      bad_err, false) == 2);
}

TEST_CASE("ClientVerbsTest.LogsFollowsUntilFinishedAndMapsAttemptNumbers") {
  FakeScheduler server;
  std::atomic<bool> finished{false};
  std::vector<protocol::Logs> seen;
  std::mutex mu;
  server.SetHandler([&](const protocol::Message& request) -> std::optional<protocol::Message> {
    if (auto* logs = std::get_if<protocol::Logs>(&request)) {
      std::lock_guard<std::mutex> lock(mu);
      seen.push_back(*logs);
      if (logs->offset == 0) return protocol::LogsReply{"r-1.0-2", "hello ", 6, false};
      if (logs->offset == 6) return protocol::LogsReply{"r-1.0-2", "world\n", 12, true};
      return protocol::Error{protocol::ErrorCode::kInternal, "bad offset"};
    }
    if (std::holds_alternative<protocol::RunStatus>(request)) {
      return protocol::RunStatusReply{R"({"id":"r-1","steps":[{"name":"a","attempt_history":[
        {"id":"r-1.0-1","number":1},{"id":"r-1.0-2","number":2}]}]})"};
    }
    return ScriptedRun(request, finished);
  });
  std::ostringstream out, err;
  CHECK(LogsCommand(LogsArgs{To(server), "r-1", "a", 1, true}, out, err) == 0);
  CHECK(out.str() == "hello world\n");
  {
    std::lock_guard<std::mutex> lock(mu);
    REQUIRE(seen.size() == 2);
    CHECK(seen[0].attempt_id == std::optional<std::string>("r-1.0-1"));
    CHECK(seen[0].wait_ms > 0);
  }
  CHECK(LogsCommand(LogsArgs{To(server), "r-1", "a", 3, false}, out, err) == 1);
  CHECK(err.str() == "receta: step 'a' of run r-1 has no attempt 3; its attempts are 1, 2\n");
}

TEST_CASE("ClientVerbsTest.ArtifactsGetDownloadsOrListsWhatThereIs") {
  FakeScheduler server;
  std::string model(3u << 20, 'm');
  server.PutBlob(model);
  std::string digest = HashBytes(model).ToHex();
  server.SetHandler([&](const protocol::Message& request) -> std::optional<protocol::Message> {
    if (std::holds_alternative<protocol::ListArtifacts>(request)) {
      return protocol::ListArtifactsReply{
          R"([{"step":"train","path":"model/model.pkl","digest":")" + digest +
          R"(","size_bytes":3145728,"executable":false},{"step":"train","path":"model/notes.txt","digest":")" +
          std::string(64, 'a') + R"(","size_bytes":1,"executable":false}])"};
    }
    return std::nullopt;
  });
  TempDir dir;
  std::ostringstream out, err;
  ArtifactGetArgs args{To(server), "r-1", "train", "model/model.pkl", dir.Path("m.pkl")};
  CHECK(ArtifactsGetCommand(args, out, err) == 0);
  CHECK(ReadFile(dir.Path("m.pkl")) == model);
  // -o - writes the verified bytes to stdout.
  std::ostringstream piped;
  args.output = "-";
  CHECK(ArtifactsGetCommand(args, piped, err) == 0);
  CHECK(piped.str() == model);
  args.path = "model/nope.pkl";
  CHECK(ArtifactsGetCommand(args, out, err) == 1);
  CHECK(err.str().find("step 'train' of run r-1 has no artifact 'model/nope.pkl'; its artifacts "
                       "are:\n  model/model.pkl\n  model/notes.txt\n") != std::string::npos);
  args.path = "model/notes.txt";
  CHECK(ArtifactsGetCommand(args, out, err) == 1);
  CHECK(err.str().find("blob " + std::string(64, 'a') + " is not in the scheduler's store") !=
        std::string::npos);
}

TEST_CASE("ClientVerbsTest.CacheRmTakesAKeyPrefixOrDagAndStep") {
  FakeScheduler server;
  std::string key_a = std::string(60, 'a') + "0001";
  std::string key_b = std::string(60, 'a') + "0002";
  std::mutex mu;
  std::vector<protocol::CacheRemove> removes;
  server.SetHandler([&](const protocol::Message& request) -> std::optional<protocol::Message> {
    if (std::holds_alternative<protocol::CacheList>(request)) {
      return protocol::CacheListReply{R"([{"key":")" + key_a + R"("},{"key":")" + key_b + R"("}])"};
    }
    if (auto* remove = std::get_if<protocol::CacheRemove>(&request)) {
      std::lock_guard<std::mutex> lock(mu);
      removes.push_back(*remove);
      return protocol::CacheRemoveReply{1};
    }
    if (std::holds_alternative<protocol::CacheGc>(request))
      return protocol::CacheGcReply{3, 2048, 7};
    return std::nullopt;
  });
  std::ostringstream out, err;
  CHECK(CacheRmCommand(CacheRmArgs{To(server), std::string(60, 'a') + "0002", "", ""}, out, err) ==
        0);
  CHECK(out.str() == "removed 1 cache entry\n");
  CHECK(CacheRmCommand(CacheRmArgs{To(server), "aaaa", "", ""}, out, err) == 1);
  CHECK(err.str().find("'aaaa' starts 2 cache keys") != std::string::npos);
  CHECK(CacheRmCommand(CacheRmArgs{To(server), "", "p", "train"}, out, err) == 0);
  CHECK(CacheRmCommand(CacheRmArgs{To(server), "", "p", ""}, out, err) == 2);
  CHECK(CacheRmCommand(CacheRmArgs{To(server), "k", "p", "train"}, out, err) == 2);
  {
    std::lock_guard<std::mutex> lock(mu);
    REQUIRE(removes.size() == 2);
    CHECK(removes[0].key == key_b);
    CHECK(removes[1].dag_name == std::optional<std::string>("p"));
    CHECK(removes[1].step == std::optional<std::string>("train"));
  }
  out.str("");
  CHECK(CacheGcCommand(To(server), 0, out, err) == 0);
  CHECK(out.str() == "removed 3 blobs (2.0 KiB freed); kept 7\n");
}

TEST_CASE("ClientVerbsTest.UsageErrorsExitTwo") {
  auto run = [](std::vector<std::string> args) {
    args.insert(args.begin(), "receta");
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    return RunCli(static_cast<int>(argv.size()), argv.data());
  };
  CHECK(run({"submit"}) == 2);
  CHECK(run({"status"}) == 2);
  CHECK(run({"logs", "r-1"}) == 2);
  CHECK(run({"logs", "r-1", "a", "--attempt", "0"}) == 2);
  CHECK(run({"runs", "--limit", "many"}) == 2);
  CHECK(run({"artifacts"}) == 2);
  CHECK(run({"artifacts", "get", "r-1", "train"}) == 2);
  CHECK(run({"cache", "rm"}) == 2);
  CHECK(run({"cache", "frob"}) == 2);
  CHECK(run({"workers", "--bogus"}) == 2);
  CHECK(run({"runs", "--scheduler", "nonsense"}) == 1);
}

TEST_CASE("ClientVerbsTest.EventsPrintsTheLogAfterSinceUntilNothingIsLeft") {
  FakeScheduler server;
  std::mutex mu;
  std::vector<protocol::Events> asked;
  server.SetHandler([&](const protocol::Message& request) -> std::optional<protocol::Message> {
    auto* events = std::get_if<protocol::Events>(&request);
    if (events == nullptr) return std::nullopt;
    std::lock_guard<std::mutex> lock(mu);
    asked.push_back(*events);
    if (events->run_id && *events->run_id == "r-404") {
      return protocol::Error{protocol::ErrorCode::kNotFound, "no run r-404"};
    }
    if (events->after_seq >= 8) return protocol::EventsReply{"[]", events->after_seq};
    return protocol::EventsReply{
        R"([{"seq":7,"time_ms":1714564800000,"kind":"step_started","run_id":"r-1","step":"a",)"
        R"("attempt_id":"r-1.0-1","worker_id":"0b6f","worker":"w1","state":"running","message":"running on w1"},)"
        R"({"seq":8,"time_ms":1714564801000,"kind":"run_succeeded","run_id":"r-1","step":"",)"
        R"("attempt_id":"","worker_id":"","worker":"","state":"succeeded","message":""}])",
        8};
  });
  std::ostringstream out, err;
  EventsArgs args{To(server), "r-1", 6, false};
  CHECK(EventsCommand(args, out, err) == 0);
  CHECK(out.str() ==
        "7 12:00:00 step_started run=r-1 step=a attempt=r-1.0-1 worker=w1: running on w1\n"
        "8 12:00:01 run_succeeded run=r-1\n");
  {
    std::lock_guard<std::mutex> lock(mu);
    REQUIRE(asked.size() == 2);  // the log after 6, then nothing after 8
    CHECK(asked[0].after_seq == 6);
    CHECK(asked[0].run_id == std::optional<std::string>("r-1"));
    CHECK(asked[0].wait_ms == 0);
    CHECK(asked[1].after_seq == 8);
  }
  std::ostringstream json;
  args.client.json = true;
  CHECK(EventsCommand(args, json, err) == 0);
  CHECK(json.str().rfind("[{\"seq\":7", 0) == 0);

  std::ostringstream none, missing;
  args.run_id = "r-404";
  CHECK(EventsCommand(args, none, missing) == 1);
  CHECK(missing.str() == "receta: no run r-404\n");
}
