#pragma once
// Diagnostics: the list of problems found in a DAG file. Validation collects
// all of them rather than stopping at the first, and each names the file,
// line and column, what is wrong, and what to do about it.

#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "common/dag/dag.h"

namespace receta {

struct Diagnostic {
  SourceLocation location;
  std::string message;  // what is wrong; then what to do, after "; "
};

class Diagnostics {
 public:
  /// `severity` labels every line: "error" (the DAG cannot run) or
  /// "warning" (it can, but probably not as meant).
  explicit Diagnostics(std::string file, std::string severity = "error")
      : file_(std::move(file)), severity_(std::move(severity)) {}

  void Add(SourceLocation location, std::string message);
  bool empty() const { return items_.empty(); }
  size_t size() const { return items_.size(); }
  const std::vector<Diagnostic>& items() const { return items_; }
  const std::string& file() const { return file_; }

  /// One line per problem, sorted by position:
  /// "dags/iris.yaml:12:7: error: <message>" (or "warning:").
  /// Past `max_lines`, one line says how many more there are: a generated
  /// DAG with the same mistake in 10,000 steps needs the first few only.
  std::string Format(size_t max_lines = kMaxFormattedLines) const;
  static constexpr size_t kMaxFormattedLines = 50;
  /// Format() of a single diagnostic.
  std::string FormatOne(const Diagnostic& diagnostic) const;

 private:
  std::string file_;
  std::string severity_;
  std::vector<Diagnostic> items_;
  std::set<std::tuple<int, int, std::string>> seen_;  // (line, column, message)
};

}  // namespace receta
