#pragma once
// The adapter between yaml-cpp and the DAG parser. It loads YAML text with
// limits (size, nesting, alias expansion), turns yaml-cpp's exceptions into
// diagnostics with line and column, and reads typed values, reporting a
// clear error (and returning nothing) when a value has the wrong type.

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/dag/diagnostic.h"
#include "common/lang/text_error.h"

namespace receta {

/// Limits that keep a hostile or broken file from exhausting the machine.
struct YamlLimits {
  size_t max_bytes = 32u << 20;
  /// Nodes visited when walking the document with aliases expanded: a YAML
  /// alias bomb ("billion laughs") is tiny on disk but huge when expanded.
  size_t max_expanded_nodes = 4'000'000;
  int max_depth = 64;
};

/// The error for a file of `size_bytes` over `limits.max_bytes`.
std::string DescribeTooLarge(uint64_t size_bytes, const YamlLimits& limits);

SourceLocation LocationOf(const YAML::Node& node);

/// "a map", "a list", "a string", "null": for error messages.
std::string DescribeNodeType(const YAML::Node& node);

/// Parses `text`. On failure adds diagnostics and returns nothing.
std::optional<YAML::Node> LoadYaml(const std::string& text, const YamlLimits& limits,
                                   Diagnostics& diagnostics);

struct MapEntry {
  std::string key;
  SourceLocation key_location;
  YAML::Node value;
};

/// Reads typed values from YAML nodes; every method that fails adds a
/// diagnostic naming `what` (e.g. "`retries` of step 'train'") and returns
/// nothing, so callers keep going and collect every error.
class YamlReader {
 public:
  YamlReader(const std::string& text, Diagnostics& diagnostics)
      : text_(text), diagnostics_(diagnostics) {}

  Diagnostics& diagnostics() { return diagnostics_; }

  /// Entries of a map, with YAML merge keys (`<<: *defaults`) resolved and
  /// duplicate keys reported. Non-map: error, empty result.
  std::vector<MapEntry> MapEntries(const YAML::Node& node, const std::string& what);

  std::optional<std::string> String(const YAML::Node& node, const std::string& what);
  /// A string, number or boolean, as written.
  std::optional<std::string> Scalar(const YAML::Node& node, const std::string& what);
  std::optional<int64_t> Integer(const YAML::Node& node, const std::string& what, int64_t min_value,
                                 int64_t max_value);
  std::optional<double> Number(const YAML::Node& node, const std::string& what, double min_value);
  std::optional<bool> Boolean(const YAML::Node& node, const std::string& what);
  /// A list of strings; a single string is accepted as a list of one.
  /// `locations` (optional) receives where each entry was written.
  std::optional<std::vector<std::string>> StringList(const YAML::Node& node,
                                                     const std::string& what,
                                                     std::vector<SourceLocation>* locations);
  std::optional<int64_t> DurationMs(const YAML::Node& node, const std::string& what);
  std::optional<int64_t> SizeBytes(const YAML::Node& node, const std::string& what);

  /// Location of character `offset` inside scalar `node`'s text, allowing
  /// for an opening quote; exact for single-line scalars.
  SourceLocation LocationInScalar(const YAML::Node& node, size_t offset) const;

  void Error(const YAML::Node& node, const std::string& message);

 private:
  // `text` (already read from `node`) parsed by `parse`, errors located
  // inside the scalar.
  std::optional<int64_t> Quantity(const YAML::Node& node, const std::string& what,
                                  std::optional<std::string> text,
                                  TextResult<int64_t> (*parse)(std::string_view));

  const std::string& text_;
  Diagnostics& diagnostics_;
};

/// True when a scalar was written without quotes (so `42` may be a number,
/// while `"42"` is a string).
bool IsPlainScalar(const YAML::Node& node);

}  // namespace receta
