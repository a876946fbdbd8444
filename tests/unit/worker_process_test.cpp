// Process runner: real /bin/sh processes in temporary directories.
#include <doctest/doctest.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "test_files.h"
#include "worker/attempt_env.h"
#include "worker/log_batcher.h"
#include "worker/process.h"

using receta::testing::ReadFile;
using receta::testing::TempDir;
using namespace receta::worker;

namespace {

struct Captured {
  std::string out;
  std::string err;
  ProcessResult result;
  pid_t pid = -1;
};

ProcessSpec Spec(const std::string& command, const std::string& cwd) {
  ProcessSpec spec;
  spec.command = command;
  spec.cwd = cwd;
  spec.env = {{"PATH", "/usr/bin:/bin"}};
  return spec;
}

Captured Run(const ProcessSpec& spec) {
  auto process = Process::Start(spec);
  REQUIRE_MESSAGE(process.ok(), process.error());
  Captured c;
  c.pid = (*process)->pid();
  c.result = (*process)->Wait([&](OutputStream s, std::string_view bytes) {
    (s == OutputStream::kStdout ? c.out : c.err).append(bytes);
  });
  return c;
}

// True while `pid` runs; a zombie waiting for init to reap it counts as gone.
bool ProcessAlive(pid_t pid) {
  std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'Z';
}

// Waits up to `deadline_ms` for `condition`; no fixed sleeps.
template <typename F>
bool WaitFor(F condition, int deadline_ms = 5000) {
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(deadline_ms);
  while (std::chrono::steady_clock::now() < end) {
    if (condition()) return true;
    std::this_thread::yield();
  }
  return condition();
}

}  // namespace

TEST_CASE("ProcessTest.CapturesStdoutAndStderrSeparatelyInOrder") {
  TempDir dir;
  Captured c = Run(Spec("for i in 1 2 3; do echo out$i; echo err$i >&2; done; exit 0", dir.Path()));
  CHECK(c.out == "out1\nout2\nout3\n");
  CHECK(c.err == "err1\nerr2\nerr3\n");
  CHECK(c.result.exit_code == 0);
  CHECK(c.result.signal == 0);
  CHECK_FALSE(c.result.timed_out);
}

TEST_CASE("ProcessTest.ReportsExitCode") {
  TempDir dir;
  CHECK(Run(Spec("exit 7", dir.Path())).result.exit_code == 7);
}

TEST_CASE("ProcessTest.ReportsTerminatingSignal") {
  TempDir dir;
  Captured c = Run(Spec("kill -SEGV $$", dir.Path()));
  CHECK(c.result.exit_code == -1);
  CHECK(c.result.signal == SIGSEGV);
}

TEST_CASE("ProcessTest.EnvironmentIsExactlyTheGivenMap") {
  TempDir dir;
  ProcessSpec spec = Spec("env | sort", dir.Path());
  spec.env["RECETA_STEP"] = "train";
  spec.env["WITH_SPACE"] = "a b";
  Captured c = Run(spec);
  CHECK(c.out.find("RECETA_STEP=train\n") != std::string::npos);
  CHECK(c.out.find("WITH_SPACE=a b\n") != std::string::npos);
  // Nothing of the test's own environment leaks in (sh may add PWD, SHLVL, _).
  CHECK(c.out.find("HOME=") == std::string::npos);
}

TEST_CASE("ProcessTest.RunsInTheGivenDirectory") {
  TempDir dir;
  Captured c = Run(Spec("pwd -P", dir.Path()));
  char real[4096];
  REQUIRE(realpath(dir.Path().c_str(), real) != nullptr);
  CHECK(c.out == std::string(real) + "\n");
}

TEST_CASE("ProcessTest.StdinIsEmpty") {
  TempDir dir;
  Captured c = Run(Spec("cat; echo done", dir.Path()));
  CHECK(c.out == "done\n");
}

TEST_CASE("ProcessTest.MissingDirectoryIsAnError") {
  TempDir dir;
  auto process = Process::Start(Spec("true", dir.Path("nope")));
  REQUIRE_FALSE(process.ok());
  CHECK(process.error().find(dir.Path("nope")) != std::string::npos);
  CHECK(process.error().find("chdir: No such file or directory") != std::string::npos);
}

// What the worker does with signals (SIGPIPE ignored, TERM read from a
// signalfd and so blocked, handlers of its own) must not reach the step: it
// could then not be stopped with TERM, or would run the worker's handler.
TEST_CASE("ProcessTest.StepStartsWithDefaultSignalsAndAnEmptyMask") {
  struct sigaction ignore {
  }, handler{}, old_pipe{}, old_usr1{}, old_winch{};
  ignore.sa_handler = SIG_IGN;
  handler.sa_handler = [](int) {};
  REQUIRE(sigaction(SIGPIPE, &ignore, &old_pipe) == 0);
  REQUIRE(sigaction(SIGUSR1, &handler, &old_usr1) == 0);
  REQUIRE(sigaction(SIGWINCH, &handler, &old_winch) == 0);
  sigset_t blocked, old_mask;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGTERM);
  sigaddset(&blocked, SIGCHLD);
  REQUIRE(pthread_sigmask(SIG_BLOCK, &blocked, &old_mask) == 0);

  TempDir dir;
  // Builtins only: a shell waiting for a child may block SIGCHLD meanwhile.
  Captured c =
      Run(Spec("while read -r line; do case $line in Sig[BI]*) echo \"$line\";; esac; done < "
               "/proc/$$/status",
               dir.Path()));
  // The worker's own dispositions are as they were (the child had its own).
  struct sigaction now {};
  REQUIRE(sigaction(SIGUSR1, nullptr, &now) == 0);
  const bool handler_kept = now.sa_handler == handler.sa_handler;

  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  sigaction(SIGPIPE, &old_pipe, nullptr);
  sigaction(SIGUSR1, &old_usr1, nullptr);
  sigaction(SIGWINCH, &old_winch, nullptr);
  // (SigCgt is the shell's own: exec drops every handler anyway.)
  CHECK(c.out.find("SigBlk:\t0000000000000000\n") != std::string::npos);
  CHECK(c.out.find("SigIgn:\t0000000000000000\n") != std::string::npos);
  CHECK(handler_kept);
}

// Each thread spawns on a stack of its own (step_spawn.h): spawns from
// many threads at once must each run their own command.
TEST_CASE("ProcessTest.ManyThreadsSpawnAtOnce") {
  TempDir dir;
  constexpr int kThreads = 4;
  constexpr int kEach = 25;
  std::vector<std::string> wrong(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        std::string want = std::to_string(t) + "-" + std::to_string(i);
        auto process = Process::Start(Spec("echo " + want, dir.Path()));
        if (!process.ok()) {
          wrong[t] = process.error();
          return;
        }
        std::string out;
        ProcessResult result =
            (*process)->Wait([&](OutputStream, std::string_view b) { out.append(b); });
        if (out != want + "\n" || result.exit_code != 0) {
          wrong[t] = "expected '" + want + "', got '" + out + "'";
          return;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (const std::string& w : wrong) CHECK_MESSAGE(w.empty(), w);
}

TEST_CASE("ProcessTest.KillReachesGrandchildren") {
  TempDir dir;
  std::string pidfile = dir.Path("pids");
  auto process = Process::Start(
      Spec("sleep 1000 & echo $! > pids; sleep 1000 & echo $! >> pids; wait", dir.Path()));
  REQUIRE(process.ok());
  bool both_started = false;
  std::thread killer([&] {
    both_started = WaitFor([&] {
      std::string pids = ReadFile(pidfile);
      return std::count(pids.begin(), pids.end(), '\n') == 2;
    });
    (*process)->Kill(200);
  });
  ProcessResult result = (*process)->Wait([](OutputStream, std::string_view) {});
  killer.join();
  REQUIRE(both_started);
  CHECK(result.killed);
  CHECK(result.signal == SIGTERM);
  std::ifstream pids(pidfile);
  pid_t a = 0, b = 0;
  pids >> a >> b;
  REQUIRE(a > 0);
  REQUIRE(b > 0);
  CHECK(WaitFor([&] { return !ProcessAlive(a) && !ProcessAlive(b); }));
}

TEST_CASE("ProcessTest.TimeoutKillsAStepThatTrapsTerm") {
  TempDir dir;
  ProcessSpec spec = Spec("trap '' TERM; echo ready; while :; do sleep 0.05; done", dir.Path());
  spec.timeout_ms = 200;
  spec.timeout_grace_ms = 200;
  auto start = std::chrono::steady_clock::now();
  Captured c = Run(spec);
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(c.result.timed_out);
  CHECK_FALSE(c.result.killed);
  CHECK(c.result.signal == SIGKILL);
  CHECK(c.result.exit_code == -1);
  CHECK(took < std::chrono::seconds(5));
}

TEST_CASE("ProcessTest.TimeoutKillsAStepThatIgnoresTermAndItsChildren") {
  TempDir dir;
  // The background sleep inherits the ignored TERM; only KILL ends either.
  ProcessSpec spec = Spec("trap '' TERM; sleep 1000 & echo $! > pid; sleep 1000", dir.Path());
  spec.timeout_ms = 300;
  spec.timeout_grace_ms = 100;
  Captured c = Run(spec);
  CHECK(c.result.timed_out);
  CHECK(c.result.signal == SIGKILL);
  std::string pid = ReadFile(dir.Path("pid"));
  REQUIRE_FALSE(pid.empty());
  pid_t child = std::stoi(pid);
  CHECK(WaitFor([&] { return !ProcessAlive(child); }));
}

TEST_CASE("ProcessTest.LeftoverBackgroundProcessesAreKilledWhenTheLeaderExits") {
  TempDir dir;
  Captured c = Run(Spec("sleep 1000 & echo $!", dir.Path()));
  CHECK(c.result.exit_code == 0);
  pid_t child = std::stoi(c.out);
  CHECK(WaitFor([&] { return !ProcessAlive(child); }));
}

TEST_CASE("ProcessTest.ResourceUseOfACpuBurningStep") {
  TempDir dir;
  Captured c = Run(Spec("i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done", dir.Path()));
  CHECK(c.result.exit_code == 0);
  CHECK(c.result.cpu_ms > 0);
  CHECK(c.result.max_rss_bytes > 0);
  CHECK(c.result.duration_ms >= c.result.cpu_ms / 2);
}

TEST_CASE("ProcessTest.KillAfterExitIsHarmless") {
  TempDir dir;
  auto process = Process::Start(Spec("true", dir.Path()));
  REQUIRE(process.ok());
  (*process)->Wait([](OutputStream, std::string_view) {});
  (*process)->Kill(0);
}

TEST_CASE("ProcessTest.LargeOutputIsReadWhole") {
  TempDir dir;
  Captured c = Run(Spec("head -c 3000000 /dev/zero; head -c 1000 /dev/zero >&2", dir.Path()));
  CHECK(c.out.size() == 3000000);
  CHECK(c.err.size() == 1000);
}

// ---- LogBatcher --------------------------------------------------------------

TEST_CASE("LogBatcherTest.FlushesOnStreamChangeSizeAndAge") {
  std::vector<receta::protocol::LogChunk> chunks;
  LogBatcher batcher("r.0-1", [&](receta::protocol::LogChunk c) { chunks.push_back(c); });
  batcher.Add(OutputStream::kStdout, "a", 0);
  batcher.Add(OutputStream::kStdout, "b", 10);
  CHECK(chunks.empty());
  batcher.Add(OutputStream::kStderr, "c", 20);  // stream change flushes "ab"
  REQUIRE(chunks.size() == 1);
  CHECK(chunks[0].data == "ab");
  CHECK(chunks[0].stream == "stdout");
  CHECK(chunks[0].seq == 0);
  CHECK(chunks[0].attempt_id == "r.0-1");
  batcher.Tick(69);
  CHECK(chunks.size() == 1);
  batcher.Tick(70);  // 50 ms after "c"
  REQUIRE(chunks.size() == 2);
  CHECK(chunks[1].data == "c");
  CHECK(chunks[1].stream == "stderr");
  CHECK(chunks[1].seq == 1);
  batcher.Add(OutputStream::kStdout, std::string(LogBatcher::kFlushBytes + 10, 'x'), 100);
  REQUIRE(chunks.size() == 3);
  CHECK(chunks[2].data.size() == LogBatcher::kFlushBytes);
  batcher.Flush();
  REQUIRE(chunks.size() == 4);
  CHECK(chunks[3].data.size() == 10);
  batcher.Flush();
  CHECK(chunks.size() == 4);
  // Offsets run through both streams, so a resent chunk can be placed.
  CHECK(chunks[0].offset == 0);
  CHECK(chunks[1].offset == 2);
  CHECK(chunks[2].offset == 3);
  CHECK(chunks[3].offset == 3 + LogBatcher::kFlushBytes);
  CHECK(batcher.bytes_emitted() == 3 + LogBatcher::kFlushBytes + 10);
}

// ---- Attempt environment -------------------------------------------------------

TEST_CASE("AttemptEnvTest.StepEnvPlusInheritedBasicsPlusRecetaVariables") {
  receta::protocol::Dispatch d;
  d.run_id = "r1";
  d.step = "train";
  d.attempt_id = "r1.3-2";
  d.env = {{"SEED", "42"}, {"RECETA_STEP", "spoof"}, {"PATH", "/opt/bin"}};
  auto env = BuildAttemptEnv(d, {{"HOME", "/home/w"}, {"SECRET", "x"}, {"PATH", "/usr/bin"}});
  CHECK(env["SEED"] == "42");
  CHECK(env["HOME"] == "/home/w");
  CHECK(env["PATH"] == "/opt/bin");
  CHECK(env.count("SECRET") == 0);
  CHECK(env["RECETA_RUN_ID"] == "r1");
  CHECK(env["RECETA_STEP"] == "train");
  CHECK(env["RECETA_ATTEMPT"] == "2");
  CHECK(BuildAttemptEnv(d, {})["PATH"] == "/opt/bin");
  d.env.clear();
  CHECK(BuildAttemptEnv(d, {})["PATH"] == kDefaultPath);
}

TEST_CASE("AttemptEnvTest.AttemptNumberAndIdChecks") {
  CHECK(*AttemptNumber("abc.0-12") == "12");
  CHECK_FALSE(AttemptNumber("abc").ok());
  CHECK_FALSE(AttemptNumber("abc-").ok());
  CHECK_FALSE(AttemptNumber("abc-1x").ok());
  CHECK(ValidateAttemptId("r-1.0-1").ok());
  CHECK_FALSE(ValidateAttemptId("").ok());
  CHECK_FALSE(ValidateAttemptId("..").ok());
  CHECK_FALSE(ValidateAttemptId("a/b").ok());
  CHECK_FALSE(ValidateAttemptId(".hidden").ok());
}
