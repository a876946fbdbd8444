#include "worker/retained_logs.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using receta::worker::RetainedLogs;

namespace {

std::vector<std::string> All(const RetainedLogs& logs) {
  std::vector<std::string> out;
  logs.ForEach([&](const std::string& chunk) { out.push_back(chunk); });
  return out;
}

}  // namespace

TEST_CASE("RetainedLogsTest.KeepsEachAttemptsChunksInOrderUntilForgotten") {
  RetainedLogs logs;
  CHECK(logs.Add("a", "a0") == 0);
  CHECK(logs.Add("b", "b0") == 0);
  CHECK(logs.Add("a", "a1") == 0);
  CHECK(All(logs) == std::vector<std::string>{"a0", "a1", "b0"});
  CHECK(logs.bytes() == 6);
  logs.Forget("a");
  CHECK(All(logs) == std::vector<std::string>{"b0"});
  CHECK(logs.bytes() == 2);
  logs.Forget("nobody");
  logs.Forget("b");
  CHECK(All(logs).empty());
  CHECK(logs.bytes() == 0);
  CHECK(logs.attempts() == 0);
}

TEST_CASE("RetainedLogsTest.KeepsOnlyTheNewestBytesOfALoudAttempt") {
  RetainedLogs logs;
  const std::string chunk(RetainedLogs::kMaxBytesPerAttempt / 4, 'x');
  size_t dropped = 0;
  for (int i = 0; i < 10; ++i) dropped += logs.Add("loud", std::to_string(i) + chunk);
  logs.Add("quiet", "q");
  std::vector<std::string> kept = All(logs);
  // Four chunks are a little over the bound (each is one byte longer), so three stay.
  REQUIRE(kept.size() == 4);
  CHECK(kept[0][0] == '7');
  CHECK(kept[2][0] == '9');
  CHECK(kept[3] == "q");
  CHECK(dropped == 7);
  CHECK(logs.bytes() <= RetainedLogs::kMaxBytesPerAttempt + 1);
  // One chunk over the bound on its own is still kept: it is the newest.
  RetainedLogs huge;
  CHECK(huge.Add("h", std::string(RetainedLogs::kMaxBytesPerAttempt + 1, 'h')) == 0);
  CHECK(All(huge).size() == 1);
}
