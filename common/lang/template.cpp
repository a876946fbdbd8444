#include "common/lang/template.h"

#include <utility>

#include "common/lang/did_you_mean.h"

namespace receta {
namespace {

constexpr std::string_view kOpen = "{{";
constexpr std::string_view kClose = "}}";
constexpr std::string_view kUse = "use params.NAME, run.id or step.name";
constexpr std::string_view kLiteralHint = "to write a literal '{{', use {{ '{{' }}";

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool IsParamNameChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

bool IsParamName(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!IsParamNameChar(c)) return false;
  }
  return true;
}

/// A suggestion for an unknown variable, or "".
std::string SuggestVariable(std::string_view variable) {
  if (std::optional<std::string> whole = ClosestMatch(variable, {"run.id", "step.name"}))
    return *whole;
  const size_t dot = variable.find('.');
  if (dot == std::string_view::npos)
    return IsParamName(variable) ? "params." + std::string(variable) : "";
  const std::string_view ns = variable.substr(0, dot);
  const std::string_view rest = variable.substr(dot + 1);
  std::optional<std::string> match = ClosestMatch(ns, {"params", "run", "step"});
  if (!match) return "";
  if (*match == "params") return IsParamName(rest) ? "params." + std::string(rest) : "";
  return *match == "run" ? "run.id" : "step.name";
}

/// Classifies the trimmed text between "{{" and "}}".
void Classify(std::string_view inner, TemplateRef* ref) {
  ref->name = std::string(inner);
  if (inner.empty()) {
    ref->error =
        "empty template reference; write {{params.NAME}}, {{run.id}} or {{step.name}}, or " +
        std::string(kLiteralHint);
    return;
  }
  if (inner == "run.id") {
    ref->kind = TemplateRefKind::kRunId;
    return;
  }
  if (inner == "step.name") {
    ref->kind = TemplateRefKind::kStepName;
    return;
  }
  const std::string_view params_prefix = "params.";
  if (inner.substr(0, params_prefix.size()) == params_prefix) {
    const std::string_view name = inner.substr(params_prefix.size());
    if (name.empty()) {
      ref->error = "'params.' is missing a parameter name; write {{params.NAME}}";
    } else if (!IsParamName(name)) {
      ref->error = "'" + std::string(inner) +
                   "' is not a template variable; a reference holds one variable (" +
                   std::string(kUse) + ") and parameter names use letters, digits, '_' and '-'";
    } else {
      ref->kind = TemplateRefKind::kParam;
      ref->name = std::string(name);
    }
    return;
  }
  ref->error = "unknown template variable '" + std::string(inner) + "'; " + std::string(kUse);
  const std::string suggestion = SuggestVariable(inner);
  if (!suggestion.empty()) ref->error += " (did you mean '" + suggestion + "'?)";
}

/// Reads a {{ 'TEXT' }} literal whose quote is at `quote`; fills `ref` and
/// returns the offset just after it.
size_t ReadLiteral(std::string_view text, size_t quote, TemplateRef* ref) {
  const char q = text[quote];
  const size_t end_quote = text.find(q, quote + 1);
  if (end_quote == std::string_view::npos) {
    ref->length = kOpen.size();
    ref->error = std::string("unclosed quote ") + q + " in a template literal; write {{ " + q +
                 "TEXT" + q + " }}";
    return ref->offset + kOpen.size();
  }
  size_t after = end_quote + 1;
  while (after < text.size() && IsSpace(text[after])) ++after;
  if (text.substr(after, kClose.size()) != kClose) {
    ref->length = after - ref->offset;
    ref->error = std::string("expected '}}' after the quoted text; a literal is written {{ ") + q +
                 "TEXT" + q + " }}";
    return after;
  }
  ref->kind = TemplateRefKind::kLiteral;
  ref->name = std::string(text.substr(quote + 1, end_quote - quote - 1));
  ref->length = after + kClose.size() - ref->offset;
  return after + kClose.size();
}

std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ", ";
    out += names[i];
  }
  return out;
}

/// The error for a reference that cannot be rendered with `param_names`
/// defined, or nullopt.
std::optional<TextError> RefError(const TemplateRef& ref,
                                  const std::vector<std::string>& param_names) {
  if (ref.kind == TemplateRefKind::kUnknown) return TextError{ref.offset, ref.error};
  if (ref.kind != TemplateRefKind::kParam) return std::nullopt;
  for (const std::string& name : param_names) {
    if (name == ref.name) return std::nullopt;
  }
  std::string message =
      "undefined param '" + ref.name + "'" + DidYouMeanSuffix(ref.name, param_names) + "; ";
  message += param_names.empty() ? "the DAG defines no params"
                                 : "defined params: " + JoinNames(param_names);
  message += "; add it under params: or pass -p " + ref.name + "=VALUE";
  return TextError{ref.offset, std::move(message)};
}

}  // namespace

std::vector<TemplateRef> FindTemplateRefs(std::string_view text) {
  std::vector<TemplateRef> refs;
  size_t pos = 0;
  for (;;) {
    const size_t open = text.find(kOpen, pos);
    if (open == std::string_view::npos) return refs;
    TemplateRef ref;
    ref.offset = open;
    size_t inner_start = open + kOpen.size();
    while (inner_start < text.size() && IsSpace(text[inner_start])) ++inner_start;
    if (inner_start < text.size() && (text[inner_start] == '\'' || text[inner_start] == '"')) {
      pos = ReadLiteral(text, inner_start, &ref);
      refs.push_back(std::move(ref));
      continue;
    }
    const size_t close = text.find(kClose, open + kOpen.size());
    const size_t next_open = text.find(kOpen, open + kOpen.size());
    if (close == std::string_view::npos ||
        (next_open != std::string_view::npos && next_open < close)) {
      ref.length = kOpen.size();
      ref.error = "unclosed '{{'; close it with '}}' (" + std::string(kLiteralHint) + ")";
      refs.push_back(std::move(ref));
      pos = open + kOpen.size();
      continue;
    }
    ref.length = close + kClose.size() - open;
    Classify(Trim(text.substr(open + kOpen.size(), close - open - kOpen.size())), &ref);
    refs.push_back(std::move(ref));
    pos = close + kClose.size();
  }
}

TextResult<std::string> RenderTemplate(std::string_view text, const TemplateContext& ctx) {
  std::vector<std::string> param_names;
  for (const auto& [name, value] : ctx.params) param_names.push_back(name);
  std::string out;
  size_t copied = 0;
  for (const TemplateRef& ref : FindTemplateRefs(text)) {
    if (std::optional<TextError> error = RefError(ref, param_names)) return std::move(*error);
    out += text.substr(copied, ref.offset - copied);
    switch (ref.kind) {
      case TemplateRefKind::kParam:
        out += ctx.params.at(ref.name);
        break;
      case TemplateRefKind::kRunId:
        out += ctx.run_id;
        break;
      case TemplateRefKind::kStepName:
        out += ctx.step_name;
        break;
      case TemplateRefKind::kLiteral:
        out += ref.name;
        break;
      case TemplateRefKind::kUnknown:
        break;  // RefError returned above.
    }
    copied = ref.offset + ref.length;
  }
  out += text.substr(copied);
  return out;
}

std::optional<TextError> CheckTemplate(std::string_view text,
                                       const std::vector<std::string>& param_names) {
  for (const TemplateRef& ref : FindTemplateRefs(text)) {
    if (std::optional<TextError> error = RefError(ref, param_names)) return error;
  }
  return std::nullopt;
}

}  // namespace receta
