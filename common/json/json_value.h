#pragma once
// JsonValue and ParseJson: reading JSON documents (the scheduler's replies
// printed by `--json`, metrics files) into a tree that is easy and safe to
// read. Strict RFC 8259, plus the NaN, Infinity and -Infinity that Python's
// json.dump writes for float('nan') and float('inf').
//
// Reading never throws and never crashes on a missing key or a wrong type:
// doc["steps"][0]["name"].AsString() is "" when any part is absent.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/lang/text_error.h"
#include "common/status.h"

namespace receta {

struct JsonMember;

/// One JSON value: null, bool, number, string, array or object. Objects keep
/// their keys in document order. Numbers are held as a double, plus the exact
/// int64 when the number is known to be an integer that fits: an integer
/// literal within int64 (so 9007199254740993 and -9223372036854775808 read
/// back exactly through AsInt), or an integral double within +-2^53 (2.0,
/// 1e3). 9223372036854775808 and 1e300 are numbers but not integers.
class JsonValue {
 public:
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };

  /// null.
  JsonValue();
  JsonValue(const JsonValue&);
  JsonValue(JsonValue&&) noexcept;
  JsonValue& operator=(const JsonValue&);
  JsonValue& operator=(JsonValue&&) noexcept;
  ~JsonValue();

  static JsonValue Bool(bool value);
  static JsonValue Number(double value);
  static JsonValue Integer(int64_t value);
  static JsonValue String(std::string value);
  static JsonValue Array(std::vector<JsonValue> items);
  static JsonValue Object(std::vector<JsonMember> members);

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::kNull; }
  bool is_bool() const { return kind_ == Kind::kBool; }
  bool is_number() const { return kind_ == Kind::kNumber; }
  /// A number whose value is an integer that fits in int64 exactly.
  bool is_integer() const { return kind_ == Kind::kNumber && exact_integer_; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_array() const { return kind_ == Kind::kArray; }
  bool is_object() const { return kind_ == Kind::kObject; }

  /// The value of member `key` (the first one if the key repeats), or a
  /// shared null value when this is not an object or has no such key.
  const JsonValue& operator[](std::string_view key) const;
  /// Item `index` of an array, or a shared null value when this is not an
  /// array or the index is past its end.
  const JsonValue& operator[](size_t index) const;
  const JsonValue& operator[](int index) const;
  /// The value of member `key`, or nullptr (absent, or not an object).
  const JsonValue* Find(std::string_view key) const;
  bool Has(std::string_view key) const { return Find(key) != nullptr; }

  /// The string, or `fallback` when this is not a string.
  std::string AsString(std::string fallback = "") const;
  /// The exact integer, or `fallback` when this is not an integer number
  /// (1.5, 1e300, strings and booleans give `fallback`; 2.0 gives 2).
  int64_t AsInt(int64_t fallback = 0) const;
  /// The number, or `fallback` when this is not a number.
  double AsNumber(double fallback = 0) const;
  /// The boolean, or `fallback` when this is not true or false.
  bool AsBool(bool fallback = false) const;

  /// An array's items; empty for anything else.
  const std::vector<JsonValue>& Items() const;
  /// An object's members in document order; empty for anything else.
  const std::vector<JsonMember>& Members() const;
  /// Items of an array or members of an object; 0 otherwise.
  size_t size() const;

  /// Byte offset in the parsed text where this value starts (0 for values
  /// built in code); for callers that report "line L, column C" themselves.
  size_t offset() const { return offset_; }
  void set_offset(size_t offset) { offset_ = offset; }

 private:
  Kind kind_ = Kind::kNull;
  bool bool_ = false;
  bool exact_integer_ = false;
  double number_ = 0;
  int64_t integer_ = 0;
  size_t offset_ = 0;
  std::string string_;
  std::vector<JsonValue> items_;
  std::vector<JsonMember> members_;
};

/// One "key": value pair of an object. `key_offset` is the byte offset of
/// the key's opening quote in the parsed text (0 for values built in code).
struct JsonMember {
  std::string key;
  JsonValue value;
  size_t key_offset = 0;
};

inline constexpr size_t kDefaultMaxJsonBytes = size_t{256} << 20;
inline constexpr int kDefaultMaxJsonDepth = 64;

/// What ParseJson accepts.
struct JsonLimits {
  /// Larger documents are refused before parsing.
  size_t max_bytes = kDefaultMaxJsonBytes;
  /// Objects and arrays nested deeper are refused (the top level is depth 1).
  int max_depth = kDefaultMaxJsonDepth;
  /// Why: RFC 8259 leaves repeated keys to the reader; receta refuses them
  /// by default because a repeated key in a document is almost always a bug.
  bool allow_duplicate_keys = false;
  /// Said after "objects and arrays nest more than N deep; ".
  std::string_view too_deep_advice = "flatten the document";
};

/// Parses one JSON document (surrounding whitespace allowed). Errors read
/// "at line L, column C: what was wrong[; what to do]", columns counting
/// UTF-8 code points; a document over limits.max_bytes fails with
/// "the JSON document is N bytes, over the limit of M bytes".
Result<JsonValue> ParseJson(std::string_view text, const JsonLimits& limits = {});

/// As ParseJson, with the error as a byte offset and a message without the
/// location, for callers that word their own prefix. A document over
/// limits.max_bytes fails at offset 0.
TextResult<JsonValue> ParseJsonText(std::string_view text, const JsonLimits& limits = {});

/// "'x'" for the byte at `offset`, "a control character" or "the end of
/// the document": how parse errors name what they found.
std::string DescribeJsonByte(std::string_view text, size_t offset);

}  // namespace receta
