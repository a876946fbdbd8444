#pragma once
// Small helpers shared by the unit tests: unwrapping a Result that the test
// needs to succeed, and a fixed time zone for tests that print local times.
// Header-only, like test_files.h.

#include <doctest/doctest.h>
#include <stdlib.h>
#include <time.h>

#include <utility>

#include "common/status.h"

namespace receta::testing {

/// The value of `result`; the test stops (REQUIRE) with the result's error
/// when it failed. For set-up steps whose failure makes the rest moot, e.g.
/// `auto store = Must(Store::Open(dir.Path()));`.
template <typename T>
T Must(Result<T> result) {
  REQUIRE_MESSAGE(result.ok(), result.error());
  return std::move(result).value();
}

/// Sets TZ=UTC for the whole test binary, so that times print the same on
/// every machine. Define one at namespace scope (it runs before main, so it
/// must not use doctest assertions).
struct UtcTimeZone {
  UtcTimeZone() {
    setenv("TZ", "UTC", 1);
    tzset();
  }
};

}  // namespace receta::testing
