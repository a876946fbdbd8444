#pragma once
// Reading the metrics file an evaluate step writes (JSON) into the flat
// name -> number map that gates are evaluated against.

#include <cstddef>
#include <map>
#include <string>
#include <string_view>

#include "common/status.h"

namespace receta {

inline constexpr size_t kMaxMetricsJsonBytes = size_t{16} << 20;
inline constexpr int kMaxMetricsJsonDepth = 64;

/// Parses a metrics JSON document and flattens it: nested objects become
/// dotted names ({"eval": {"f1": 0.8}} -> "eval.f1"); numbers are kept;
/// true and false become 1 and 0; strings, null and arrays (with everything
/// inside them) are ignored. The top level must be an object.
///
/// Strict RFC 8259 JSON, plus the NaN, Infinity and -Infinity that Python's
/// json.dump writes for float('nan') and float('inf'). Errors give the line
/// and column ("invalid metrics JSON at line 3, column 7: ...") and are also
/// returned for a document larger than kMaxMetricsJsonBytes, nested deeper
/// than kMaxMetricsJsonDepth, or naming one metric twice. The document is
/// parsed first (ParseJson, common/json/json_value.h), so a syntax error is
/// reported before a metric named twice earlier in the text.
Result<std::map<std::string, double>> FlattenMetricsJson(std::string_view json_text);

}  // namespace receta
