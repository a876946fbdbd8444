#include "common/lang/metrics_json.h"

#include <optional>
#include <utility>

#include "common/json/json_value.h"
#include "common/lang/text_error.h"

namespace receta {
namespace {

/// Walks a parsed metrics document in document order, recording numbers
/// and booleans found through objects (arrays and what is inside them are
/// skipped). Stops at the first metric named twice.
class MetricsFlattener {
 public:
  explicit MetricsFlattener(std::map<std::string, double>* metrics) : metrics_(metrics) {}

  std::optional<TextError> Flatten(const JsonValue& object, const std::string& prefix) {
    for (const JsonMember& member : object.Members()) {
      const std::string path = prefix.empty() ? member.key : prefix + "." + member.key;
      const JsonValue& value = member.value;
      if (value.is_object()) {
        if (auto error = Flatten(value, path)) return error;
        continue;
      }
      double number = 0;
      if (value.is_number()) {
        number = value.AsNumber();
      } else if (value.is_bool()) {
        number = value.AsBool() ? 1 : 0;
      } else {
        continue;  // strings, null and arrays carry no metric
      }
      if (!metrics_->emplace(path, number).second) {
        return TextError{member.key_offset,
                         "metric '" + path + "' appears twice; give each metric one name"};
      }
    }
    return std::nullopt;
  }

 private:
  std::map<std::string, double>* metrics_;
};

/// The top level must be an object: say so before parsing, with the
/// metrics-specific example, rather than report a generic JSON error.
std::optional<TextError> CheckTopLevel(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size() &&
         (text[pos] == ' ' || text[pos] == '\t' || text[pos] == '\n' || text[pos] == '\r')) {
    ++pos;
  }
  if (pos == text.size()) {
    return TextError{pos, "the document is empty; write an object such as {\"accuracy\": 0.93}"};
  }
  if (text[pos] != '{') {
    return TextError{pos, "the top level must be an object such as {\"accuracy\": 0.93}, got " +
                              DescribeJsonByte(text, pos)};
  }
  return std::nullopt;
}

}  // namespace

Result<std::map<std::string, double>> FlattenMetricsJson(std::string_view json_text) {
  using MetricsResult = Result<std::map<std::string, double>>;
  if (json_text.size() > kMaxMetricsJsonBytes) {
    return MetricsResult::Error(
        "metrics JSON is " + std::to_string(json_text.size()) + " bytes, over the limit of " +
        std::to_string(kMaxMetricsJsonBytes) + "; write only summary numbers to the metrics file");
  }
  std::map<std::string, double> metrics;
  std::optional<TextError> error = CheckTopLevel(json_text);
  if (!error) {
    JsonLimits limits;
    limits.max_bytes = kMaxMetricsJsonBytes;
    limits.max_depth = kMaxMetricsJsonDepth;
    // Why: a repeated key is reported as a repeated metric, with its dotted name.
    limits.allow_duplicate_keys = true;
    limits.too_deep_advice = "flatten the metrics";
    TextResult<JsonValue> document = ParseJsonText(json_text, limits);
    if (document.ok()) {
      error = MetricsFlattener(&metrics).Flatten(*document, "");
    } else {
      error = document.error();
    }
  }
  if (error) {
    const auto [line, column] = OffsetToLineColumn(json_text, error->offset);
    return MetricsResult::Error("invalid metrics JSON at line " + std::to_string(line) +
                                ", column " + std::to_string(column) + ": " + error->message);
  }
  return metrics;
}

}  // namespace receta
