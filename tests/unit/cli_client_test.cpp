// The CLI's client verbs: text views of the scheduler's JSON documents, the
// watch view, workspace-input collection for submit, argument errors, and
// every verb driven in-process against the FakeScheduler.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cli/app.h"
#include "cli/cache_pruning.h"
#include "cli/client_commands.h"
#include "cli/dag_plan_cache.h"
#include "cli/run_views.h"
#include "cli/table.h"
#include "cli/watch_view.h"
#include "cli/workspace_inputs.h"
#include "common/dag/dag_load.h"
#include "common/hash/sha256.h"
#include "common/json/json_value.h"
#include "tests/unit/fake_scheduler.h"
#include "tests/unit/test_files.h"
#include "tests/unit/test_support.h"

using namespace receta;
using namespace receta::cli;
using receta::testing::FakeScheduler;
using receta::testing::ReadFile;
using receta::testing::TempDir;
using receta::testing::WriteFile;

namespace {

// 2024-05-01 12:00:00 UTC.
constexpr int64_t kNoon = 1714564800000;

const receta::testing::UtcTimeZone kUtc;

JsonValue Json(const std::string& text) { return receta::testing::Must(ParseJson(text)); }

const char* kRunsJson = R"([
  {"id":"r-2","dag":"iris","state":"running","submitted_ms":1714564790000,"finished_ms":0,
   "duration_ms":10000,"steps_total":4,"steps_done":1,"steps_failed":0},
  {"id":"r-1","dag":"iris","state":"failed","submitted_ms":1714400000000,"finished_ms":1714400065000,
   "duration_ms":65000,"steps_total":4,"steps_done":3,"steps_failed":1}])";

const char* kRunJson =
    R"({"id":"r-1","dag":"iris","dag_file":"dags/iris/iris.yaml","state":"failed",
  "error":"step 'train' failed","submitted_ms":1714564700000,"finished_ms":1714564765000,
  "duration_ms":65000,"event_seq":12,"params":{"seed":2024,"lr":"0.1"},
  "steps":[
   {"name":"prepare","state":"cached","attempts":0,"worker":"","cache_key":"ab","duration_ms":0,
    "error":"","cached":true,"cached_from_run":"r-0","reason":"","exit_code":0,"metrics":{},
    "attempt_history":[]},
   {"name":"train","state":"failed","attempts":2,"worker":"w-ab12","cache_key":"cd",
    "duration_ms":3200,"error":"exit code 1","cached":false,"cached_from_run":"","reason":"",
    "exit_code":1,"user_failures":1,"system_failures":1,"metrics":{},"attempt_history":[
      {"id":"r-1.1-1","number":1,"worker":"w-ab12","state":"failed","exit_code":1,"duration_ms":1000,"error":"exit code 1"},
      {"id":"r-1.1-2","number":2,"worker":"w-ab12","state":"failed","exit_code":1,"duration_ms":2200,"error":"exit code 1"}]},
   {"name":"eval","state":"retrying","attempts":1,"worker":"w-ab12","cache_key":"ef","duration_ms":900,
    "error":"exited with code 3","cached":false,"cached_from_run":"","reason":"","exit_code":3,
    "user_failures":1,"system_failures":0,"retry_at_ms":1714564805000,"metrics":{},"attempt_history":[]},
   {"name":"gpu","state":"waiting","attempts":0,"worker":"","cache_key":"","duration_ms":0,
    "error":"no live worker has labels [gpu]; start one with --labels gpu","cached":false,
    "cached_from_run":"","reason":"no matching worker","exit_code":0,"metrics":{},"attempt_history":[]}]})";

}  // namespace

TEST_CASE("TableTest.FormatsDurationsTimesAndSizes") {
  CHECK(FormatDuration(0) == "-");
  CHECK(FormatDuration(400) == "0.4s");
  CHECK(FormatDuration(12345) == "12s");
  CHECK(FormatDuration(184000) == "3m04s");
  CHECK(FormatDuration(7500000) == "2h05m");
  CHECK(FormatLocalTime(kNoon + 3661000, kNoon) == "13:01:01");
  CHECK(FormatLocalTime(kNoon - 86400000, kNoon) == "2024-04-30 12:00");
  CHECK(FormatLocalTime(0, kNoon) == "-");
  CHECK(FormatAgo(kNoon - 2000, kNoon) == "2s ago");
  CHECK(FormatAgo(kNoon - 600000, kNoon) == "10m ago");
  CHECK(FormatAgo(kNoon + 500, kNoon) == "now");
  CHECK(FormatAgo(0, kNoon) == "never");
  CHECK(FormatBytes(512) == "512 B");
  CHECK(FormatBytes(1536) == "1.5 KiB");
  CHECK(FormatBytes(5767168) == "5.5 MiB");
}

TEST_CASE("RunViewsTest.RunsTable") {
  CHECK(RenderRuns(Json(kRunsJson), kNoon) ==
        "ID   DAG   STATE    STARTED           DURATION  STEPS\n"
        "r-2  iris  running  11:59:50          10s       1/4\n"
        "r-1  iris  failed   2024-04-29 14:13  1m05s     3/4 (1 failed)\n");
  CHECK(RenderRuns(Json("[]"), kNoon).find("no runs yet") == 0);
}

TEST_CASE("RunViewsTest.StatusShowsWhyStepsFailOrWait") {
  std::string text = RenderStatus(Json(kRunJson), kNoon);
  CHECK(text ==
        "run r-1  DAG iris (dags/iris/iris.yaml)  failed  started 11:58:20  1m05s  2/4 steps finished\n"
        "params: seed=2024 lr=0.1\n"
        "error: step 'train' failed\n"
        "\n"
        "STEP     STATE     ATTEMPTS  FAILURES         WORKER  DURATION  CACHED\n"
        "prepare  cached    0         -                -       -         yes (from r-0)\n"
        "train    failed    2         1 own, 1 system  w-ab12  3.2s      no\n"
        "    error: exit code 1\n"
        "eval     retrying  1         1 own, 0 system  w-ab12  0.9s      no\n"
        "    retrying in 5.0s after: exited with code 3\n"
        "gpu      waiting   0         -                -       -         no\n"
        "    waiting: no matching worker: no live worker has labels [gpu]; start one with --labels "
        "gpu\n");
  // Missing fields never crash: they print as "-".
  CHECK(RenderStatus(Json(R"({"steps":[{}]})"), kNoon).find("-  -") != std::string::npos);
}

TEST_CASE("RunViewsTest.WorkersArtifactsAndCacheTables") {
  JsonValue workers = Json(R"([{"id":"w-ab12","name":"gpu-box","host":"gpu-box.lab",
    "labels":["gpu","trainer"],"slots":4,"slots_used":1,"cpus":32,"memory_bytes":1,"gpus":2,
    "os":"linux","version":"0.1.0","last_heartbeat_ms":1714564798000,"connected":true},
    {"id":"w-cd34","name":"old","host":"old.lab","labels":[],"slots":2,"slots_used":0,
    "last_heartbeat_ms":1714564200000,"connected":false}])");
  CHECK(RenderWorkers(workers, kNoon) ==
        "ID      NAME     HOST         LABELS       SLOTS  STATE  HEARTBEAT\n"
        "w-ab12  gpu-box  gpu-box.lab  gpu,trainer  1/4    up     2s ago\n"
        "w-cd34  old      old.lab      -            0/2    lost   10m ago\n");
  JsonValue artifacts = Json(R"([{"step":"train","path":"model/model.pkl",
    "digest":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","size_bytes":2048,
    "executable":false},{"step":"train","path":"bin/run","digest":"e3b0c44298fc1c149afbf4c8996fb924",
    "size_bytes":10,"executable":true}])");
  CHECK(RenderArtifacts(artifacts) ==
        "STEP   PATH             SIZE     DIGEST\n"
        "train  model/model.pkl  2.0 KiB  9f86d081884c\n"
        "train  bin/run*         10 B     e3b0c44298fc\n");
  JsonValue entries = Json(R"([{"key":"0123456789abcdef0123","dag":"iris","step":"train",
    "run_id":"r-1","created_ms":1714564000000,"files":1,"size_bytes":2048}])");
  CHECK(RenderCacheEntries(entries, kNoon) ==
        "KEY               DAG   STEP   RUN  CREATED   FILES  SIZE\n"
        "0123456789abcdef  iris  train  r-1  11:46:40  1      2.0 KiB\n");
  CHECK(RenderCacheEntries(Json("[]"), kNoon) == "the cache is empty\n");
}

TEST_CASE("WatchViewTest.AppliesEventsInOrderAndRendersLinesAndScreen") {
  WatchView view = WatchView::FromRun(Json(R"({"id":"r-1","dag":"iris","state":"running",
    "submitted_ms":1714564790000,"event_seq":5,"steps":[{"name":"prepare","state":"succeeded",
    "duration_ms":1000},{"name":"train","state":"pending"},{"name":"evaluate","state":"pending"}]})"));
  CHECK(view.ProgressBar(10) == "[###.......] 1/3");
  CHECK_FALSE(view.finished());
  auto apply = [&](const std::string& event) { return view.Apply(Json(event)).value_or("<none>"); };
  CHECK(apply(R"({"seq":6,"time_ms":1714564801000,"kind":"step_started","run_id":"r-1",
    "step":"train","worker_id":"w-ab12","state":"","message":""})") ==
        "12:00:01 train running on w-ab12");
  CHECK(apply(R"({"seq":7,"time_ms":1714564805100,"kind":"step_succeeded","run_id":"r-1",
    "step":"train","worker_id":"w-ab12","state":"succeeded","message":""})") ==
        "12:00:05 train succeeded (4.1s)");
  CHECK(apply(R"({"seq":8,"time_ms":1714564806000,"kind":"worker_registered","run_id":"",
    "step":"","worker_id":"w-x"})") == "<none>");
  CHECK(apply(R"({"seq":9,"time_ms":1714564806000,"kind":"step_started","run_id":"r-other",
    "step":"train"})") == "<none>");
  CHECK(apply(R"({"seq":10,"time_ms":1714564807000,"kind":"gate_failed","run_id":"r-1",
    "step":"evaluate","message":"accuracy >= 0.9 but accuracy = 0.8"})") ==
        "12:00:07 evaluate gate_failed: accuracy >= 0.9 but accuracy = 0.8");
  CHECK(view.ProgressBar(10) == "[##########] 3/3");
  std::vector<std::string> screen = view.Screen(1714564808000, 10);
  REQUIRE(screen.size() == 4);
  CHECK(screen[0] == "run r-1 (iris) running  [####################] 3/3  18s");
  CHECK(screen[2] == "  train     succeeded   4.1s");
  CHECK(screen[3] == "  evaluate  gate_failed  accuracy >= 0.9 but accuracy = 0.8");
  CHECK(apply(R"({"seq":11,"time_ms":1714564808000,"kind":"run_failed","run_id":"r-1",
    "message":"gate of evaluate failed"})") ==
        "12:00:08 run failed (3/3 steps finished): gate of evaluate failed");
  CHECK(view.finished());
  // Many steps: the moving ones are listed, the rest counted.
  std::string many = R"({"id":"r","state":"running","steps":[)";
  for (int i = 0; i < 50; ++i) {
    many += std::string(i ? "," : "") + R"({"name":"s)" + std::to_string(i) + R"(","state":")" +
            (i == 7 ? "running" : "pending") + "\"}";
  }
  WatchView big = WatchView::FromRun(Json(many + "]}"));
  std::vector<std::string> lines = big.Screen(kNoon, 10);
  REQUIRE(lines.size() == 3);
  CHECK(lines[1].find("s7") != std::string::npos);
  CHECK(lines[2] == "  ... 49 more: 49 pending");
  CHECK(RedrawText({"a", "b"}, 3) == "\x1b[3A\x1b[2Ka\n\x1b[2Kb\n\x1b[J");
}

TEST_CASE("WatchViewTest.FollowsABriefStatusAndStepsItHadNotSeen") {
  // A brief status (RunStatus.brief) gives a running step's start directly.
  WatchView view = WatchView::FromRun(Json(R"({"id":"r-2","state":"running","steps":[
    {"name":"fit","state":"running","worker":"w1","started_ms":1714564800000,"duration_ms":0,
     "error":"","reason":""}]})"));
  auto apply = [&](const std::string& event) { return view.Apply(Json(event)).value_or("<none>"); };
  CHECK(apply(R"({"time_ms":1714564803000,"kind":"step_succeeded","run_id":"r-2","step":"fit",
    "state":"succeeded","message":""})") == "12:00:03 fit succeeded (3.0s)");
  // A step the snapshot did not list gets a row once, however many events.
  CHECK(apply(R"({"time_ms":1714564804000,"kind":"step_started","run_id":"r-2","step":"eval"})") ==
        "12:00:04 eval running");
  CHECK(apply(R"({"time_ms":1714564805000,"kind":"step_succeeded","run_id":"r-2","step":"eval",
    "state":"succeeded"})") == "12:00:05 eval succeeded (1.0s)");
  REQUIRE(view.steps().size() == 2);
  CHECK(view.steps_done() == 2);
}

TEST_CASE("WorkspaceInputsTest.CollectsUnproducedInputsFollowingSymlinks") {
  TempDir dir;
  std::filesystem::create_directories(dir.Path("ws/data/sub"));
  std::filesystem::create_directories(dir.Path("ws/src"));
  std::filesystem::create_directories(dir.Path("elsewhere"));
  dir.Write("ws/data/a.csv", "a,b\n1,2\n");
  dir.Write("ws/data/sub/b.csv", "x\n");
  dir.Write("ws/src/prep.py", "print('hi')\n");
  ::chmod(dir.Path("ws/src/prep.py").c_str(), 0755);
  dir.Write("elsewhere/big.bin", "linked bytes");
  REQUIRE(::symlink(dir.Path("elsewhere/big.bin").c_str(), dir.Path("ws/data/link.bin").c_str()) ==
          0);
  dir.Write("ws/pipeline.yaml", R"(name: ws
steps:
  prep:
    run: python3 src/prep.py
    inputs: [data, src/prep.py]
    outputs: [out/clean.csv]
  train:
    run: cat out/clean.csv
    inputs: [out/clean.csv, src/prep.py]
    outputs: [model.bin]
)");
  LoadedDag loaded = LoadDagFile(dir.Path("ws/pipeline.yaml"), ParseOptions());
  REQUIRE_MESSAGE(loaded.ok(), loaded.diagnostics.Format());
  std::vector<std::string> paths = WorkspaceInputPaths(*loaded.dag, loaded.graph);
  CHECK(paths == std::vector<std::string>{"data", "src/prep.py"});

  StatCache cache;
  Result<WorkspaceInputs> inputs = HashWorkspaceInputs(loaded.workspace_root, paths, &cache);
  REQUIRE_MESSAGE(inputs.ok(), inputs.error());
  std::vector<std::string> got;
  for (const WorkspaceFile& file : inputs->files) got.push_back(file.entry.path);
  CHECK(got ==
        std::vector<std::string>{"data/a.csv", "data/link.bin", "data/sub/b.csv", "src/prep.py"});
  CHECK(inputs->files[1].entry.digest == HashBytes("linked bytes").ToHex());
  CHECK(inputs->files[1].entry.size_bytes == 12);
  CHECK(inputs->files[1].disk_path ==
        std::filesystem::canonical(dir.Path("elsewhere/big.bin")).string());
  CHECK(inputs->files[3].entry.executable);
  CHECK_FALSE(inputs->files[0].entry.executable);
  CHECK(inputs->files[0].disk_path.front() == '/');
  CHECK(cache.size() >= 4);

  // A dangling link is an error that names it.
  REQUIRE(::symlink("nowhere", dir.Path("ws/data/dangling").c_str()) == 0);
  inputs = HashWorkspaceInputs(loaded.workspace_root, paths, &cache);
  REQUIRE_FALSE(inputs.ok());
  CHECK(inputs.error().find("workspace input 'data/dangling' is a symlink to 'nowhere'") !=
        std::string::npos);
  ::unlink(dir.Path("ws/data/dangling").c_str());
  // A loop is refused, not followed forever.
  REQUIRE(::symlink("..", dir.Path("ws/data/sub/up").c_str()) == 0);
  inputs = HashWorkspaceInputs(loaded.workspace_root, paths, &cache);
  REQUIRE_FALSE(inputs.ok());
  CHECK(inputs.error().find("more than 8 symlinks") != std::string::npos);
}

TEST_CASE("WorkspaceInputsTest.StatCachePathFollowsXdg") {
  const char* xdg = getenv("XDG_CACHE_HOME");
  std::string saved = xdg ? xdg : "";
  setenv("XDG_CACHE_HOME", "/tmp/xdg", 1);
  CHECK(DefaultStatCachePath() == "/tmp/xdg/receta/stat-cache");
  unsetenv("XDG_CACHE_HOME");
  setenv("HOME", getenv("HOME") ? getenv("HOME") : "/root", 1);
  CHECK(DefaultStatCachePath() == std::string(getenv("HOME")) + "/.cache/receta/stat-cache");
  // One file per workspace, named by its absolute path.
  std::string a = StatCachePathFor("/work/a");
  CHECK(a.rfind(DefaultStatCachePath() + "-", 0) == 0);
  CHECK(a.size() == DefaultStatCachePath().size() + 17);
  CHECK(StatCachePathFor("/work/a/") == a);
  CHECK(StatCachePathFor("/work/b") != a);
  if (xdg) setenv("XDG_CACHE_HOME", saved.c_str(), 1);
}

// The DAG plan cache (cli/dag_plan_cache.h): a plan comes back only for its
// own key, and anything else in its file is a miss, never an error.
TEST_CASE("DagPlanCacheTest.KeptPlanComesBackOnlyForItsKey") {
  TempDir dir;
  const std::string path = dir.Path("cache/dag-plan-x");
  ParseOptions options;
  options.default_name = "iris";
  const std::string key = DagPlanKey("dag.yaml", "steps: {}\n", options);
  DagPlan plan{"dag.yaml:3:1: warning: something\n", {"data/a.csv", "src/train.py"}};
  REQUIRE(SaveDagPlan(path, key, plan).ok());  // makes the directory
  CHECK(LoadDagPlan(path, key) == plan);
  CHECK_FALSE(LoadDagPlan(path, DagPlanKey("dag.yaml", "steps: {a: 1}\n", options)).has_value());
  CHECK_FALSE(LoadDagPlan(dir.Path("cache/none"), key).has_value());
  CHECK_FALSE(LoadDagPlan("", key).has_value());

  for (const char* garbage :
       {"", "{", "[1, 2]", "{\"format\": 2}", "{\"format\": 1, \"inputs\": 3}"}) {
    WriteFile(path, garbage);
    CHECK_FALSE(LoadDagPlan(path, key).has_value());
  }
  // Another key than the one asked for, though the document is well formed.
  std::string other = DagPlanKey("dag.yaml", "x", options);
  WriteFile(path,
            "{\"format\": 1, \"key\": \"" + other + "\", \"warnings\": \"\", \"inputs\": []}");
  CHECK_FALSE(LoadDagPlan(path, key).has_value());
  CHECK(LoadDagPlan(path, other) == DagPlan{});
}

TEST_CASE("DagPlanCacheTest.KeyCoversTextPathNameAndParams") {
  ParseOptions base;
  base.default_name = "iris";
  auto key_of = [](std::string_view file, std::string_view text, const ParseOptions& options) {
    return DagPlanKey(file, text, options);
  };
  const std::string key = key_of("dag.yaml", "steps: {}\n", base);
  CHECK(key == key_of("dag.yaml", "steps: {}\n", base));  // deterministic
  ParseOptions renamed = base;
  renamed.default_name = "iris2";
  ParseOptions with_param = base;
  with_param.param_overrides = {{"lr", "0.1"}};
  ParseOptions other_value = base;
  other_value.param_overrides = {{"lr", "0.2"}};
  // Where one string ends and the next begins is part of the key.
  ParseOptions shifted = base;
  shifted.param_overrides = {{"l", "r0.1"}};
  std::set<std::string> keys = {key,
                                key_of("dag.yaml", "steps: {} \n", base),
                                key_of("dags/dag.yaml", "steps: {}\n", base),  // warnings name it
                                key_of("dag.yaml", "steps: {}\n", renamed),
                                key_of("dag.yaml", "steps: {}\n", with_param),
                                key_of("dag.yaml", "steps: {}\n", other_value),
                                key_of("dag.yaml", "steps: {}\n", shifted)};
  CHECK(keys.size() == 7);
}

// The CLI's cache files of one kind are bounded: the least recently used
// go, files of other kinds and saves in flight stay.
TEST_CASE("CachePruningTest.RemovesTheLeastRecentlyUsedOfOneKindOnly") {
  TempDir dir;
  std::filesystem::create_directories(dir.Path("cache"));
  auto make = [&](const std::string& name, time_t used) {
    const std::string path = dir.Path("cache/" + name);
    WriteFile(path, name);
    struct timespec times[2] = {{used, 0}, {used, 0}};
    REQUIRE(utimensat(AT_FDCWD, path.c_str(), times, 0) == 0);
  };
  make("stat-cache-a", 1000);
  make("stat-cache-b", 3000);
  make("stat-cache-c", 2000);
  make("stat-cache-d.tmp.x1", 500);  // a save in flight
  make("stat-cache", 100);           // another kind: the shared default file
  make("dag-plan-e", 100);
  receta::cli::MarkUsed(dir.Path("cache/stat-cache-a"));  // now the newest
  receta::cli::PruneLeastRecentlyUsed(dir.Path("cache"), "stat-cache", 2);
  std::set<std::string> left;
  for (const auto& entry : std::filesystem::directory_iterator(dir.Path("cache"))) {
    left.insert(entry.path().filename().string());
  }
  CHECK(left == std::set<std::string>{"stat-cache-a", "stat-cache-b", "stat-cache-d.tmp.x1",
                                      "stat-cache", "dag-plan-e"});
  receta::cli::PruneLeastRecentlyUsed(dir.Path("missing"), "stat-cache", 0);  // no error
}

// Plans are kept by key, so the same DAG submitted from another checkout
// finds its plan; the least recently used go beyond the limit.
TEST_CASE("DagPlanCacheTest.PlanFilesByKeyPrunedLeastRecentlyUsedFirst") {
  TempDir dir;
  const char* xdg = getenv("XDG_CACHE_HOME");
  std::string saved = xdg ? xdg : "";
  setenv("XDG_CACHE_HOME", dir.Path("xdg").c_str(), 1);
  ParseOptions options;
  auto key_of = [&](int i) {
    return DagPlanKey("dag.yaml", "steps: {s" + std::to_string(i) + ": {}}\n", options);
  };
  const std::string path0 = DagPlanPathFor(key_of(0));
  CHECK(path0.rfind(dir.Path("xdg/receta/dag-plan-"), 0) == 0);
  CHECK(path0 == DagPlanPathFor(key_of(0)));
  CHECK(path0 != DagPlanPathFor(key_of(1)));

  auto plans_kept = [&] {
    std::set<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(dir.Path("xdg/receta"))) {
      names.insert(entry.path().string());
    }
    return names;
  };
  // Three plans with a limit of two: the oldest goes, unless it was used.
  auto set_used = [](const std::string& path, time_t when) {
    struct timespec times[2] = {{when, 0}, {when, 0}};
    REQUIRE(utimensat(AT_FDCWD, path.c_str(), times, 0) == 0);
  };
  const DagPlan plan{"", {"a.txt"}};
  REQUIRE(SaveDagPlan(path0, key_of(0), plan, 2).ok());
  set_used(path0, 1000);
  const std::string path1 = DagPlanPathFor(key_of(1));
  REQUIRE(SaveDagPlan(path1, key_of(1), plan, 2).ok());
  set_used(path1, 2000);
  CHECK(LoadDagPlan(path0, key_of(0)) == plan);  // used now: newer than path1
  const std::string path2 = DagPlanPathFor(key_of(2));
  REQUIRE(SaveDagPlan(path2, key_of(2), plan, 2).ok());
  CHECK(plans_kept() == std::set<std::string>{path0, path2});
  CHECK_FALSE(LoadDagPlan(path1, key_of(1)).has_value());

  if (xdg) {
    setenv("XDG_CACHE_HOME", saved.c_str(), 1);
  } else {
    unsetenv("XDG_CACHE_HOME");
  }
}
