#include "common/lang/did_you_mean.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

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
  // The threshold follows the length of the word looked up.
  const std::vector<std::string> keys = {"timeout"};
  CHECK(ClosestMatch("tmeut", keys) == std::nullopt);     // 5 long: 1 edit allowed, 2 needed
  CHECK(ClosestMatch("tmeouut", keys) == "timeout");      // 7 long: 2 edits allowed, 2 needed
  CHECK(ClosestMatch("tmeouuut", keys) == std::nullopt);  // 8 long: 2 edits allowed, 3 needed
  // Short words still allow one edit, but not one that replaces everything.
  CHECK(ClosestMatch("ab", {"abc"}) == "abc");
  CHECK(ClosestMatch("a", {"ab"}) == "ab");
  CHECK(ClosestMatch("a", {"c"}) == std::nullopt);
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
