// EvaluateGate: applying a parsed gate (gate.cpp) to a step's metrics.

#include <cmath>

#include "common/lang/did_you_mean.h"
#include "common/lang/gate.h"

namespace receta {
namespace {

constexpr size_t kMaxListedMetrics = 20;

bool Holds(const GateComparison& c, double value) {
  if (std::isnan(value))
    return false;  // Why: a NaN metric must never open a gate, not even via '!='.
  switch (c.op) {
    case CompareOp::kLess:
      return value < c.threshold;
    case CompareOp::kLessEqual:
      return value <= c.threshold;
    case CompareOp::kGreater:
      return value > c.threshold;
    case CompareOp::kGreaterEqual:
      return value >= c.threshold;
    case CompareOp::kEqual:
      return value == c.threshold;
    case CompareOp::kNotEqual:
      return value != c.threshold;
  }
  return false;
}

/// Evaluates every comparison (no short cut, so all appear in the
/// explanation) and appends "name = value (...)" parts to `parts`.
bool Evaluate(const GateExpr& gate, const std::map<std::string, double>& metrics, bool annotate,
              std::vector<std::string>* parts) {
  if (gate.kind == GateExpr::Kind::kComparison) {
    const GateComparison& c = gate.comparison;
    const double value = metrics.at(c.metric);
    const bool holds = Holds(c, value);
    std::string part = c.metric + " = " + FormatGateNumber(value);
    if (annotate) {
      part += " (" + std::string(CompareOpSymbol(c.op)) + " " + FormatGateNumber(c.threshold) +
              (holds ? " holds)" : " fails)");
    } else if (std::isnan(value)) {
      part += " (not a number)";
    }
    parts->push_back(std::move(part));
    return holds;
  }
  const bool is_and = gate.kind == GateExpr::Kind::kAnd;
  bool result = is_and;
  for (const GateExpr& operand : gate.operands) {
    const bool holds = Evaluate(operand, metrics, annotate, parts);
    result = is_and ? (result && holds) : (result || holds);
  }
  return result;
}

std::string ListMetricNames(const std::map<std::string, double>& metrics) {
  if (metrics.empty()) return "the metrics file has no numeric values";
  std::string list = "available metrics: ";
  size_t listed = 0;
  for (const auto& [name, value] : metrics) {
    if (listed == kMaxListedMetrics) {
      list += " and " + std::to_string(metrics.size() - listed) + " more";
      break;
    }
    if (listed > 0) list += ", ";
    list += name;
    ++listed;
  }
  return list;
}

}  // namespace

Result<GateOutcome> EvaluateGate(const GateExpr& gate,
                                 const std::map<std::string, double>& metrics) {
  const std::vector<std::string> names = GateMetricNames(gate);
  std::vector<std::string> available;
  for (const auto& [name, value] : metrics) available.push_back(name);
  std::string missing;
  size_t missing_count = 0;
  for (const std::string& name : names) {
    if (metrics.count(name) != 0) continue;
    if (missing_count++ > 0) missing += ", ";
    missing += "'" + name + "'" + DidYouMeanSuffix(name, available);
  }
  if (missing_count > 0) {
    return Result<GateOutcome>::Error(
        "gate '" + GateToString(gate) + "' needs " + (missing_count == 1 ? "metric " : "metrics ") +
        missing + ", which the metrics file does not have; " + ListMetricNames(metrics) +
        "; fix the gate or make the step write " + (missing_count == 1 ? "it" : "them"));
  }

  std::vector<std::string> parts;
  const bool annotate = gate.kind != GateExpr::Kind::kComparison;
  GateOutcome outcome;
  outcome.passed = Evaluate(gate, metrics, annotate, &parts);
  outcome.explanation = GateToString(gate) + (outcome.passed ? " passed: " : " failed: ");
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) outcome.explanation += ", ";
    outcome.explanation += parts[i];
  }
  return outcome;
}

}  // namespace receta
