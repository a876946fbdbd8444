#include "common/dag/params.h"

#include <cctype>
#include <cmath>
#include <regex>

#include "common/lang/did_you_mean.h"

namespace receta {
namespace {

bool LooksLikeInteger(const std::string& text) {
  static const std::regex kInteger("[-+]?[0-9]+");
  return std::regex_match(text, kInteger);
}

bool LooksLikeNumber(const std::string& text) {
  static const std::regex kNumber("[-+]?([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][-+]?[0-9]+)?");
  return std::regex_match(text, kNumber);
}

// YAML 1.2's core schema: true/True/TRUE and false/False/FALSE.
bool LooksLikeBoolean(const std::string& text) {
  for (const char* word : {"true", "True", "TRUE", "false", "False", "FALSE"}) {
    if (text == word) return true;
  }
  return false;
}

}  // namespace

ParamValue ParamFromScalar(const std::string& text, bool plain) {
  ParamValue value;
  value.text = text;
  if (!plain) return value;
  if (LooksLikeInteger(text)) {
    value.type = ParamValue::Type::kInt;
  } else if (LooksLikeNumber(text)) {
    value.type = ParamValue::Type::kFloat;
  } else if (LooksLikeBoolean(text)) {
    value.type = ParamValue::Type::kBool;
  }
  return value;
}

Result<std::pair<std::string, std::string>> SplitParamOverride(const std::string& text) {
  size_t equals = text.find('=');
  if (equals == std::string::npos || equals == 0) {
    return Result<std::pair<std::string, std::string>>::Error(
        "-p '" + text + "' is not of the form NAME=VALUE, e.g. -p seed=7");
  }
  return std::make_pair(text.substr(0, equals), text.substr(equals + 1));
}

Result<ParamValue> ParseParamOverride(const std::string& name, const ParamValue& param,
                                      const std::string& text) {
  bool fits = true;
  switch (param.type) {
    case ParamValue::Type::kString:
      break;
    case ParamValue::Type::kInt:
      fits = LooksLikeInteger(text);
      break;
    case ParamValue::Type::kFloat:
      fits = LooksLikeNumber(text);
      break;
    case ParamValue::Type::kBool:
      fits = LooksLikeBoolean(text);
      break;
  }
  if (!fits) {
    std::string type = std::string(param.type == ParamValue::Type::kInt ? "an " : "a ") +
                       ParamTypeName(param.type);
    return Result<ParamValue>::Error("-p " + name + "=" + text + ": param '" + name + "' is " +
                                     type + ", and '" + text + "' is not; give " + type +
                                     " like its default, -p " + name + "=" + param.text);
  }
  ParamValue value = param;
  value.text = text;
  return value;
}

std::vector<std::string> ApplyParamOverrides(
    const std::vector<std::pair<std::string, std::string>>& overrides,
    std::map<std::string, ParamValue>& params) {
  std::vector<std::string> errors;
  std::vector<std::string> names;
  for (const auto& [name, value] : params) names.push_back(name);
  for (const auto& [name, text] : overrides) {
    auto it = params.find(name);
    if (it == params.end()) {
      std::string message = "-p " + name + "=" + text + ": the DAG has no param '" + name + "'";
      if (std::optional<std::string> close = ClosestMatch(name, names)) {
        message += "; did you mean '" + *close + "'?";
      } else if (names.empty()) {
        message += "; it declares no params (add them under `params:`)";
      } else {
        std::string list;
        for (const std::string& known : names) list += (list.empty() ? "" : ", ") + known;
        message += "; it has: " + list;
      }
      errors.push_back(message);
      continue;
    }
    Result<ParamValue> parsed = ParseParamOverride(name, it->second, text);
    if (!parsed.ok()) {
      errors.push_back(parsed.error());
      continue;
    }
    it->second = parsed.value();
  }
  return errors;
}

bool IsValidParamName(const std::string& name) {
  static const std::regex kName("[A-Za-z_][A-Za-z0-9_-]*");
  return std::regex_match(name, kName);
}

}  // namespace receta
