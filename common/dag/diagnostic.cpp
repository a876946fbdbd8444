#include "common/dag/diagnostic.h"

#include <algorithm>

namespace receta {

void Diagnostics::Add(SourceLocation location, std::string message) {
  // Why: the same mistake can be reached twice (say, through a YAML alias
  // used in two places); the user should read it once.
  if (!seen_.emplace(location.line, location.column, message).second) return;
  items_.push_back({location, std::move(message)});
}

std::string Diagnostics::FormatOne(const Diagnostic& diagnostic) const {
  std::string out = file_;
  if (diagnostic.location.line > 0) {
    out += ":" + std::to_string(diagnostic.location.line) + ":" +
           std::to_string(diagnostic.location.column);
  }
  out += ": " + severity_ + ": " + diagnostic.message;
  return out;
}

std::string Diagnostics::Format(size_t max_lines) const {
  std::vector<Diagnostic> sorted = items_;
  std::stable_sort(sorted.begin(), sorted.end(), [](const Diagnostic& a, const Diagnostic& b) {
    if (a.location.line != b.location.line) return a.location.line < b.location.line;
    return a.location.column < b.location.column;
  });
  std::string out;
  size_t shown = std::min(sorted.size(), max_lines);
  for (size_t i = 0; i < shown; ++i) out += FormatOne(sorted[i]) + "\n";
  if (shown < sorted.size()) {
    out += file_ + ": ... and " + std::to_string(sorted.size() - shown) + " more " + severity_ +
           "s like these\n";
  }
  return out;
}

}  // namespace receta
