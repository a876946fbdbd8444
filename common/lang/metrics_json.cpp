#include "common/lang/metrics_json.h"

#include <charconv>
#include <limits>
#include <optional>
#include <utility>

#include "common/lang/text_error.h"

namespace receta {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

/// A strict recursive-descent JSON reader that records numbers and booleans
/// found through objects only. Each Parse* returns false after setting error_.
class MetricsJsonReader {
 public:
  explicit MetricsJsonReader(std::string_view text) : text_(text) {}

  std::optional<TextError> Read(std::map<std::string, double>* metrics) {
    metrics_ = metrics;
    SkipSpace();
    if (pos_ == text_.size()) {
      return TextError{pos_, "the document is empty; write an object such as {\"accuracy\": 0.93}"};
    }
    if (text_[pos_] != '{') {
      Fail(pos_,
           "the top level must be an object such as {\"accuracy\": 0.93}, got " + Describe(pos_));
      return error_;
    }
    if (!ParseValue(/*path=*/"", /*keep=*/true, /*depth=*/0)) return error_;
    SkipSpace();
    if (pos_ != text_.size()) {
      return TextError{pos_, "unexpected " + Describe(pos_) + " after the end of the document"};
    }
    return std::nullopt;
  }

 private:
  bool Fail(size_t offset, std::string message) {
    if (!error_) error_ = TextError{offset, std::move(message)};
    return false;
  }

  /// "'x'" for the character at `offset`, or "the end of the document".
  std::string Describe(size_t offset) const {
    if (offset >= text_.size()) return "the end of the document";
    const char c = text_[offset];
    if (static_cast<unsigned char>(c) < 0x20) return "a control character";
    return "'" + std::string(1, c) + "'";
  }

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

  void Keep(const std::string& path, size_t key_offset, double value) {
    if (!metrics_->emplace(path, value).second) {
      Fail(key_offset, "metric '" + path + "' appears twice; give each metric one name");
    }
  }

  /// A value at pos_. `keep`: record numbers and booleans under `path`
  /// (false inside arrays). `key_offset` locates duplicate-name errors.
  bool ParseValue(const std::string& path, bool keep, int depth, size_t key_offset = 0) {
    SkipSpace();
    if (pos_ == text_.size()) return Fail(pos_, "expected a value, got the end of the document");
    const char c = text_[pos_];
    if (c == '{' || c == '[') {
      if (depth + 1 > kMaxMetricsJsonDepth) {
        return Fail(pos_, "objects and arrays nest more than " +
                              std::to_string(kMaxMetricsJsonDepth) + " deep; flatten the metrics");
      }
      return c == '{' ? ParseObject(path, keep, depth + 1) : ParseArray(depth + 1);
    }
    if (c == '"') {
      std::string ignored;
      return ParseString(&ignored);
    }
    double value = 0;
    if (Consume("true")) {
      value = 1;
    } else if (Consume("false")) {
      value = 0;
    } else if (Consume("null")) {
      return true;
    } else if (Consume("NaN")) {
      value = std::numeric_limits<double>::quiet_NaN();
    } else if (Consume("Infinity")) {
      value = std::numeric_limits<double>::infinity();
    } else if (Consume("-Infinity")) {
      value = -std::numeric_limits<double>::infinity();
    } else if (c == '-' || IsDigit(c)) {
      if (!ParseNumber(&value)) return false;
    } else if (c == '\'') {
      return Fail(pos_, "expected a value, got ''' (JSON strings use double quotes)");
    } else {
      return Fail(pos_,
                  "expected a value (object, array, string, number, true, false or null), got " +
                      Describe(pos_));
    }
    if (keep) Keep(path, key_offset, value);
    return !error_;
  }

  bool ParseObject(const std::string& path, bool keep, int depth) {
    ++pos_;  // '{'
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == '}') {
      ++pos_;
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
      const size_t key_offset = pos_;
      std::string key;
      if (!ParseString(&key)) return false;
      SkipSpace();
      if (pos_ >= text_.size() || text_[pos_] != ':') {
        return Fail(pos_, "expected ':' after the key \"" + key + "\", got " + Describe(pos_));
      }
      ++pos_;
      if (!ParseValue(path.empty() ? key : path + "." + key, keep, depth, key_offset)) return false;
      SkipSpace();
      if (pos_ < text_.size() && text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < text_.size() && text_[pos_] == '}') {
        ++pos_;
        return true;
      }
      return Fail(pos_,
                  "expected ',' or '}' after the value of \"" + key + "\", got " + Describe(pos_));
    }
  }

  bool ParseArray(int depth) {
    ++pos_;  // '['
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == ']') {
      ++pos_;
      return true;
    }
    for (;;) {
      SkipSpace();
      if (pos_ < text_.size() && text_[pos_] == ']') {
        return Fail(pos_, "expected a value, got ']' (JSON allows no comma before ']')");
      }
      if (!ParseValue("", /*keep=*/false, depth)) return false;
      SkipSpace();
      if (pos_ < text_.size() && text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < text_.size() && text_[pos_] == ']') {
        ++pos_;
        return true;
      }
      return Fail(pos_, "expected ',' or ']' in an array, got " + Describe(pos_));
    }
  }

  bool ParseNumber(double* value) {
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
    if (ok && i < text_.size() && text_[i] == '.') {
      ++i;
      ok = digits() > 0;
    }
    if (ok && i < text_.size() && (text_[i] == 'e' || text_[i] == 'E')) {
      ++i;
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
    const auto [ptr, ec] = std::from_chars(text_.data() + start, text_.data() + end, *value);
    if (ec != std::errc() || ptr != text_.data() + end) {
      return Fail(start, "number '" + token + "' is out of range");
    }
    pos_ = end;
    return true;
  }

  bool ParseHex4(size_t at, unsigned* out) {
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

  static void AppendUtf8(unsigned cp, std::string* out) {
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
  size_t pos_ = 0;
  std::map<std::string, double>* metrics_ = nullptr;
  std::optional<TextError> error_;
};

}  // namespace

Result<std::map<std::string, double>> FlattenMetricsJson(std::string_view json_text) {
  if (json_text.size() > kMaxMetricsJsonBytes) {
    return Result<std::map<std::string, double>>::Error(
        "metrics JSON is " + std::to_string(json_text.size()) + " bytes, over the limit of " +
        std::to_string(kMaxMetricsJsonBytes) + "; write only summary numbers to the metrics file");
  }
  std::map<std::string, double> metrics;
  std::optional<TextError> error = MetricsJsonReader(json_text).Read(&metrics);
  if (error) {
    const auto [line, column] = OffsetToLineColumn(json_text, error->offset);
    return Result<std::map<std::string, double>>::Error(
        "invalid metrics JSON at line " + std::to_string(line) + ", column " +
        std::to_string(column) + ": " + error->message);
  }
  return metrics;
}

}  // namespace receta
