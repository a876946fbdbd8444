#include "worker/slot_gate.h"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

using receta::worker::SlotGate;
using namespace std::chrono_literals;

namespace {

bool Never() { return false; }

}  // namespace

TEST_CASE("SlotGateTest.GivesOutItsSlotsAndMakesTheNextWaitForARelease") {
  SlotGate gate(2);
  CHECK(gate.Acquire(Never));
  CHECK(gate.Acquire(Never));
  std::atomic<bool> got{false};
  auto third = std::async(std::launch::async, [&] {
    bool taken = gate.Acquire(Never);
    got = true;
    return taken;
  });
  // Both slots are held: the third waits (it would be done within this).
  CHECK(third.wait_for(200ms) == std::future_status::timeout);
  CHECK_FALSE(got.load());
  gate.Release();
  REQUIRE(third.wait_for(10s) == std::future_status::ready);
  CHECK(third.get());
}

TEST_CASE("SlotGateTest.ACancelledWaiterLeavesWithoutASlot") {
  SlotGate gate(1);
  CHECK(gate.Acquire(Never));
  std::atomic<bool> killed{false};
  auto waiter = std::async(std::launch::async, [&] { return gate.Acquire([&] { return killed.load(); }); });
  CHECK(waiter.wait_for(100ms) == std::future_status::timeout);
  killed = true;
  gate.Wake();
  REQUIRE(waiter.wait_for(10s) == std::future_status::ready);
  CHECK_FALSE(waiter.get());
  // It took nothing: after the holder releases, one slot is free, not two.
  gate.Release();
  CHECK(gate.Acquire(Never));
  auto after = std::async(std::launch::async, [&] { return gate.Acquire(Never); });
  CHECK(after.wait_for(100ms) == std::future_status::timeout);
  gate.Release();
  REQUIRE(after.wait_for(10s) == std::future_status::ready);
  CHECK(after.get());
  // Cancelled before waiting at all: no slot taken even when one is free.
  SlotGate fresh(1);
  CHECK_FALSE(fresh.Acquire([] { return true; }));
  CHECK(fresh.Acquire(Never));
}

TEST_CASE("SlotGateTest.WaitersGetSlotsInArrivalOrder") {
  // The attempt prepared ahead waits first; one the agent starts later must
  // not take the slot from it.
  SlotGate gate(1);
  CHECK(gate.Acquire(Never));
  auto wait_for_waiters = [&](size_t n) {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (gate.waiters() != n && std::chrono::steady_clock::now() < deadline)
      std::this_thread::yield();
    REQUIRE(gate.waiters() == n);
  };
  auto first = std::async(std::launch::async, [&] { return gate.Acquire(Never); });
  wait_for_waiters(1);
  auto second = std::async(std::launch::async, [&] { return gate.Acquire(Never); });
  wait_for_waiters(2);
  gate.Release();
  REQUIRE(first.wait_for(10s) == std::future_status::ready);
  CHECK(first.get());
  CHECK(gate.waiters() == 1);
  CHECK(second.wait_for(0s) == std::future_status::timeout);
  gate.Release();
  REQUIRE(second.wait_for(10s) == std::future_status::ready);
  CHECK(second.get());
}
