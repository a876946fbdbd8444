#include "common/lang/quantity.h"

#include <array>
#include <cctype>
#include <limits>
#include <optional>

namespace receta {
namespace {

using Wide = unsigned __int128;  // Why: value * unit must not overflow before the range check.

constexpr uint64_t kInt64Max = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
constexpr int kMaxFractionDigits = 18;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool IsAsciiLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

std::string Quoted(std::string_view text) { return "'" + std::string(text) + "'"; }

/// A decimal number "12", "1.5", ".5" or "3." as read from text.
struct Decimal {
  uint64_t whole = 0;
  uint64_t fraction = 0;     // digits after the point, trailing zeros removed
  int fraction_digits = 0;   // how many digits `fraction` has
  bool too_large = false;    // whole part past INT64_MAX
  bool too_precise = false;  // more than kMaxFractionDigits significant fraction digits
  size_t end = 0;            // offset just after the number
};

/// Reads a decimal number at `pos`; nullopt when there is no digit there.
std::optional<Decimal> ReadDecimal(std::string_view text, size_t pos) {
  Decimal d;
  bool any_digit = false;
  while (pos < text.size() && IsDigit(text[pos])) {
    any_digit = true;
    d.whole = d.whole * 10 + static_cast<uint64_t>(text[pos] - '0');
    if (d.whole > kInt64Max) {
      d.too_large = true;
      d.whole = kInt64Max;  // Why: keeps the loop from wrapping; the value is rejected anyway.
    }
    ++pos;
  }
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    std::string digits;
    while (pos < text.size() && IsDigit(text[pos])) {
      any_digit = true;
      digits += text[pos];
      ++pos;
    }
    while (!digits.empty() && digits.back() == '0') digits.pop_back();
    if (digits.size() > static_cast<size_t>(kMaxFractionDigits)) {
      d.too_precise = true;
      digits.resize(kMaxFractionDigits);
    }
    for (char c : digits) d.fraction = d.fraction * 10 + static_cast<uint64_t>(c - '0');
    d.fraction_digits = static_cast<int>(digits.size());
  }
  if (!any_digit) return std::nullopt;
  d.end = pos;
  return d;
}

/// `d` * `unit`, split into its whole part and whether a fraction remains.
struct Scaled {
  Wide whole = 0;
  bool has_remainder = false;
};

Scaled Scale(const Decimal& d, uint64_t unit) {
  Wide power_of_ten = 1;
  for (int i = 0; i < d.fraction_digits; ++i) power_of_ten *= 10;
  const Wide fraction_units = static_cast<Wide>(d.fraction) * unit;
  Scaled s;
  s.whole = static_cast<Wide>(d.whole) * unit + fraction_units / power_of_ten;
  s.has_remainder = fraction_units % power_of_ten != 0 || d.too_precise;
  return s;
}

// ---- durations ----

struct DurationUnit {
  std::string_view name;
  uint64_t ms;
};
// Largest first: a duration's parts must follow this order.
constexpr std::array<DurationUnit, 5> kDurationUnits{{
    {"d", 86'400'000},
    {"h", 3'600'000},
    {"m", 60'000},
    {"s", 1'000},
    {"ms", 1},
}};

constexpr std::string_view kDurationUnitList = "ms, s, m, h or d";

/// The unit people mean by a common spelling ("minutes" -> "m"), or "".
std::string_view CanonicalDurationUnit(std::string_view lower) {
  struct Alias {
    std::string_view alias;
    std::string_view unit;
  };
  constexpr std::array<Alias, 19> kAliases{{
      {"msec", "ms"},         {"msecs", "ms"}, {"millis", "ms"}, {"millisecond", "ms"},
      {"milliseconds", "ms"}, {"sec", "s"},    {"secs", "s"},    {"second", "s"},
      {"seconds", "s"},       {"min", "m"},    {"mins", "m"},    {"minute", "m"},
      {"minutes", "m"},       {"hr", "h"},     {"hrs", "h"},     {"hour", "h"},
      {"hours", "h"},         {"day", "d"},    {"days", "d"},
  }};
  for (const Alias& a : kAliases) {
    if (lower == a.alias) return a.unit;
  }
  return "";
}

std::string Lowercase(std::string_view text) {
  std::string lower;
  for (char c : text) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower;
}

/// A hint for unit spellings people often write, or "".
std::string DurationUnitHint(std::string_view unit) {
  std::string lower = Lowercase(unit);
  if (unit == "M") return " (write minutes as m; months are not a duration unit)";
  if (std::string_view canonical = CanonicalDurationUnit(lower); !canonical.empty()) {
    return " (did you mean '" + std::string(canonical) + "'?)";
  }
  if (lower == "ms" || lower == "s" || lower == "h" || lower == "d") {
    return " (did you mean '" + lower + "'? units are lowercase)";
  }
  if (lower == "w" || lower == "week" || lower == "weeks") return " (write weeks as days, e.g. 7d)";
  return "";
}

/// `text` as the duration its writer meant: spaces dropped and spelled-out
/// units shortened ("1 hour 30 minutes" -> "1h30m").
std::string SuggestDuration(std::string_view text) {
  std::string out;
  size_t pos = 0;
  while (pos < text.size()) {
    if (IsAsciiLetter(text[pos])) {
      size_t start = pos;
      while (pos < text.size() && IsAsciiLetter(text[pos])) ++pos;
      std::string_view word = text.substr(start, pos - start);
      std::string_view canonical = CanonicalDurationUnit(Lowercase(word));
      out += canonical.empty() ? std::string(word) : std::string(canonical);
    } else {
      if (!IsSpace(text[pos])) out += text[pos];
      ++pos;
    }
  }
  return out;
}

std::string WithoutSpaces(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (!IsSpace(c)) out += c;
  }
  return out;
}

// ---- sizes ----

struct SizeUnit {
  std::string_view name;
  uint64_t bytes;
};
constexpr uint64_t kKi = uint64_t{1} << 10;
constexpr uint64_t kMi = uint64_t{1} << 20;
constexpr uint64_t kGi = uint64_t{1} << 30;
constexpr uint64_t kTi = uint64_t{1} << 40;
constexpr uint64_t kPi = uint64_t{1} << 50;
constexpr std::array<SizeUnit, 27> kSizeUnits{{
    {"", 1},
    {"B", 1},
    {"K", kKi},
    {"k", kKi},
    {"Ki", kKi},
    {"KiB", kKi},
    {"M", kMi},
    {"m", kMi},
    {"Mi", kMi},
    {"MiB", kMi},
    {"G", kGi},
    {"g", kGi},
    {"Gi", kGi},
    {"GiB", kGi},
    {"T", kTi},
    {"t", kTi},
    {"Ti", kTi},
    {"TiB", kTi},
    {"P", kPi},
    {"p", kPi},
    {"Pi", kPi},
    {"PiB", kPi},
    {"KB", 1'000},
    {"kB", 1'000},
    {"MB", 1'000'000},
    {"GB", 1'000'000'000},
    {"TB", 1'000'000'000'000},
}};
constexpr SizeUnit kPetabyte{"PB", 1'000'000'000'000'000};

std::optional<SizeUnit> FindSizeUnit(std::string_view name) {
  if (name == kPetabyte.name) return kPetabyte;
  for (const SizeUnit& u : kSizeUnits) {
    if (u.name == name) return u;
  }
  return std::nullopt;
}

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::string SizeUnitHint(std::string_view unit) {
  if (EqualsIgnoringCase(unit, kPetabyte.name)) return " (did you mean 'PB'?)";
  for (const SizeUnit& u : kSizeUnits) {
    if (!u.name.empty() && EqualsIgnoringCase(unit, u.name)) {
      return " (did you mean '" + std::string(u.name) + "'?)";
    }
  }
  return "";
}

/// "<whole>.<up to 3 decimals>" + unit when bytes/unit has at most 3
/// decimals, else nullopt.
std::optional<std::string> ExactSizeText(uint64_t bytes, uint64_t unit, std::string_view name) {
  const uint64_t whole = bytes / unit;
  const uint64_t remainder = bytes % unit;
  if (whole == 0) return std::nullopt;
  std::string text = std::to_string(whole);
  if (remainder != 0) {
    if ((remainder * 1000) % unit != 0) return std::nullopt;
    std::string decimals = std::to_string((remainder * 1000) / unit);
    decimals.insert(0, 3 - decimals.size(), '0');
    while (decimals.back() == '0') decimals.pop_back();
    text += "." + decimals;
  }
  return text + std::string(name);
}

}  // namespace

TextResult<int64_t> ParseDurationMs(std::string_view text) {
  const std::string quoted = Quoted(text);
  if (text.empty()) {
    return TextResult<int64_t>::Error(
        0, "empty duration; write a number with a unit, e.g. 30s or 1h30m");
  }
  if (text == "0") return int64_t{0};
  if (text[0] == '-') {
    return TextResult<int64_t>::Error(
        0, quoted + ": a duration cannot be negative; write a positive one, e.g. " +
               (text.size() > 1 ? std::string(text.substr(1)) : "30s"));
  }
  Wide total = 0;
  size_t previous_unit_index = 0;
  bool first_part = true;
  size_t pos = 0;
  while (pos < text.size()) {
    if (IsSpace(text[pos])) {
      return TextResult<int64_t>::Error(
          pos, quoted + ": remove the spaces; write a duration without them, e.g. " +
                   SuggestDuration(text));
    }
    const size_t number_start = pos;
    std::optional<Decimal> number = ReadDecimal(text, pos);
    if (!number) {
      if (pos == 0) {
        return TextResult<int64_t>::Error(
            0, quoted + " is not a duration; write a number with a unit, e.g. 30s or 1h30m");
      }
      return TextResult<int64_t>::Error(pos, quoted + ": unexpected '" + std::string(1, text[pos]) +
                                                 "'; write a duration such as 30s or 1h30m");
    }
    pos = number->end;
    const std::string number_text(text.substr(number_start, pos - number_start));
    const size_t unit_start = pos;
    while (pos < text.size() && IsAsciiLetter(text[pos])) ++pos;
    const std::string_view unit = text.substr(unit_start, pos - unit_start);
    if (unit.empty()) {
      if (pos < text.size() && IsSpace(text[pos])) {
        return TextResult<int64_t>::Error(
            pos, quoted + ": remove the spaces; write a duration without them, e.g. " +
                     SuggestDuration(text));
      }
      if (pos < text.size()) {
        return TextResult<int64_t>::Error(pos, quoted + ": unexpected '" +
                                                   std::string(1, text[pos]) +
                                                   "'; write a duration such as 30s or 1h30m");
      }
      if (first_part) {
        return TextResult<int64_t>::Error(number_start, quoted + " has no unit; write " +
                                                            number_text + "s, " + number_text +
                                                            "m or " + number_text + "h");
      }
      return TextResult<int64_t>::Error(number_start, quoted + ": '" + number_text +
                                                          "' has no unit; add one of " +
                                                          std::string(kDurationUnitList));
    }
    size_t unit_index = kDurationUnits.size();
    for (size_t i = 0; i < kDurationUnits.size(); ++i) {
      if (kDurationUnits[i].name == unit) unit_index = i;
    }
    if (unit_index == kDurationUnits.size()) {
      return TextResult<int64_t>::Error(
          unit_start, quoted + ": unknown unit '" + std::string(unit) + "'; use " +
                          std::string(kDurationUnitList) + DurationUnitHint(unit));
    }
    if (!first_part && unit_index <= previous_unit_index) {
      return TextResult<int64_t>::Error(
          unit_start,
          quoted + ": units must go from largest to smallest, each at most once, e.g. 1h30m");
    }
    if (number->too_large) {
      return TextResult<int64_t>::Error(number_start,
                                        quoted + " is too long; the longest duration is " +
                                            FormatDurationMs(std::numeric_limits<int64_t>::max()));
    }
    const Scaled part = Scale(*number, kDurationUnits[unit_index].ms);
    if (part.has_remainder) {
      return TextResult<int64_t>::Error(number_start,
                                        quoted +
                                            " is finer than a millisecond; durations are whole "
                                            "milliseconds, e.g. 1500ms or 1.5s");
    }
    total += part.whole;
    if (total > kInt64Max) {
      return TextResult<int64_t>::Error(number_start,
                                        quoted + " is too long; the longest duration is " +
                                            FormatDurationMs(std::numeric_limits<int64_t>::max()));
    }
    previous_unit_index = unit_index;
    first_part = false;
  }
  return static_cast<int64_t>(total);
}

std::string FormatDurationMs(int64_t ms) {
  if (ms == 0) return "0s";
  std::string out;
  uint64_t rest = static_cast<uint64_t>(ms);
  if (ms < 0) {
    out = "-";
    rest = ~rest + 1;  // Why: -ms overflows for INT64_MIN; two's complement negation does not.
  }
  for (const DurationUnit& unit : kDurationUnits) {
    const uint64_t count = rest / unit.ms;
    rest %= unit.ms;
    if (count != 0) out += std::to_string(count) + std::string(unit.name);
  }
  return out;
}

TextResult<int64_t> ParseSizeBytes(std::string_view text) {
  const std::string quoted = Quoted(text);
  if (text.empty()) {
    return TextResult<int64_t>::Error(
        0, "empty size; write a number of bytes with an optional unit, e.g. 512M or 2G");
  }
  if (text[0] == '-') {
    return TextResult<int64_t>::Error(
        0, quoted + ": a size cannot be negative; write a positive one, e.g. " +
               (text.size() > 1 ? std::string(text.substr(1)) : "512M"));
  }
  std::optional<Decimal> number = ReadDecimal(text, 0);
  if (!number) {
    return TextResult<int64_t>::Error(
        0, quoted + " is not a size; write a number with an optional unit, e.g. 512M or 2G");
  }
  const std::string number_text(text.substr(0, number->end));
  const size_t unit_start = number->end;
  if (unit_start < text.size() && IsSpace(text[unit_start])) {
    return TextResult<int64_t>::Error(
        unit_start,
        quoted + ": remove the space between the number and the unit, e.g. " + WithoutSpaces(text));
  }
  const std::string_view unit_name = text.substr(unit_start);
  std::optional<SizeUnit> unit = FindSizeUnit(unit_name);
  if (!unit) {
    return TextResult<int64_t>::Error(unit_start,
                                      quoted + ": unknown size unit '" + std::string(unit_name) +
                                          "'; use K, M, G, T or P for powers of 1024 (also written "
                                          "Ki, KiB, Mi, ...) or KB, MB, GB, "
                                          "TB or PB for powers of 1000" +
                                          SizeUnitHint(unit_name));
  }
  const std::string too_large =
      quoted + " is too large; a size must be less than 8192P (2^63 bytes)";
  if (number->too_large) return TextResult<int64_t>::Error(0, too_large);
  Scaled value = Scale(*number, unit->bytes);
  if (value.has_remainder) {
    if (unit->bytes == 1) {
      return TextResult<int64_t>::Error(
          0, quoted +
                 " is not a whole number of bytes; write whole bytes or use a unit, "
                 "e.g. 1.5K");
    }
    value.whole += 1;  // Why: round up, as Kubernetes does; a request must not shrink.
  }
  if (value.whole > kInt64Max) return TextResult<int64_t>::Error(0, too_large);
  return static_cast<int64_t>(value.whole);
}

std::string FormatSizeBytes(int64_t bytes) {
  if (bytes == 0) return "0B";
  std::string sign;
  uint64_t magnitude = static_cast<uint64_t>(bytes);
  if (bytes < 0) {
    sign = "-";
    magnitude = ~magnitude + 1;
  }
  struct Candidate {
    std::string_view name;
    uint64_t bytes;
  };
  // Preference order among equally short texts: whole numbers, then binary
  // units, then decimal units, larger units first.
  constexpr std::array<Candidate, 10> kUnits{{
      {"Pi", kPi},
      {"Ti", kTi},
      {"Gi", kGi},
      {"Mi", kMi},
      {"Ki", kKi},
      {"PB", 1'000'000'000'000'000},
      {"TB", 1'000'000'000'000},
      {"GB", 1'000'000'000},
      {"MB", 1'000'000},
      {"KB", 1'000},
  }};
  std::string best = std::to_string(magnitude) + "B";
  bool best_has_fraction = false;
  for (const Candidate& unit : kUnits) {
    std::optional<std::string> text = ExactSizeText(magnitude, unit.bytes, unit.name);
    if (!text) continue;
    const bool has_fraction = text->find('.') != std::string::npos;
    const bool better = text->size() < best.size() ||
                        (text->size() == best.size() && best_has_fraction && !has_fraction);
    if (better) {
      best = *text;
      best_has_fraction = has_fraction;
    }
  }
  return sign + best;
}

}  // namespace receta
