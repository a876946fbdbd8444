#include "common/lang/quantity.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <string>

using receta::FormatDurationMs;
using receta::FormatSizeBytes;
using receta::ParseDurationMs;
using receta::ParseSizeBytes;
using receta::TextError;

namespace {

int64_t DurationMs(const std::string& text) {
  auto result = ParseDurationMs(text);
  REQUIRE_MESSAGE(result.ok(), text << ": " << result.error().message);
  return *result;
}

TextError DurationError(const std::string& text) {
  auto result = ParseDurationMs(text);
  REQUIRE_MESSAGE(!result.ok(), text << " parsed as " << *result);
  return result.error();
}

int64_t SizeBytes(const std::string& text) {
  auto result = ParseSizeBytes(text);
  REQUIRE_MESSAGE(result.ok(), text << ": " << result.error().message);
  return *result;
}

TextError SizeError(const std::string& text) {
  auto result = ParseSizeBytes(text);
  REQUIRE_MESSAGE(!result.ok(), text << " parsed as " << *result);
  return result.error();
}

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

}  // namespace

TEST_CASE("Duration.ParsesEachUnit") {
  CHECK(DurationMs("500ms") == 500);
  CHECK(DurationMs("5s") == 5'000);
  CHECK(DurationMs("30m") == 1'800'000);
  CHECK(DurationMs("2h") == 7'200'000);
  CHECK(DurationMs("1d") == 86'400'000);
  CHECK(DurationMs("0s") == 0);
}

TEST_CASE("Duration.ParsesCompoundAndFractions") {
  CHECK(DurationMs("1h30m") == 5'400'000);
  CHECK(DurationMs("1d2h3m4s5ms") == 93'784'005);
  CHECK(DurationMs("1.5h") == 5'400'000);
  CHECK(DurationMs(".5s") == 500);
  CHECK(DurationMs("0.001s") == 1);
  CHECK(DurationMs("2.50s") == 2'500);
}

TEST_CASE("Duration.AcceptsBareZero") { CHECK(DurationMs("0") == 0); }

TEST_CASE("Duration.RejectsBareNumber") {
  CHECK(DurationError("30") == TextError{0, "'30' has no unit; write 30s, 30m or 30h"});
  CHECK(DurationError("1h30") ==
        TextError{2, "'1h30': '30' has no unit; add one of ms, s, m, h or d"});
}

TEST_CASE("Duration.RejectsUnknownUnit") {
  CHECK(DurationError("5x") == TextError{1, "'5x': unknown unit 'x'; use ms, s, m, h or d"});
  CHECK(DurationError("1h5x") == TextError{3, "'1h5x': unknown unit 'x'; use ms, s, m, h or d"});
  CHECK(DurationError("5min") ==
        TextError{1, "'5min': unknown unit 'min'; use ms, s, m, h or d (did you mean 'm'?)"});
  CHECK(DurationError("10seconds") ==
        TextError{2,
                  "'10seconds': unknown unit 'seconds'; use ms, s, m, h or d (did you mean 's'?)"});
  CHECK(
      DurationError("5S") ==
      TextError{
          1,
          "'5S': unknown unit 'S'; use ms, s, m, h or d (did you mean 's'? units are lowercase)"});
  CHECK(DurationError("5M") ==
        TextError{1,
                  "'5M': unknown unit 'M'; use ms, s, m, h or d (write minutes as m; "
                  "months are not a duration unit)"});
  CHECK(
      DurationError("2w") ==
      TextError{1, "'2w': unknown unit 'w'; use ms, s, m, h or d (write weeks as days, e.g. 7d)"});
}

TEST_CASE("Duration.RejectsNegative") {
  CHECK(DurationError("-5s") ==
        TextError{0, "'-5s': a duration cannot be negative; write a positive one, e.g. 5s"});
}

TEST_CASE("Duration.RejectsOverflow") {
  CHECK(DurationMs("106751991167d") == 106'751'991'167 * 86'400'000);
  const std::string too_long = "is too long; the longest duration is 106751991167d7h12m55s807ms";
  CHECK(DurationError("106751991168d") == TextError{0, "'106751991168d' " + too_long});
  CHECK(DurationError("99999999999999999999s") ==
        TextError{0, "'99999999999999999999s' " + too_long});
  CHECK(DurationError("106751991167d8h") == TextError{13, "'106751991167d8h' " + too_long});
}

TEST_CASE("Duration.RejectsSpacesAndJunk") {
  CHECK(DurationError("") ==
        TextError{0, "empty duration; write a number with a unit, e.g. 30s or 1h30m"});
  CHECK(DurationError("1h 30m") ==
        TextError{2, "'1h 30m': remove the spaces; write a duration without them, e.g. 1h30m"});
  CHECK(DurationError("5 s") ==
        TextError{1, "'5 s': remove the spaces; write a duration without them, e.g. 5s"});
  CHECK(DurationError("abc") ==
        TextError{0, "'abc' is not a duration; write a number with a unit, e.g. 30s or 1h30m"});
  CHECK(DurationError("5s!") ==
        TextError{2, "'5s!': unexpected '!'; write a duration such as 30s or 1h30m"});
  CHECK(DurationError("1..5s") ==
        TextError{2, "'1..5s': unexpected '.'; write a duration such as 30s or 1h30m"});
}

TEST_CASE("Duration.RejectsUnitsOutOfOrder") {
  const std::string rule =
      ": units must go from largest to smallest, each at most once, e.g. 1h30m";
  CHECK(DurationError("30m1h") == TextError{4, "'30m1h'" + rule});
  CHECK(DurationError("1s1s") == TextError{3, "'1s1s'" + rule});
}

TEST_CASE("Duration.RejectsSubMillisecondPrecision") {
  CHECK(DurationError("1.0005s") == TextError{0,
                                              "'1.0005s' is finer than a millisecond; durations "
                                              "are whole milliseconds, e.g. 1500ms or 1.5s"});
  CHECK(DurationError("0.5ms").offset == 0);
}

TEST_CASE("Duration.FormatsLargestUnitsFirst") {
  CHECK(FormatDurationMs(0) == "0s");
  CHECK(FormatDurationMs(500) == "500ms");
  CHECK(FormatDurationMs(5'400'000) == "1h30m");
  CHECK(FormatDurationMs(86'402'000) == "1d2s");
  CHECK(FormatDurationMs(-1'500) == "-1s500ms");
  CHECK(FormatDurationMs(kInt64Max) == "106751991167d7h12m55s807ms");
  CHECK(FormatDurationMs(std::numeric_limits<int64_t>::min()) == "-106751991167d7h12m55s808ms");
}

TEST_CASE("Duration.FormatRoundTrips") {
  for (int64_t ms :
       {int64_t{0}, int64_t{1}, int64_t{999}, int64_t{60'000}, int64_t{93'784'005}, kInt64Max}) {
    CHECK(DurationMs(FormatDurationMs(ms)) == ms);
  }
}

TEST_CASE("Size.ParsesBytes") {
  CHECK(SizeBytes("0") == 0);
  CHECK(SizeBytes("512") == 512);
  CHECK(SizeBytes("512B") == 512);
}

TEST_CASE("Size.SingleLettersAndIecAreBinary") {
  CHECK(SizeBytes("1K") == 1024);
  CHECK(SizeBytes("1k") == 1024);
  CHECK(SizeBytes("1Ki") == 1024);
  CHECK(SizeBytes("1KiB") == 1024);
  CHECK(SizeBytes("512m") == 512LL << 20);
  CHECK(SizeBytes("1G") == 1LL << 30);
  CHECK(SizeBytes("1g") == 1LL << 30);
  CHECK(SizeBytes("1Gi") == 1LL << 30);
  CHECK(SizeBytes("1GiB") == 1LL << 30);
  CHECK(SizeBytes("2T") == 2LL << 40);
  CHECK(SizeBytes("1P") == 1LL << 50);
}

TEST_CASE("Size.ByteSuffixedUnitsAreDecimal") {
  CHECK(SizeBytes("1KB") == 1'000);
  CHECK(SizeBytes("1kB") == 1'000);
  CHECK(SizeBytes("1MB") == 1'000'000);
  CHECK(SizeBytes("1GB") == 1'000'000'000);
  CHECK(SizeBytes("1TB") == 1'000'000'000'000);
  CHECK(SizeBytes("1PB") == 1'000'000'000'000'000);
}

TEST_CASE("Size.FractionsRoundUpToWholeBytes") {
  CHECK(SizeBytes("1.5G") == 3LL << 29);
  CHECK(SizeBytes("0.5K") == 512);
  CHECK(SizeBytes("0.1K") == 103);
  CHECK(SizeBytes("1.5KB") == 1'500);
}

TEST_CASE("Size.RejectsFractionOfAByte") {
  const std::string fix =
      "is not a whole number of bytes; write whole bytes or use a unit, e.g. 1.5K";
  CHECK(SizeError("1.5") == TextError{0, "'1.5' " + fix});
  CHECK(SizeError("1.5B") == TextError{0, "'1.5B' " + fix});
}

TEST_CASE("Size.RejectsNegative") {
  CHECK(SizeError("-1G") ==
        TextError{0, "'-1G': a size cannot be negative; write a positive one, e.g. 1G"});
}

TEST_CASE("Size.RejectsUnknownUnit") {
  const std::string units =
      "; use K, M, G, T or P for powers of 1024 (also written Ki, KiB, Mi, ...) or KB, MB, GB, TB "
      "or PB for "
      "powers of 1000";
  CHECK(SizeError("5X") == TextError{1, "'5X': unknown size unit 'X'" + units});
  CHECK(SizeError("1gb") ==
        TextError{1, "'1gb': unknown size unit 'gb'" + units + " (did you mean 'GB'?)"});
  CHECK(SizeError("1mib") ==
        TextError{1, "'1mib': unknown size unit 'mib'" + units + " (did you mean 'MiB'?)"});
  CHECK(SizeError("1e9") == TextError{1, "'1e9': unknown size unit 'e9'" + units});
}

TEST_CASE("Size.RejectsOverflow") {
  CHECK(SizeBytes("9223372036854775807") == kInt64Max);
  CHECK(SizeBytes("8191P") == 8191LL << 50);
  const std::string too_large = "is too large; a size must be less than 8192P (2^63 bytes)";
  CHECK(SizeError("8192P") == TextError{0, "'8192P' " + too_large});
  CHECK(SizeError("9223372036854775808") == TextError{0, "'9223372036854775808' " + too_large});
  CHECK(SizeError("99999999999999999999999G") ==
        TextError{0, "'99999999999999999999999G' " + too_large});
}

TEST_CASE("Size.RejectsSpacesAndJunk") {
  CHECK(SizeError("") ==
        TextError{0, "empty size; write a number of bytes with an optional unit, e.g. 512M or 2G"});
  CHECK(SizeError("1 G") ==
        TextError{1, "'1 G': remove the space between the number and the unit, e.g. 1G"});
  CHECK(
      SizeError("lots") ==
      TextError{0, "'lots' is not a size; write a number with an optional unit, e.g. 512M or 2G"});
}

TEST_CASE("Size.FormatsShortestExactText") {
  CHECK(FormatSizeBytes(0) == "0B");
  CHECK(FormatSizeBytes(512) == "512B");
  CHECK(FormatSizeBytes(1024) == "1Ki");
  CHECK(FormatSizeBytes(1536) == "1536B");
  CHECK(FormatSizeBytes(3LL << 29) == "1.5Gi");
  CHECK(FormatSizeBytes(1'000) == "1KB");
  CHECK(FormatSizeBytes(1'000'000'000) == "1GB");
  CHECK(FormatSizeBytes(1'000'000'001) == "1000000001B");
  CHECK(FormatSizeBytes(-2048) == "-2Ki");
}

TEST_CASE("Size.FormatRoundTrips") {
  for (int64_t bytes : {int64_t{1}, int64_t{1023}, int64_t{1536}, int64_t{3} << 29,
                        int64_t{1'500'000}, int64_t{123'456'789}, kInt64Max}) {
    CHECK(SizeBytes(FormatSizeBytes(bytes)) == bytes);
  }
}
