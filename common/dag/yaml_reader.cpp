#include "common/dag/yaml_reader.h"

#include <yaml-cpp/depthguard.h>

#include <cmath>
#include <functional>
#include <set>

#include "common/lang/quantity.h"

namespace receta {
namespace {

// Walks the document as a consumer would see it, aliases expanded, and
// stops at the first limit it crosses. Returns an error message or "".
std::string CheckExpansion(const YAML::Node& node, const YamlLimits& limits, int depth,
                           size_t& visited) {
  if (++visited > limits.max_expanded_nodes) {
    return "the document expands to more than " + std::to_string(limits.max_expanded_nodes) +
           " nodes (a YAML alias bomb?); a DAG this large cannot be right, so receta refuses it";
  }
  if (depth > limits.max_depth) {
    return "the document is nested deeper than " + std::to_string(limits.max_depth) +
           " levels; a DAG is never this deep, check the indentation";
  }
  if (node.IsMap()) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      std::string error = CheckExpansion(it->first, limits, depth + 1, visited);
      if (error.empty()) error = CheckExpansion(it->second, limits, depth + 1, visited);
      if (!error.empty()) return error;
    }
  } else if (node.IsSequence()) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      std::string error = CheckExpansion(*it, limits, depth + 1, visited);
      if (!error.empty()) return error;
    }
  }
  return "";
}

// Why: yaml-cpp 0.7 accepts a quoted scalar whose closing quote is missing
// when the text ends with a newline, silently swallowing the rest of the
// file (later steps vanish into a string). A closed quoted scalar always has
// its closing quote after its opening one; look for it. Each scalar is
// scanned once (`checked` holds positions seen), so aliases cost nothing.
bool IsUnterminatedQuote(const YAML::Node& node, const std::string& text,
                         std::set<size_t>& checked) {
  if (!node.IsScalar() || node.Mark().pos < 0) return false;
  size_t pos = static_cast<size_t>(node.Mark().pos);
  if (pos >= text.size() || (text[pos] != '"' && text[pos] != '\'')) return false;
  if (!checked.insert(pos).second) return false;
  char quote = text[pos];
  for (size_t i = pos + 1; i < text.size(); ++i) {
    if (quote == '"' && text[i] == '\\') {
      ++i;
    } else if (text[i] == quote) {
      if (quote == '\'' && i + 1 < text.size() && text[i + 1] == '\'') {
        ++i;  // '' is an escaped quote inside '...'
        continue;
      }
      return false;
    }
  }
  return true;
}

// The first quoted scalar in `node` (walked as CheckExpansion does, after
// it passed) that is never closed, or an undefined node.
YAML::Node FindUnterminatedQuote(const YAML::Node& node, const std::string& text,
                                 std::set<size_t>& checked) {
  if (IsUnterminatedQuote(node, text, checked)) return node;
  if (node.IsMap()) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      for (const YAML::Node& child : {it->first, it->second}) {
        YAML::Node found = FindUnterminatedQuote(child, text, checked);
        if (found.IsDefined()) return found;
      }
    }
  } else if (node.IsSequence()) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      YAML::Node found = FindUnterminatedQuote(*it, text, checked);
      if (found.IsDefined()) return found;
    }
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

// Why: `outputs: [out/{{params.x}}]` and `run: {{params.x}} go` are YAML
// flow maps, not text; yaml-cpp's "end of map not found" does not say so.
std::string FlowTemplateHint(const std::string& text, int line) {
  size_t start = 0;
  for (int i = 0; i < line - 1 && start != std::string::npos; ++i) {
    start = text.find('\n', start);
    if (start != std::string::npos) ++start;
  }
  if (start == std::string::npos) return "";
  // The line before the error and the line of the error.
  size_t end = text.find('\n', start);
  end = text.find('\n', end == std::string::npos ? end : end + 1);
  std::string lines = text.substr(start, end == std::string::npos ? end : end - start);
  if (lines.find("{{") == std::string::npos) return "";
  return "; a value with {{...}} that starts with {{ or sits inside [...] must be quoted, "
         "e.g. [\"out/{{params.name}}.csv\"]";
}

// What to do about yaml-cpp's commonest complaints, which say only what.
std::string YamlErrorHint(const std::string& message) {
  if (message == YAML::ErrorMsg::END_OF_SEQ_FLOW) return "; close the list with ']'";
  if (message == YAML::ErrorMsg::END_OF_MAP_FLOW) return "; close the map with '}'";
  if (message == YAML::ErrorMsg::END_OF_MAP || message == YAML::ErrorMsg::END_OF_SEQ ||
      message == YAML::ErrorMsg::MAP_VALUE || message == YAML::ErrorMsg::BLOCK_ENTRY) {
    return "; check the indentation of this line and the one above (use spaces, not tabs)";
  }
  if (message == YAML::ErrorMsg::UNKNOWN_ANCHOR) {
    return "; define the anchor (&name) before the alias (*name) that uses it";
  }
  return "";
}

// When line `line` (0-based) or the one above is indented with a tab, the
// real cause of most yaml-cpp errors there; "" otherwise.
std::string TabIndentHint(const std::string& text, int line) {
  int current = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (current == line - 1 || current == line) {
      size_t indent_end = text.find_first_not_of(" \t", start);
      if (indent_end == std::string::npos || indent_end > end) indent_end = end;
      if (text.find('\t', start) < indent_end) {
        return "; line " + std::to_string(current + 1) +
               " is indented with a tab, and YAML indentation must use spaces";
      }
    }
    if (current >= line) break;
    ++current;
    start = end + 1;
  }
  return "";
}

bool IsMergeKey(const YAML::Node& key) { return key.IsScalar() && key.Scalar() == "<<"; }

}  // namespace

std::string DescribeTooLarge(uint64_t size_bytes, const YamlLimits& limits) {
  return "the file is " + std::to_string(size_bytes) + " bytes, more than the " +
         std::to_string(limits.max_bytes) + " a DAG may have; is this the right file?";
}

SourceLocation LocationOf(const YAML::Node& node) {
  YAML::Mark mark = node.Mark();
  if (mark.line < 0) return {};
  return {mark.line + 1, mark.column + 1};
}

std::string DescribeNodeType(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return "nothing (null)";
  if (node.IsMap()) return "a map";
  if (node.IsSequence()) return "a list";
  return "'" + node.Scalar() + "'";
}

bool IsPlainScalar(const YAML::Node& node) { return node.IsScalar() && node.Tag() == "?"; }

std::optional<YAML::Node> LoadYaml(const std::string& text, const YamlLimits& limits,
                                   Diagnostics& diagnostics) {
  if (text.size() > limits.max_bytes) {
    diagnostics.Add({}, DescribeTooLarge(text.size(), limits));
    return std::nullopt;
  }
  if (text.find('\0') != std::string::npos) {
    diagnostics.Add({},
                    "the file contains NUL bytes, so it is not YAML text; is this the "
                    "right file?");
    return std::nullopt;
  }
  YAML::Node root;
  try {
    std::vector<YAML::Node> documents = YAML::LoadAll(text);
    if (documents.size() > 1) {
      diagnostics.Add(LocationOf(documents[1]),
                      "the file holds more than one YAML document (a second starts here, "
                      "after '---'); put each DAG in its own file");
      return std::nullopt;
    }
    if (!documents.empty()) root = documents.front();
  } catch (const YAML::DeepRecursion& e) {
    diagnostics.Add({e.mark.line + 1, e.mark.column + 1},
                    "the document is nested too deeply for a DAG; check the indentation");
    return std::nullopt;
  } catch (const YAML::Exception& e) {
    SourceLocation location;
    std::string hint;
    if (!e.mark.is_null()) {
      location = {e.mark.line + 1, e.mark.column + 1};
      hint = FlowTemplateHint(text, e.mark.line);
      if (hint.empty()) hint = TabIndentHint(text, e.mark.line);
    }
    if (hint.empty()) hint = YamlErrorHint(e.msg);
    diagnostics.Add(location, "invalid YAML: " + e.msg + hint);
    return std::nullopt;
  }
  size_t visited = 0;
  std::string error = CheckExpansion(root, limits, 0, visited);
  if (!error.empty()) {
    diagnostics.Add({}, error);
    return std::nullopt;
  }
  std::set<size_t> checked;
  YAML::Node unterminated = FindUnterminatedQuote(root, text, checked);
  if (unterminated.IsDefined()) {
    diagnostics.Add(LocationOf(unterminated),
                    std::string("invalid YAML: this quoted string has no closing ") +
                        (text[unterminated.Mark().pos] == '"' ? "\"" : "'") +
                        ", so it runs to the end of the file; add the closing quote");
    return std::nullopt;
  }
  return root;
}

void YamlReader::Error(const YAML::Node& node, const std::string& message) {
  diagnostics_.Add(LocationOf(node), message);
}

SourceLocation YamlReader::LocationInScalar(const YAML::Node& node, size_t offset) const {
  SourceLocation location = LocationOf(node);
  YAML::Mark mark = node.Mark();
  if (location.line == 0) return location;
  size_t pos = static_cast<size_t>(mark.pos);
  bool quoted = pos < text_.size() && (text_[pos] == '"' || text_[pos] == '\'');
  location.column += static_cast<int>(offset) + (quoted ? 1 : 0);
  return location;
}

std::vector<MapEntry> YamlReader::MapEntries(const YAML::Node& node, const std::string& what) {
  std::vector<MapEntry> entries;
  if (!node.IsMap()) {
    Error(node, what + " must be a map of names to values, got " + DescribeNodeType(node));
    return entries;
  }
  std::map<std::string, SourceLocation> seen;
  std::vector<YAML::Node> merges;
  for (auto it = node.begin(); it != node.end(); ++it) {
    if (IsMergeKey(it->first)) {
      merges.push_back(it->second);
      continue;
    }
    if (!it->first.IsScalar()) {
      Error(it->first, "a key in " + what + " is " + DescribeNodeType(it->first) +
                           "; keys must be plain names");
      continue;
    }
    std::string key = it->first.Scalar();
    SourceLocation location = LocationOf(it->first);
    auto [previous, inserted] = seen.emplace(key, location);
    if (!inserted) {
      diagnostics_.Add(location, "'" + key + "' appears twice in " + what + " (first at line " +
                                     std::to_string(previous->second.line) +
                                     "); remove or rename one of them");
      continue;
    }
    entries.push_back({key, location, it->second});
  }
  // Why: YAML merge keys (`<<: *base`, `<<: [*a, *b]`) are how users share
  // settings between steps; keys written in the map itself win.
  for (const YAML::Node& merge : merges) {
    std::vector<YAML::Node> sources;
    if (merge.IsSequence()) {
      for (auto it = merge.begin(); it != merge.end(); ++it) sources.push_back(*it);
    } else {
      sources.push_back(merge);
    }
    for (const YAML::Node& source : sources) {
      if (!source.IsMap()) {
        Error(source, "a merge key (<<) in " + what + " must refer to a map, got " +
                          DescribeNodeType(source));
        continue;
      }
      for (MapEntry& inherited : MapEntries(source, what)) {
        if (seen.emplace(inherited.key, inherited.key_location).second) {
          entries.push_back(std::move(inherited));
        }
      }
    }
  }
  return entries;
}

std::optional<std::string> YamlReader::String(const YAML::Node& node, const std::string& what) {
  if (!node.IsScalar()) {
    Error(node, what + " must be a string, got " + DescribeNodeType(node));
    return std::nullopt;
  }
  return node.Scalar();
}

std::optional<std::string> YamlReader::Scalar(const YAML::Node& node, const std::string& what) {
  if (!node.IsScalar()) {
    Error(node, what + " must be a string or a number, got " + DescribeNodeType(node));
    return std::nullopt;
  }
  return node.Scalar();
}

std::optional<int64_t> YamlReader::Integer(const YAML::Node& node, const std::string& what,
                                           int64_t min_value, int64_t max_value) {
  std::string range =
      "an integer from " + std::to_string(min_value) + " to " + std::to_string(max_value);
  if (!node.IsScalar()) {
    Error(node, what + " must be " + range + ", got " + DescribeNodeType(node));
    return std::nullopt;
  }
  const std::string& text = node.Scalar();
  size_t used = 0;
  long long value = 0;
  try {
    value = std::stoll(text, &used, 10);
  } catch (...) {
    used = 0;
  }
  if (text.empty() || used != text.size() || value < min_value || value > max_value) {
    Error(node, what + " must be " + range + ", got '" + text + "'");
    return std::nullopt;
  }
  return value;
}

std::optional<double> YamlReader::Number(const YAML::Node& node, const std::string& what,
                                         double min_value) {
  std::string expected = min_value == 0 ? "a number of at least 0" : "a number";
  if (!node.IsScalar()) {
    Error(node, what + " must be " + expected + ", got " + DescribeNodeType(node));
    return std::nullopt;
  }
  const std::string& text = node.Scalar();
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (...) {
    used = 0;
  }
  if (text.empty() || used != text.size() || !std::isfinite(value) || value < min_value) {
    Error(node, what + " must be " + expected + ", got '" + text + "'");
    return std::nullopt;
  }
  return value;
}

std::optional<bool> YamlReader::Boolean(const YAML::Node& node, const std::string& what) {
  if (node.IsScalar()) {
    const std::string& text = node.Scalar();
    // YAML 1.2's booleans, and YAML 1.1's yes/no/on/off that many users write.
    for (const char* word : {"true", "True", "TRUE", "yes", "Yes", "on", "On"}) {
      if (text == word) return true;
    }
    for (const char* word : {"false", "False", "FALSE", "no", "No", "off", "Off"}) {
      if (text == word) return false;
    }
  }
  Error(node, what + " must be true or false, got " + DescribeNodeType(node));
  return std::nullopt;
}

std::optional<std::vector<std::string>> YamlReader::StringList(
    const YAML::Node& node, const std::string& what, std::vector<SourceLocation>* locations) {
  std::vector<std::string> values;
  if (node.IsScalar()) {
    values.push_back(node.Scalar());
    if (locations) locations->push_back(LocationOf(node));
    return values;
  }
  if (node.IsNull()) return values;
  if (!node.IsSequence()) {
    Error(node, what + " must be a list of strings, got " + DescribeNodeType(node));
    return std::nullopt;
  }
  bool ok = true;
  for (auto it = node.begin(); it != node.end(); ++it) {
    if (!it->IsScalar()) {
      Error(*it, "each entry of " + what + " must be a string, got " + DescribeNodeType(*it));
      ok = false;
      continue;
    }
    values.push_back(it->Scalar());
    if (locations) locations->push_back(LocationOf(*it));
  }
  if (!ok) return std::nullopt;
  return values;
}

std::optional<int64_t> YamlReader::Quantity(const YAML::Node& node, const std::string& what,
                                            std::optional<std::string> text,
                                            TextResult<int64_t> (*parse)(std::string_view)) {
  if (!text) return std::nullopt;
  TextResult<int64_t> parsed = parse(*text);
  if (!parsed.ok()) {
    diagnostics_.Add(LocationInScalar(node, parsed.error().offset),
                     what + ": " + parsed.error().message);
    return std::nullopt;
  }
  return parsed.value();
}

std::optional<int64_t> YamlReader::DurationMs(const YAML::Node& node, const std::string& what) {
  return Quantity(node, what, String(node, what), &ParseDurationMs);
}

std::optional<int64_t> YamlReader::SizeBytes(const YAML::Node& node, const std::string& what) {
  // Why Scalar: a plain number of bytes (memory: 1073741824) is a size too.
  return Quantity(node, what, Scalar(node, what), &ParseSizeBytes);
}

}  // namespace receta
