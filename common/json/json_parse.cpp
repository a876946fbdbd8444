// ParseJson: a strict recursive-descent RFC 8259 reader (declared in
// json_value.h). Recursion is bounded by JsonLimits::max_depth.

#include <charconv>
#include <limits>
#include <optional>
#include <unordered_set>
#include <utility>

#include "common/json/json_value.h"

namespace receta {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

void AppendUtf8(unsigned cp, std::string* out) {
  if (cp < 0x80) {
    *out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    *out += static_cast<char>(0xC0 | (cp >> 6));
    *out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    *out += static_cast<char>(0xE0 | (cp >> 12));
    *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    *out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    *out += static_cast<char>(0xF0 | (cp >> 18));
    *out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    *out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

/// Each Parse* returns false after setting error_ (the first error wins).
class JsonParser {
 public:
  JsonParser(std::string_view text, const JsonLimits& limits) : text_(text), limits_(limits) {}

  TextResult<JsonValue> Parse() {
    SkipSpace();
    if (pos_ == text_.size()) return TextError{pos_, "the document is empty"};
    JsonValue value;
    if (!ParseValue(&value, /*depth=*/0)) return *error_;
    SkipSpace();
    if (pos_ != text_.size()) {
      return TextError{pos_, "unexpected " + Describe(pos_) + " after the end of the document"};
    }
    return value;
  }

 private:
  bool Fail(size_t offset, std::string message) {
    if (!error_) error_ = TextError{offset, std::move(message)};
    return false;
  }

  std::string Describe(size_t offset) const { return DescribeJsonByte(text_, offset); }

  void SkipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }

  bool Consume(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  /// A value at pos_ into `out`; `depth` counts the objects and arrays around it.
  bool ParseValue(JsonValue* out, int depth) {
    SkipSpace();
    if (pos_ == text_.size()) return Fail(pos_, "expected a value, got the end of the document");
    const size_t start = pos_;
    const char c = text_[pos_];
    bool ok = true;
    if (c == '{' || c == '[') {
      if (depth + 1 > limits_.max_depth) {
        std::string message =
            "objects and arrays nest more than " + std::to_string(limits_.max_depth) + " deep";
        if (!limits_.too_deep_advice.empty()) message += "; " + std::string(limits_.too_deep_advice);
        return Fail(pos_, std::move(message));
      }
      ok = c == '{' ? ParseObject(out, depth + 1) : ParseArray(out, depth + 1);
    } else if (c == '"') {
      std::string text;
      ok = ParseString(&text);
      *out = JsonValue::String(std::move(text));
    } else if (Consume("true")) {
      *out = JsonValue::Bool(true);
    } else if (Consume("false")) {
      *out = JsonValue::Bool(false);
    } else if (Consume("null")) {
      *out = JsonValue();
    } else if (Consume("NaN")) {
      *out = JsonValue::Number(std::numeric_limits<double>::quiet_NaN());
    } else if (Consume("Infinity")) {
      *out = JsonValue::Number(std::numeric_limits<double>::infinity());
    } else if (Consume("-Infinity")) {
      *out = JsonValue::Number(-std::numeric_limits<double>::infinity());
    } else if (c == '-' || IsDigit(c)) {
      ok = ParseNumber(out);
    } else if (c == '\'') {
      return Fail(pos_, "expected a value, got ''' (JSON strings use double quotes)");
    } else {
      return Fail(pos_,
                  "expected a value (object, array, string, number, true, false or null), got " +
                      Describe(pos_));
    }
    out->set_offset(start);
    return ok;
  }

  bool ParseObject(JsonValue* out, int depth) {
    ++pos_;  // '{'
    std::vector<JsonMember> members;
    std::unordered_set<std::string> seen;  // Why: only filled when duplicates are refused.
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == '}') {
      ++pos_;
      *out = JsonValue::Object(std::move(members));
      return true;
    }
    for (;;) {
      SkipSpace();
      if (pos_ >= text_.size() || text_[pos_] != '"') {
        std::string message = "expected a key in double quotes, got " + Describe(pos_);
        if (pos_ < text_.size() && text_[pos_] == '}')
          message += " (JSON allows no comma before '}')";
        if (pos_ < text_.size() && text_[pos_] == '\'')
          message += " (JSON strings use double quotes)";
        return Fail(pos_, std::move(message));
      }
      JsonMember member;
      member.key_offset = pos_;
      if (!ParseString(&member.key)) return false;
      if (!limits_.allow_duplicate_keys && !seen.insert(member.key).second) {
        return Fail(member.key_offset, "key \"" + member.key +
                                           "\" appears twice in this object; keep one of them");
      }
      SkipSpace();
      if (pos_ >= text_.size() || text_[pos_] != ':') {
        return Fail(pos_,
                    "expected ':' after the key \"" + member.key + "\", got " + Describe(pos_));
      }
      ++pos_;
      if (!ParseValue(&member.value, depth)) return false;
      members.push_back(std::move(member));
      SkipSpace();
      if (pos_ < text_.size() && text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < text_.size() && text_[pos_] == '}') {
        ++pos_;
        *out = JsonValue::Object(std::move(members));
        return true;
      }
      return Fail(pos_, "expected ',' or '}' after the value of \"" + members.back().key +
                            "\", got " + Describe(pos_));
    }
  }

  bool ParseArray(JsonValue* out, int depth) {
    ++pos_;  // '['
    std::vector<JsonValue> items;
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == ']') {
      ++pos_;
      *out = JsonValue::Array(std::move(items));
      return true;
    }
    for (;;) {
      SkipSpace();
      if (pos_ < text_.size() && text_[pos_] == ']') {
        return Fail(pos_, "expected a value, got ']' (JSON allows no comma before ']')");
      }
      JsonValue item;
      if (!ParseValue(&item, depth)) return false;
      items.push_back(std::move(item));
      SkipSpace();
      if (pos_ < text_.size() && text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < text_.size() && text_[pos_] == ']') {
        ++pos_;
        *out = JsonValue::Array(std::move(items));
        return true;
      }
      return Fail(pos_, "expected ',' or ']' in an array, got " + Describe(pos_));
    }
  }

  bool ParseNumber(JsonValue* out) {
    const size_t start = pos_;
    size_t i = pos_;
    auto digits = [&] {
      const size_t from = i;
      while (i < text_.size() && IsDigit(text_[i])) ++i;
      return i - from;
    };
    if (i < text_.size() && text_[i] == '-') ++i;
    const size_t int_start = i;
    const size_t int_digits = digits();
    bool ok = int_digits > 0 && !(int_digits > 1 && text_[int_start] == '0');
    bool integer_syntax = true;
    if (ok && i < text_.size() && text_[i] == '.') {
      ++i;
      integer_syntax = false;
      ok = digits() > 0;
    }
    if (ok && i < text_.size() && (text_[i] == 'e' || text_[i] == 'E')) {
      ++i;
      integer_syntax = false;
      if (i < text_.size() && (text_[i] == '+' || text_[i] == '-')) ++i;
      ok = digits() > 0;
    }
    // Why: include trailing number-like characters so the message shows the whole bad token.
    size_t end = i;
    while (end < text_.size() && (IsDigit(text_[end]) || text_[end] == '.' || text_[end] == 'e' ||
                                  text_[end] == 'E' || text_[end] == '+' || text_[end] == '-')) {
      ++end;
      ok = false;
    }
    const std::string token(text_.substr(start, end - start));
    if (!ok)
      return Fail(start, "invalid number '" + token + "'; JSON numbers look like 12, -0.5 or 1e-3");
    const char* first = text_.data() + start;
    const char* last = text_.data() + end;
    if (integer_syntax) {
      int64_t integer = 0;
      const auto [ptr, ec] = std::from_chars(first, last, integer);
      // Why: "-0" is the integer 0 but keeps the sign as a double.
      if (ec == std::errc() && ptr == last && token != "-0") {
        *out = JsonValue::Integer(integer);
        pos_ = end;
        return true;
      }
    }
    double value = 0;
    const auto [ptr, ec] = std::from_chars(first, last, value);
    if (ec != std::errc() || ptr != last) {
      return Fail(start, "number '" + token + "' is out of range");
    }
    *out = JsonValue::Number(value);
    pos_ = end;
    return true;
  }

  bool ParseHex4(size_t at, unsigned* out) const {
    if (at + 4 > text_.size()) return false;
    unsigned v = 0;
    for (size_t i = at; i < at + 4; ++i) {
      const char c = text_[i];
      v <<= 4;
      if (IsDigit(c))
        v |= static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f')
        v |= static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        v |= static_cast<unsigned>(c - 'A' + 10);
      else
        return false;
    }
    *out = v;
    return true;
  }

  /// A "..." string at pos_ (which is '"'), unescaped into `out`.
  bool ParseString(std::string* out) {
    const size_t start = pos_++;
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (static_cast<unsigned char>(c) < 0x20) {
        return Fail(
            pos_,
            "control character in a string; escape it (e.g. \\n) or close the string with '\"'");
      }
      if (c != '\\') {
        *out += c;
        ++pos_;
        continue;
      }
      const size_t escape = pos_;
      if (pos_ + 1 >= text_.size()) break;
      const char e = text_[pos_ + 1];
      pos_ += 2;
      switch (e) {
        case '"':
          *out += '"';
          break;
        case '\\':
          *out += '\\';
          break;
        case '/':
          *out += '/';
          break;
        case 'b':
          *out += '\b';
          break;
        case 'f':
          *out += '\f';
          break;
        case 'n':
          *out += '\n';
          break;
        case 'r':
          *out += '\r';
          break;
        case 't':
          *out += '\t';
          break;
        case 'u': {
          unsigned cp = 0;
          if (!ParseHex4(pos_, &cp))
            return Fail(escape, "invalid \\u escape; write \\u and four hex digits");
          pos_ += 4;
          if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return Fail(escape,
                        "\\u escape is a lone low surrogate; pair it with a high surrogate");
          }
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            unsigned low = 0;
            if (text_.substr(pos_, 2) != "\\u" || !ParseHex4(pos_ + 2, &low) || low < 0xDC00 ||
                low > 0xDFFF) {
              return Fail(escape,
                          "\\u escape is a high surrogate without a low surrogate after it");
            }
            pos_ += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          AppendUtf8(cp, out);
          break;
        }
        default:
          return Fail(escape, "invalid escape '\\" + std::string(1, e) +
                                  "'; use \\\", \\\\, \\/, \\b, \\f, \\n, \\r, \\t or \\uXXXX");
      }
    }
    return Fail(start, "unterminated string; close it with '\"'");
  }

  std::string_view text_;
  const JsonLimits& limits_;
  size_t pos_ = 0;
  std::optional<TextError> error_;
};

std::string TooLarge(size_t size, size_t limit) {
  return "the JSON document is " + std::to_string(size) + " bytes, over the limit of " +
         std::to_string(limit) + " bytes";
}

}  // namespace

std::string DescribeJsonByte(std::string_view text, size_t offset) {
  if (offset >= text.size()) return "the end of the document";
  const char c = text[offset];
  if (static_cast<unsigned char>(c) < 0x20) return "a control character";
  return "'" + std::string(1, c) + "'";
}

TextResult<JsonValue> ParseJsonText(std::string_view text, const JsonLimits& limits) {
  if (text.size() > limits.max_bytes) return TextError{0, TooLarge(text.size(), limits.max_bytes)};
  return JsonParser(text, limits).Parse();
}

Result<JsonValue> ParseJson(std::string_view text, const JsonLimits& limits) {
  if (text.size() > limits.max_bytes) {
    return Result<JsonValue>::Error(TooLarge(text.size(), limits.max_bytes));
  }
  TextResult<JsonValue> parsed = JsonParser(text, limits).Parse();
  if (!parsed.ok()) {
    const auto [line, column] = OffsetToLineColumn(text, parsed.error().offset);
    return Result<JsonValue>::Error("at line " + std::to_string(line) + ", column " +
                                    std::to_string(column) + ": " + parsed.error().message);
  }
  return std::move(parsed).value();
}

}  // namespace receta
