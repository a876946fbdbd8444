// ProcessGroupGuard: steps die with the worker. Real processes: the test
// forks a stand-in "worker" that runs a step through the guard, kills it
// with SIGKILL and watches the step's process group go.
#include <dirent.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "test_files.h"
#include "test_support.h"
#include "worker/process.h"
#include "worker/process_guard.h"

using receta::testing::Must;
using receta::testing::ReadFile;
using receta::testing::TempDir;
using namespace receta::worker;

namespace {

ProcessSpec Spec(const std::string& command, const std::string& cwd) {
  ProcessSpec spec;
  spec.command = command;
  spec.cwd = cwd;
  spec.env = {{"PATH", "/usr/bin:/bin"}};
  return spec;
}

// The state letter and process group of `pid` from /proc; state 0 if gone.
std::pair<char, pid_t> StateAndGroup(pid_t pid) {
  std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  size_t paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat.size()) return {0, 0};
  std::istringstream rest(stat.substr(paren + 2));
  char state = 0;
  pid_t ppid = 0, pgrp = 0;
  rest >> state >> ppid >> pgrp;
  return {state, pgrp};
}

// True while `pid` runs; a zombie waiting for its reaper counts as gone.
bool ProcessAlive(pid_t pid) {
  char state = StateAndGroup(pid).first;
  return state != 0 && state != 'Z';
}

// The live (not zombie) processes in process group `pgid`.
std::vector<pid_t> LiveMembers(pid_t pgid) {
  std::vector<pid_t> members;
  DIR* proc = opendir("/proc");
  REQUIRE(proc != nullptr);
  while (dirent* entry = readdir(proc)) {
    char* end = nullptr;
    long pid = std::strtol(entry->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    auto [state, group] = StateAndGroup(static_cast<pid_t>(pid));
    if (group == pgid && state != 0 && state != 'Z') members.push_back(static_cast<pid_t>(pid));
  }
  closedir(proc);
  return members;
}

// Waits up to `deadline_ms` for `condition`; no fixed sleeps.
template <typename F>
bool WaitFor(F condition, int deadline_ms = 5000) {
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(deadline_ms);
  while (std::chrono::steady_clock::now() < end) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return condition();
}

// The stand-in worker, in a forked child: runs a step with two background
// sleeps through a guard, writes "<pgid> <guard pid>\n" to `report_fd` once
// all three processes run, then waits to be killed. Plain code, no doctest
// macros: a failure exits with a code the parent checks.
[[noreturn]] void RunStandInWorker(const std::string& dir, int report_fd) {
  auto guard = ProcessGroupGuard::Start();
  if (!guard.ok()) _exit(2);
  auto process = Process::Start(
      Spec("sleep 1000 & echo $! > pids; sleep 1000 & echo $! >> pids; wait", dir), guard->get());
  if (!process.ok()) _exit(3);
  if (!WaitFor([&] {
        std::string pids = ReadFile(dir + "/pids");
        return std::count(pids.begin(), pids.end(), '\n') == 2;
      })) {
    _exit(4);
  }
  std::string line =
      std::to_string((*process)->pid()) + " " + std::to_string((*guard)->pid()) + "\n";
  if (write(report_fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) _exit(5);
  while (true) pause();
}

// A fake tracker that checks, at each Release, that the leader is not yet
// reaped (still a zombie or running): after the reap its id may be reused.
struct RecordingTracker : ProcessGroupTracker {
  std::vector<std::string> calls;
  void Hold(pid_t pgid) override { calls.push_back("hold " + std::to_string(pgid)); }
  void Release(pid_t pgid) override {
    bool unreaped = StateAndGroup(pgid).first != 0;
    calls.push_back(std::string(unreaped ? "release " : "release-after-reap ") +
                    std::to_string(pgid));
  }
};

}  // namespace

TEST_CASE("ProcessGroupGuardTest.StepAndItsChildrenDieWhenTheWorkerIsKilled") {
  TempDir dir;
  int report[2];
  REQUIRE(pipe2(report, O_CLOEXEC) == 0);
  pid_t worker = fork();
  REQUIRE(worker >= 0);
  if (worker == 0) {
    close(report[0]);
    RunStandInWorker(dir.Path(), report[1]);
  }
  close(report[1]);

  std::string line;
  pollfd readable{report[0], POLLIN, 0};
  while (line.find('\n') == std::string::npos && poll(&readable, 1, 10000) == 1) {
    char buffer[64];
    ssize_t n = read(report[0], buffer, sizeof(buffer));
    if (n <= 0) break;
    line.append(buffer, static_cast<size_t>(n));
  }
  close(report[0]);
  pid_t pgid = 0, guard = 0;
  std::istringstream(line) >> pgid >> guard;
  if (pgid <= 0) {  // the stand-in failed: say how, and do not leave it behind
    kill(worker, SIGKILL);
    int status = 0;
    waitpid(worker, &status, 0);
    FAIL("the stand-in worker reported '" << line << "', exit code "
                                          << (WIFEXITED(status) ? WEXITSTATUS(status) : -1));
  }
  std::vector<pid_t> before = LiveMembers(pgid);
  CHECK(before.size() == 3);  // sh and its two sleeps
  CHECK(ProcessAlive(guard));
  CHECK(StateAndGroup(guard).second == guard);  // in a group of its own

  REQUIRE(kill(worker, SIGKILL) == 0);
  int status = 0;
  REQUIRE(waitpid(worker, &status, 0) == worker);
  CHECK(WIFSIGNALED(status));

  CHECK(WaitFor([&] { return LiveMembers(pgid).empty(); }));
  CHECK(WaitFor([&] { return !ProcessAlive(guard); }));
  for (pid_t pid : LiveMembers(pgid)) kill(pid, SIGKILL);  // if it failed, clean up
}

TEST_CASE("ProcessGroupGuardTest.ClosingItKillsOnlyTheGroupsItStillHolds") {
  TempDir dir;
  auto guard = Must(ProcessGroupGuard::Start());
  auto released = Must(Process::Start(Spec("sleep 1000", dir.Path())));
  auto held = Must(Process::Start(Spec("sleep 1000", dir.Path())));
  guard->Hold(released->pid());
  guard->Hold(held->pid());
  guard->Release(released->pid());

  // Ignored: a Ctrl-C or a service manager stopping everything must leave
  // the worker time to stop its steps itself.
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) REQUIRE(kill(guard->pid(), sig) == 0);

  guard.reset();  // EOF: the guard kills what it holds, exits, and is reaped
  ProcessResult result = held->Wait([](OutputStream, std::string_view) {});
  CHECK(result.signal == SIGKILL);
  CHECK_FALSE(result.killed);  // not by Process::Kill: by the guard
  CHECK(ProcessAlive(released->pid()));
  released->Kill(0);
  CHECK(released->Wait([](OutputStream, std::string_view) {}).signal == SIGKILL);
}

// Entries are reused: a long-lived worker runs far more steps than the
// table has entries, and a step after all of them is still guarded.
TEST_CASE("ProcessGroupGuardTest.ReleasedEntriesAreTakenAgain") {
  TempDir dir;
  auto guard = Must(ProcessGroupGuard::Start());
  for (int i = 0; i < 3 * ProcessGroupGuard::kMaxGroups; ++i) {
    guard->Hold(100000 + i);
    guard->Release(100000 + i);
  }
  auto held = Must(Process::Start(Spec("sleep 1000", dir.Path())));
  guard->Hold(held->pid());
  guard.reset();
  // The leader stays a zombie until Wait reaps it: look for live members.
  const bool killed_by_guard = WaitFor([&] { return LiveMembers(held->pid()).empty(); });
  CHECK(killed_by_guard);
  if (!killed_by_guard) held->Kill(0);  // do not wait for a sleep of 1000 s
  CHECK(held->Wait([](OutputStream, std::string_view) {}).signal == SIGKILL);
}

TEST_CASE("ProcessGroupGuardTest.ProcessTellsItsTrackerBeforeReaping") {
  TempDir dir;
  RecordingTracker tracker;
  pid_t waited = 0;
  {
    auto process = Must(Process::Start(Spec("exit 0", dir.Path()), &tracker));
    waited = process->pid();
    process->Wait([](OutputStream, std::string_view) {});
  }
  pid_t destroyed = 0;
  {
    // Destroyed without Wait: the destructor kills and reaps it.
    auto process = Must(Process::Start(Spec("sleep 1000", dir.Path()), &tracker));
    destroyed = process->pid();
  }
  CHECK(tracker.calls == std::vector<std::string>{"hold " + std::to_string(waited),
                                                  "release " + std::to_string(waited),
                                                  "hold " + std::to_string(destroyed),
                                                  "release " + std::to_string(destroyed)});
}

TEST_CASE("ProcessGroupGuardTest.AGuardThatDiedDoesNotTakeTheWorkerWithIt") {
  TempDir dir;
  auto guard = Must(ProcessGroupGuard::Start());
  REQUIRE(kill(guard->pid(), SIGKILL) == 0);
  // Without MSG_NOSIGNAL these would raise SIGPIPE and end the test binary.
  CHECK(WaitFor([&] { return !ProcessAlive(guard->pid()); }));
  for (int i = 0; i < 3; ++i) {
    guard->Hold(12345);
    guard->Release(12345);
  }
}
