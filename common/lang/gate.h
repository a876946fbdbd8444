#pragma once
// Gates: conditions on an evaluate step's metrics that must hold before the
// steps downstream of it may run (DESIGN.md, "Gates").
//
// Grammar (whitespace, including newlines, is free between tokens):
//   gate       := or
//   or         := and ("or" and)*
//   and        := primary ("and" primary)*          -- 'and' binds tighter
//   primary    := "(" or ")" | comparison
//   comparison := metric op number
//   metric     := segment ("." segment)*            -- "eval.f1": nested JSON keys
//   segment    := [A-Za-z0-9_] ([A-Za-z0-9_] | "-" [A-Za-z0-9_])*,
//                 and the first segment starts with [A-Za-z_]
//   op         := "<" | "<=" | ">" | ">=" | "==" | "!="
//   number     := [+-]? (digits ["." digits*] | "." digits) [(e|E) [+-]? digits]
// "and", "or" and "not" are reserved and lowercase; parentheses nest at most
// kMaxGateNesting deep.

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/lang/metrics_json.h"  // FlattenMetricsJson: metrics file -> EvaluateGate input
#include "common/lang/text_error.h"
#include "common/status.h"

namespace receta {

inline constexpr int kMaxGateNesting = 64;

enum class CompareOp { kLess, kLessEqual, kGreater, kGreaterEqual, kEqual, kNotEqual };

/// "<", "<=", ">", ">=", "==" or "!=".
std::string_view CompareOpSymbol(CompareOp op);

/// One `metric op threshold` test, e.g. accuracy >= 0.9.
struct GateComparison {
  std::string metric;  // dotted name, e.g. "eval.f1"
  CompareOp op = CompareOp::kGreaterEqual;
  double threshold = 0;

  bool operator==(const GateComparison&) const = default;
};

/// A parsed gate: one comparison, or the 'and' / 'or' of two or more
/// operands. ParseGate merges nested operators of the same kind, so an
/// operand of an kAnd is never itself a kAnd (likewise kOr). Plain data:
/// copy it, store it, compare it.
struct GateExpr {
  enum class Kind { kComparison, kAnd, kOr };
  Kind kind = Kind::kComparison;
  GateComparison comparison;       // kComparison only
  std::vector<GateExpr> operands;  // kAnd and kOr only

  bool operator==(const GateExpr&) const = default;
};

/// Parses a gate expression. On error, the offset points at the token that
/// is wrong (or at the unclosed '('), and the message says what was expected.
TextResult<GateExpr> ParseGate(std::string_view text);

/// The canonical text of `gate`: single spaces around operators, numbers in
/// shortest round-trip form (1e-3 -> 0.001), parentheses only where needed.
/// ParseGate(GateToString(g)) == g.
std::string GateToString(const GateExpr& gate);

/// The shortest text that reads back to the same double ("0.001", "1e-07",
/// "-1"); "NaN", "Infinity" and "-Infinity" for values that are not finite.
/// Used for thresholds and metric values in gate text and explanations.
std::string FormatGateNumber(double value);

/// The metric names `gate` reads, each once, in order of first appearance.
std::vector<std::string> GateMetricNames(const GateExpr& gate);

/// Whether a gate held, and why: "accuracy >= 0.9 failed: accuracy = 0.8667",
/// or for several comparisons
/// "f1 > 0.8 and loss < 0.3 failed: f1 = 0.85 (> 0.8 holds), loss = 0.41 (< 0.3 fails)".
struct GateOutcome {
  bool passed = false;
  std::string explanation;
};

/// Evaluates `gate` against flattened metrics (FlattenMetricsJson's output).
/// Every comparison is evaluated and shown, not only up to the first that
/// decides. A comparison against NaN fails whatever its operator, so a
/// broken metric never opens a gate. Returns an error naming each metric the
/// gate reads that `metrics` lacks, with the available names.
Result<GateOutcome> EvaluateGate(const GateExpr& gate,
                                 const std::map<std::string, double>& metrics);

}  // namespace receta
