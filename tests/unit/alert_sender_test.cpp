// AlertSender: real deliveries to an HTTP server inside the test (on
// 127.0.0.1, an ephemeral port) and to /bin/sh commands, with short retry
// and give-up times. Every wait is on a condition with a deadline.
#include "scheduler/alert_sender.h"

#include <doctest/doctest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "scheduler/alert_document.h"
#include "scheduler/alert_webhook.h"
#include "test_files.h"
#include "test_http_server.h"

using receta::testing::ClosedPort;
using receta::testing::ReadFile;
using receta::testing::TempDir;
using receta::testing::TestHttpServer;
using namespace receta::scheduler;
using Clock = std::chrono::steady_clock;

namespace {

// Why: libcurl honours http_proxy and the like, as it must for real
// webhooks; the test server on 127.0.0.1 must be reached directly even on a
// machine that sets a proxy. Runs before main.
struct NoProxyForTests {
  NoProxyForTests() {
    setenv("no_proxy", "*", 1);
    setenv("NO_PROXY", "*", 1);
  }
} no_proxy_for_tests;

int64_t MsSince(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

// Waits up to `deadline_ms` for `condition`, looking every millisecond.
template <typename F>
bool WaitFor(F condition, int deadline_ms = 10000) {
  auto end = Clock::now() + std::chrono::milliseconds(deadline_ms);
  while (Clock::now() < end) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return condition();
}

// Collects outcomes until there are `count` of them (or the deadline passes).
std::vector<AlertOutcome> WaitForOutcomes(AlertSender& sender, size_t count,
                                          int deadline_ms = 10000) {
  std::vector<AlertOutcome> all;
  WaitFor(
      [&] {
        for (AlertOutcome& outcome : sender.TakeOutcomes()) all.push_back(std::move(outcome));
        return all.size() >= count;
      },
      deadline_ms);
  return all;
}

AlertSenderOptions FastOptions() {
  AlertSenderOptions options;
  options.give_up_after_ms = 300;
  options.first_retry_ms = 20;
  options.max_retry_ms = 100;
  options.attempt_timeout_ms = 2000;
  return options;
}

Alert MakeAlert(uint64_t id, std::vector<AlertSink> sinks) {
  Alert alert;
  alert.id = id;
  alert.event = "failure";
  alert.run_id = "r-" + std::to_string(id);
  alert.dag_name = "iris";
  alert.step = "train";
  alert.attempt_id = alert.run_id + "/train/1";
  alert.attempt_number = 1;
  alert.worker_name = "w1";
  alert.state = "failed";
  alert.error = "exited with code 1";
  alert.time_ms = 1714566896789;
  alert.log_tail = {"Traceback (most recent call last):", "ValueError: \"bad\"\tinput"};
  alert.sinks = std::move(sinks);
  return alert;
}

AlertSink Webhook(const std::string& url) {
  AlertSink sink;
  sink.webhook = url;
  return sink;
}
AlertSink Command(const std::string& command) {
  AlertSink sink;
  sink.command = command;
  return sink;
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// True while `pid` runs; a zombie counts as gone.
bool ProcessAlive(pid_t pid) {
  std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'Z';
}

}  // namespace

TEST_CASE("AlertRetryDelayTest.DoublesFromFirstRetryUpToTheCap") {
  AlertSenderOptions options;  // 1 s first, 60 s cap
  CHECK(AlertRetryDelayMs(options, 1, 0) == 1000);
  CHECK(AlertRetryDelayMs(options, 2, 0) == 2000);
  CHECK(AlertRetryDelayMs(options, 3, 0) == 4000);
  CHECK(AlertRetryDelayMs(options, 6, 0) == 32000);
  CHECK(AlertRetryDelayMs(options, 7, 0) == 60000);
  CHECK(AlertRetryDelayMs(options, 4000000000u, 0) == 60000);
}

TEST_CASE("AlertRetryDelayTest.JitterIsTwentyPercentEitherWay") {
  AlertSenderOptions options;
  CHECK(AlertRetryDelayMs(options, 1, 1) == 1200);
  CHECK(AlertRetryDelayMs(options, 1, -1) == 800);
  CHECK(AlertRetryDelayMs(options, 2, 0.5) == 2200);
  CHECK(AlertRetryDelayMs(options, 7, -1) == 51200);  // 64 s - 20%, under the cap
  CHECK(AlertRetryDelayMs(options, 20, 1) == 60000);  // never past the cap
}

TEST_CASE("AlertWebhookTest.ShownUrlHidesSecrets") {
  CHECK(ShownUrl("http://127.0.0.1:9000/hook") == "http://127.0.0.1:9000/hook");
  CHECK(ShownUrl("https://hooks.slack.com/services/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") ==
        "https://hooks.slack.com/services/T0123ABCD/B0456EFGH/***");
  CHECK(ShownUrl("https://user:pass@example.com/x?token=abc#frag") ==
        "https://***@example.com/x?***");
  CHECK(ShownUrl("https://example.com") == "https://example.com");
  CHECK(ShownUrl("https://example.com/alerts-webhook-receiver/") ==
        "https://example.com/alerts-webhook-receiver/");
}

TEST_CASE("AlertSenderTest.DeliversOnFirstTryWithTheExactDocument") {
  TestHttpServer server;
  AlertSender sender(FastOptions());
  const Alert alert = MakeAlert(1, {Webhook(server.Url())});
  sender.Enqueue(alert);
  std::vector<AlertOutcome> outcomes = WaitForOutcomes(sender, 1);
  REQUIRE(outcomes.size() == 1);
  CHECK(outcomes[0].delivered);
  CHECK(outcomes[0].tries == 1);
  CHECK(outcomes[0].reason == "");
  CHECK(outcomes[0].alert_id == 1);
  CHECK(outcomes[0].event == "failure");
  CHECK(outcomes[0].run_id == "r-1");
  CHECK(outcomes[0].step == "train");
  CHECK(outcomes[0].attempt_id == "r-1/train/1");
  CHECK(outcomes[0].sink == alert.sinks[0]);

  std::vector<TestHttpServer::Request> requests = server.Requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].head.rfind("POST /hook HTTP/1.1\r\n", 0) == 0);
  CHECK(Contains(requests[0].head, "\r\nContent-Type: application/json"));
  CHECK(requests[0].body == AlertDocument(alert));
}

TEST_CASE("AlertSenderTest.RetriesAfterHttp500UntilDelivered") {
  TestHttpServer server;
  server.Script({500, 500});
  AlertSenderOptions options = FastOptions();
  options.give_up_after_ms = 10000;
  AlertSender sender(options);
  const Alert alert = MakeAlert(2, {Webhook(server.Url())});
  sender.Enqueue(alert);
  std::vector<AlertOutcome> outcomes = WaitForOutcomes(sender, 1);
  REQUIRE(outcomes.size() == 1);
  CHECK(outcomes[0].delivered);
  CHECK(outcomes[0].tries == 3);
  std::vector<TestHttpServer::Request> requests = server.Requests();
  REQUIRE(requests.size() == 3);
  for (const auto& request : requests) CHECK(request.body == AlertDocument(alert));
}

TEST_CASE("AlertSenderTest.GivesUpOnAlwaysFailingEndpointWithItsAnswer") {
  TestHttpServer server;
  server.Script(std::deque<int>(1000, 500), "internal error\nstack trace");
  AlertSender sender(FastOptions());
  sender.Enqueue(MakeAlert(3, {Webhook(server.Url())}));
  std::vector<AlertOutcome> outcomes = WaitForOutcomes(sender, 1);
  REQUIRE(outcomes.size() == 1);
  CHECK_FALSE(outcomes[0].delivered);
  CHECK(outcomes[0].tries >= 2);
  CHECK(outcomes[0].tries == server.Requests().size());
  CHECK(outcomes[0].reason == "HTTP 500 from " + server.Url() + ": internal error");
}

TEST_CASE("AlertSenderTest.GivesUpOnClosedPortAfterTheGiveUpTime") {
  const std::string url = "http://127.0.0.1:" + std::to_string(ClosedPort()) + "/hook";
  AlertSender sender(FastOptions());
  Clock::time_point start = Clock::now();
  sender.Enqueue(MakeAlert(4, {Webhook(url)}));
  std::vector<AlertOutcome> outcomes = WaitForOutcomes(sender, 1);
  int64_t elapsed_ms = MsSince(start);
  REQUIRE(outcomes.size() == 1);
  CHECK_FALSE(outcomes[0].delivered);
  CHECK(outcomes[0].tries >= 3);  // 20, 40, 80 ms backoff fit in 300 ms
  CHECK(outcomes[0].reason == "connection refused by " + url);
  CHECK(elapsed_ms >= 300);
  CHECK(elapsed_ms < 5000);
}

TEST_CASE("AlertSenderTest.SlowEndpointDoesNotHoldUpOtherDeliveries") {
  TestHttpServer slow;
  slow.SetDelayMs(60000);
  TestHttpServer healthy;
  AlertSenderOptions options = FastOptions();
  options.attempt_timeout_ms = 1000;
  options.give_up_after_ms = 1500;
  AlertSender sender(options);

  sender.Enqueue(MakeAlert(5, {Webhook(slow.Url())}));
  REQUIRE(WaitFor([&] { return slow.Requests().size() == 1; }));  // the slow try is running
  Clock::time_point start = Clock::now();
  sender.Enqueue(MakeAlert(6, {Webhook(healthy.Url())}));
  CHECK(MsSince(start) < 100);  // Enqueue does not wait for the slow try

  std::vector<AlertOutcome> outcomes = WaitForOutcomes(sender, 1);
  REQUIRE(outcomes.size() == 1);
  CHECK(outcomes[0].alert_id == 6);
  CHECK(outcomes[0].delivered);
  CHECK(MsSince(start) < static_cast<int64_t>(options.attempt_timeout_ms));

  outcomes = WaitForOutcomes(sender, 1);
  REQUIRE(outcomes.size() == 1);
  CHECK(outcomes[0].alert_id == 5);
  CHECK_FALSE(outcomes[0].delivered);
  CHECK(outcomes[0].reason == "no answer from " + slow.Url() + " within 1000 ms");
}

TEST_CASE("AlertSenderTest.WaitingRetriesDoNotHoldUpNewAlerts") {
  TestHttpServer server;
  server.Script({500});
  AlertSenderOptions options = FastOptions();
  options.first_retry_ms = 5000;
  options.max_retry_ms = 60000;
  options.give_up_after_ms = 60000;
  AlertSender sender(options);
  sender.Enqueue(MakeAlert(7, {Webhook(server.Url("/first"))}));
  REQUIRE(WaitFor([&] { return server.Requests().size() == 1; }));
  Clock::time_point start = Clock::now();
  sender.Enqueue(MakeAlert(8, {Webhook(server.Url("/second"))}));
  std::vector<AlertOutcome> outcomes = WaitForOutcomes(sender, 1);
  REQUIRE(outcomes.size() == 1);
  CHECK(outcomes[0].alert_id == 8);
  CHECK(MsSince(start) < 2000);  // not behind alert 7's retry in 4 to 6 s
}

TEST_CASE("AlertSenderTest.GivesUpAtOnceOnAUrlNoRetryCanFix") {
  AlertSenderOptions options = FastOptions();
  options.give_up_after_ms = 60000;
  AlertSender sender(options);
  sender.Enqueue(MakeAlert(15, {Webhook("ftp://127.0.0.1/hook")}));
  std::vector<AlertOutcome> outcomes = WaitForOutcomes(sender, 1);
  REQUIRE(outcomes.size() == 1);
  CHECK_FALSE(outcomes[0].delivered);
  CHECK(outcomes[0].tries == 1);
  CHECK(outcomes[0].reason.rfind("cannot POST to ftp://127.0.0.1/hook: ", 0) == 0);
}

TEST_CASE("AlertSenderTest.CommandReceivesTheDocumentOnStdin") {
  TempDir dir;
  const std::string file = dir.Path("alert.json");
  AlertSender sender(FastOptions());
  const Alert alert = MakeAlert(9, {Command("cat > '" + file + "'")});
  sender.Enqueue(alert);
  std::vector<AlertOutcome> outcomes = WaitForOutcomes(sender, 1);
  REQUIRE(outcomes.size() == 1);
  CHECK(outcomes[0].delivered);
  CHECK(outcomes[0].tries == 1);
  CHECK(ReadFile(file) == AlertDocument(alert));
}

TEST_CASE("AlertSenderTest.FailingCommandIsRetriedThenGivenUp") {
  TempDir dir;
  const std::string count_file = dir.Path("count");
  AlertSender sender(FastOptions());
  sender.Enqueue(MakeAlert(
      10, {Command("echo try >> '" + count_file + "'; echo 'token expired' >&2; exit 3")}));
  std::vector<AlertOutcome> outcomes = WaitForOutcomes(sender, 1);
  REQUIRE(outcomes.size() == 1);
  CHECK_FALSE(outcomes[0].delivered);
  CHECK(outcomes[0].tries >= 2);
  CHECK(Contains(outcomes[0].reason, "exited with code 3: token expired"));
  std::string tries = ReadFile(count_file);
  CHECK(static_cast<uint32_t>(std::count(tries.begin(), tries.end(), '\n')) == outcomes[0].tries);
}

TEST_CASE("AlertSenderTest.CommandIsKilledWithItsGroupAtTheAttemptTimeout") {
  TempDir dir;
  const std::string pid_file = dir.Path("pid");
  AlertSenderOptions options = FastOptions();
  options.attempt_timeout_ms = 200;
  options.give_up_after_ms = 100;  // one try
  AlertSender sender(options);
  Clock::time_point start = Clock::now();
  sender.Enqueue(MakeAlert(11, {Command("sleep 30 & echo $! > '" + pid_file + "'; wait")}));
  std::vector<AlertOutcome> outcomes = WaitForOutcomes(sender, 1);
  REQUIRE(outcomes.size() == 1);
  CHECK(MsSince(start) >= 200);
  CHECK_FALSE(outcomes[0].delivered);
  CHECK(outcomes[0].tries == 1);
  CHECK(Contains(outcomes[0].reason, "did not finish within 200 ms; killed it"));
  pid_t child = std::stoi("0" + ReadFile(pid_file));
  REQUIRE(child > 0);
  CHECK(WaitFor([&] { return !ProcessAlive(child); }));
}

TEST_CASE("AlertSenderTest.DeliversToEverySinkOfAnAlert") {
  TestHttpServer server;
  TempDir dir;
  AlertSender sender(FastOptions());
  sender.Enqueue(MakeAlert(
      12, {Webhook(server.Url()), Command("cat > '" + dir.Path("out") + "'"), AlertSink{}}));
  std::vector<AlertOutcome> outcomes = WaitForOutcomes(sender, 3);
  REQUIRE(outcomes.size() == 3);
  int delivered = 0;
  for (const AlertOutcome& outcome : outcomes) {
    delivered += outcome.delivered;
    if (!outcome.delivered) {
      CHECK(outcome.sink == AlertSink{});
      CHECK(outcome.tries == 1);  // no retry can fix a sink without a target
      CHECK(outcome.reason == "the sink has neither a webhook nor a command");
    }
  }
  CHECK(delivered == 2);
  CHECK(server.Requests().size() == 1);
}

TEST_CASE("AlertSenderTest.StopsPromptlyAbandoningPendingDeliveries") {
  TestHttpServer slow;
  slow.SetDelayMs(60000);
  TempDir dir;
  const std::string pid_file = dir.Path("pid");
  Clock::time_point stop_start;
  {
    AlertSenderOptions options;  // the defaults: 10 s per try, 10 min before giving up
    AlertSender sender(options);
    sender.Enqueue(
        MakeAlert(13, {Webhook(slow.Url()), Command("echo $$ > '" + pid_file + "'; sleep 30")}));
    sender.Enqueue(
        MakeAlert(14, {Webhook("http://127.0.0.1:" + std::to_string(ClosedPort()) + "/")}));
    REQUIRE(WaitFor([&] { return slow.Requests().size() == 1 && !ReadFile(pid_file).empty(); }));
    stop_start = Clock::now();
  }
  CHECK(MsSince(stop_start) < 1000);
  pid_t shell = std::stoi(ReadFile(pid_file));
  CHECK(WaitFor([&] { return !ProcessAlive(shell); }));
}

TEST_CASE("AlertSenderTest.LeavesNoDescriptorsBehind") {
  auto open_fds = [] {
    return std::distance(std::filesystem::directory_iterator("/proc/self/fd"),
                         std::filesystem::directory_iterator());
  };
  TestHttpServer server;
  server.Script({500});
  TempDir dir;
  InitCurlOnce();
  const auto fds_before = open_fds();
  {
    AlertSender sender(FastOptions());
    sender.Enqueue(MakeAlert(16, {Webhook(server.Url()), Command("cat > '" + dir.Path("out") + "'"),
                                  Command("exit 1")}));
    std::vector<AlertOutcome> outcomes = WaitForOutcomes(sender, 3);
    CHECK(outcomes.size() == 3);
  }
  CHECK(open_fds() == fds_before);
}
