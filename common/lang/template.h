#pragma once
// Templates in DAG fields such as `run`: {{params.NAME}}, {{run.id}} and
// {{step.name}}, with optional whitespace inside the braces
// ({{ params.seed }}). Parameter names use letters, digits, '_' and '-'.
//
// Literal text: {{ 'TEXT' }} (or {{ "TEXT" }}) renders TEXT as it is, so a
// literal "{{" is written {{ '{{' }}, as in Jinja. A backslash is NOT an
// escape: it belongs to the shell command the template usually is. A lone
// '{', '}' or "}}" is ordinary text. Rendering is one pass: values are not
// themselves searched for references.

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/lang/text_error.h"

namespace receta {

enum class TemplateRefKind {
  kParam,     // {{params.NAME}}
  kRunId,     // {{run.id}}
  kStepName,  // {{step.name}}
  kLiteral,   // {{ 'TEXT' }}
  kUnknown,   // malformed or unknown reference; `error` says what is wrong
};

/// One {{...}} in a text.
struct TemplateRef {
  TemplateRefKind kind = TemplateRefKind::kUnknown;
  /// kParam: NAME. kLiteral: TEXT. kRunId: "run.id". kStepName: "step.name".
  /// kUnknown: the text between the braces, trimmed ("" when unclosed).
  std::string name;
  size_t offset = 0;  // byte offset of the opening "{{"
  size_t length = 0;  // bytes through the closing "}}"; 2 (just "{{") when unclosed
  std::string error;  // kUnknown only: what is wrong and what to do; it is located at `offset`
};

/// Every {{...}} in `text`, in order, including malformed ones (kind
/// kUnknown): an unclosed "{{", an empty "{{}}", an unknown variable such as
/// {{parms.x}} (with a did-you-mean when one is close), an unclosed quote.
std::vector<TemplateRef> FindTemplateRefs(std::string_view text);

/// What a template is rendered with. `params` holds values already formatted
/// as text.
struct TemplateContext {
  std::map<std::string, std::string> params;
  std::string run_id;
  std::string step_name;
};

/// `text` with every reference replaced by its value. Fails on the first
/// malformed reference or undefined param, at the offset of its "{{"; an
/// undefined param's message names it, lists the defined ones and suggests
/// a close one.
TextResult<std::string> RenderTemplate(std::string_view text, const TemplateContext& ctx);

/// The first error RenderTemplate would report for `text` when exactly
/// `param_names` are defined, or nullopt. For validating a DAG before any
/// run exists.
std::optional<TextError> CheckTemplate(std::string_view text,
                                       const std::vector<std::string>& param_names);

}  // namespace receta
