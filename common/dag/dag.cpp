#include "common/dag/dag.h"

namespace receta {

const char* StepKindName(StepKind kind) {
  switch (kind) {
    case StepKind::kDataPrep:
      return "data-prep";
    case StepKind::kTrain:
      return "train";
    case StepKind::kEvaluate:
      return "evaluate";
    case StepKind::kDeploy:
      return "deploy";
  }
  return "?";
}

std::optional<StepKind> ParseStepKind(const std::string& text) {
  for (StepKind kind :
       {StepKind::kDataPrep, StepKind::kTrain, StepKind::kEvaluate, StepKind::kDeploy}) {
    if (text == StepKindName(kind)) return kind;
  }
  return std::nullopt;
}

const char* ParamTypeName(ParamValue::Type type) {
  switch (type) {
    case ParamValue::Type::kString:
      return "string";
    case ParamValue::Type::kInt:
      return "integer";
    case ParamValue::Type::kFloat:
      return "number";
    case ParamValue::Type::kBool:
      return "boolean";
  }
  return "?";
}

SourceLocation Step::LocationOf(const std::string& key) const {
  auto it = key_locations.find(key);
  return it == key_locations.end() ? location : it->second;
}

int Dag::FindStep(const std::string& name) const {
  for (size_t i = 0; i < steps.size(); ++i) {
    if (steps[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace receta
