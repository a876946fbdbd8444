#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "common/lang/did_you_mean.h"

using receta::ClosestMatch;
using receta::DidYouMeanSuffix;
using receta::EditDistance;

TEST_CASE("EditDistance.CountsEdits") {
  CHECK(EditDistance("", "") == 0);
  CHECK(EditDistance("seed", "seed") == 0);
  CHECK(EditDistance("", "abc") == 3);
  CHECK(EditDistance("abc", "") == 3);
  CHECK(EditDistance("kitten", "sitting") == 3);
  CHECK(EditDistance("retries", "retry") == 3);
}

TEST_CASE("EditDistance.SwapOfNeighboursCostsOne") {
  CHECK(EditDistance("sede", "seed") == 1);
  CHECK(EditDistance("ab", "ba") == 1);
  CHECK(EditDistance("timeuot", "timeout") == 1);
}

TEST_CASE("EditDistance.IsCaseSensitive") { CHECK(EditDistance("Seed", "seed") == 1); }

TEST_CASE("ClosestMatch.FindsTypo") {
  const std::vector<std::string> keys = {"name", "params", "defaults", "alerts", "steps"};
  CHECK(ClosestMatch("parms", keys) == "params");
  CHECK(ClosestMatch("default", keys) == "defaults");
  CHECK(ClosestMatch("setps", keys) == "steps");
  CHECK(ClosestMatch("steps", keys) == "steps");
}

TEST_CASE("ClosestMatch.ThresholdIsAThirdOfTheWord") {
  // "timeout" is 7 long: at most 2 edits.
  const std::vector<std::string> keys = {"timeout"};
  CHECK(ClosestMatch("tmeot", keys) == "timeout");
  CHECK(ClosestMatch("tmot", keys) == std::nullopt);
  // Short words still allow one edit.
  CHECK(ClosestMatch("ab", {"abc"}) == "abc");
  CHECK(ClosestMatch("ab", {"xyz"}) == std::nullopt);
}

TEST_CASE("ClosestMatch.PrefersNearestThenFirst") {
  CHECK(ClosestMatch("cpu", {"cpus", "gpu"}) == "cpus");
  CHECK(ClosestMatch("abcdef", {"abcdxx", "abcdex", "abcdey"}) == "abcdex");
  CHECK(ClosestMatch("anything", {}) == std::nullopt);
}

TEST_CASE("DidYouMean.FormatsSuffix") {
  CHECK(DidYouMeanSuffix("sede", {"seed", "test_size"}) == " (did you mean 'seed'?)");
  CHECK(DidYouMeanSuffix("zzz", {"seed"}) == "");
}
