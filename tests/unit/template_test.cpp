#include "common/lang/template.h"

#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <vector>

using receta::CheckTemplate;
using receta::FindTemplateRefs;
using receta::RenderTemplate;
using receta::TemplateContext;
using receta::TemplateRef;
using receta::TemplateRefKind;
using receta::TextError;

namespace {

TemplateContext IrisContext() {
  TemplateContext ctx;
  ctx.params = {{"seed", "42"}, {"test_size", "0.2"}, {"n_estimators", "100"}};
  ctx.run_id = "run-7";
  ctx.step_name = "train";
  return ctx;
}

std::string Render(const std::string& text) {
  auto result = RenderTemplate(text, IrisContext());
  REQUIRE_MESSAGE(result.ok(), text << ": " << result.error().message);
  return *result;
}

TextError RenderError(const std::string& text) {
  auto result = RenderTemplate(text, IrisContext());
  REQUIRE_MESSAGE(!result.ok(), text << " rendered as " << *result);
  return result.error();
}

/// The only reference in `text`.
TemplateRef OnlyRef(const std::string& text) {
  std::vector<TemplateRef> refs = FindTemplateRefs(text);
  REQUIRE(refs.size() == 1);
  return refs[0];
}

const std::string kLiteralHint = "to write a literal '{{', use {{ '{{' }}";

}  // namespace

TEST_CASE("Template.RendersParamsRunAndStep") {
  CHECK(Render("python3 prepare.py --test-size {{params.test_size}} --seed {{params.seed}}") ==
        "python3 prepare.py --test-size 0.2 --seed 42");
  CHECK(Render("out/{{run.id}}/{{step.name}}.log") == "out/run-7/train.log");
  CHECK(Render("no references") == "no references");
  CHECK(Render("") == "");
}

TEST_CASE("Template.AllowsWhitespaceInsideBraces") {
  CHECK(Render("{{ params.seed }}") == "42");
  CHECK(Render("{{params.seed   }}{{\tparams.seed}}") == "4242");
}

TEST_CASE("Template.LeavesLoneBracesAlone") {
  CHECK(Render("awk '{print $1}' } }} {") == "awk '{print $1}' } }} {");
  CHECK(Render("${HOME} {x}") == "${HOME} {x}");
}

TEST_CASE("Template.QuotedLiteralEscapesBraces") {
  CHECK(Render("echo {{ '{{' }}params.seed}}") == "echo {{params.seed}}");
  CHECK(Render("{{\"{{\"}}") == "{{");
  CHECK(Render("{{ '}}' }}") == "}}");
  CHECK(Render("a\\{{ '{{' }}") == "a\\{{");  // a backslash is only shell text
}

TEST_CASE("Template.DoesNotExpandValuesAgain") {
  TemplateContext ctx = IrisContext();
  ctx.params["tricky"] = "{{params.seed}}";
  CHECK(*RenderTemplate("{{params.tricky}}", ctx) == "{{params.seed}}");
}

TEST_CASE("Template.FindsRefsWithOffsets") {
  const std::string text = "x {{params.seed}} {{ run.id }}{{step.name}} {{ 'y' }}";
  std::vector<TemplateRef> refs = FindTemplateRefs(text);
  REQUIRE(refs.size() == 4);
  CHECK(refs[0].kind == TemplateRefKind::kParam);
  CHECK(refs[0].name == "seed");
  CHECK(refs[0].offset == 2);
  CHECK(refs[0].length == 15);
  CHECK(refs[1].kind == TemplateRefKind::kRunId);
  CHECK(refs[1].offset == 18);
  CHECK(refs[1].length == 12);
  CHECK(refs[2].kind == TemplateRefKind::kStepName);
  CHECK(refs[2].offset == 30);
  CHECK(refs[3].kind == TemplateRefKind::kLiteral);
  CHECK(refs[3].name == "y");
  CHECK(text.substr(refs[3].offset, refs[3].length) == "{{ 'y' }}");
}

TEST_CASE("Template.ParamNamesMayHaveDigitsAndHyphens") {
  CHECK(OnlyRef("{{params.lr-2_x}}").name == "lr-2_x");
  CHECK(OnlyRef("{{params.lr-2_x}}").kind == TemplateRefKind::kParam);
}

TEST_CASE("Template.ReportsUnclosedBraces") {
  const std::string unclosed = "unclosed '{{'; close it with '}}' (" + kLiteralHint + ")";
  TemplateRef ref = OnlyRef("run {{ params.seed");
  CHECK(ref.kind == TemplateRefKind::kUnknown);
  CHECK(ref.offset == 4);
  CHECK(ref.length == 2);
  CHECK(ref.error == unclosed);
  // A later complete reference is still found.
  std::vector<TemplateRef> refs = FindTemplateRefs("{{ params.seed {{run.id}}");
  REQUIRE(refs.size() == 2);
  CHECK(refs[0].error == unclosed);
  CHECK(refs[1].kind == TemplateRefKind::kRunId);
  CHECK(refs[1].offset == 15);
  CHECK(RenderError("a {{params.seed") == TextError{2, unclosed});
}

TEST_CASE("Template.ReportsEmptyReference") {
  const std::string message =
      "empty template reference; write {{params.NAME}}, {{run.id}} or {{step.name}}, or " +
      kLiteralHint;
  CHECK(RenderError("x {{}}") == TextError{2, message});
  CHECK(RenderError("{{   }}") == TextError{0, message});
}

TEST_CASE("Template.ReportsUnknownVariable") {
  const std::string use = "; use params.NAME, run.id or step.name";
  CHECK(RenderError("--x {{parms.x}}") ==
        TextError{4, "unknown template variable 'parms.x'" + use + " (did you mean 'params.x'?)"});
  CHECK(RenderError("{{ run.ID }}") ==
        TextError{0, "unknown template variable 'run.ID'" + use + " (did you mean 'run.id'?)"});
  CHECK(RenderError("{{run_id}}") ==
        TextError{0, "unknown template variable 'run_id'" + use + " (did you mean 'run.id'?)"});
  CHECK(RenderError("{{step.id}}") ==
        TextError{0, "unknown template variable 'step.id'" + use + " (did you mean 'step.name'?)"});
  CHECK(RenderError("{{seed}}") ==
        TextError{0, "unknown template variable 'seed'" + use + " (did you mean 'params.seed'?)"});
  CHECK(RenderError("{{env.HOME}}") == TextError{0, "unknown template variable 'env.HOME'" + use});
  CHECK(OnlyRef("{{ env.HOME }}").name == "env.HOME");
}

TEST_CASE("Template.ReportsMalformedParam") {
  CHECK(RenderError("{{params.}}") ==
        TextError{0, "'params.' is missing a parameter name; write {{params.NAME}}"});
  CHECK(RenderError("{{ params.seed | int }}") ==
        TextError{
            0,
            "'params.seed | int' is not a template variable; a reference holds one variable (use "
            "params.NAME, run.id or step.name) and parameter names use letters, digits, '_' and "
            "'-'"});
}

TEST_CASE("Template.ReportsBadLiteral") {
  CHECK(RenderError("{{ 'abc }}") ==
        TextError{0, "unclosed quote ' in a template literal; write {{ 'TEXT' }}"});
  CHECK(RenderError("{{ \"a\" x }}") ==
        TextError{0, "expected '}}' after the quoted text; a literal is written {{ \"TEXT\" }}"});
}

TEST_CASE("Template.UndefinedParamSuggestsAndListsDefined") {
  CHECK(RenderError("--seed {{params.sede}}") ==
        TextError{7,
                  "undefined param 'sede' (did you mean 'seed'?); defined params: n_estimators, "
                  "seed, test_size; "
                  "add it under params: or pass -p sede=VALUE"});
  CHECK(RenderError("{{params.lr}}") ==
        TextError{0,
                  "undefined param 'lr'; defined params: n_estimators, seed, test_size; add it "
                  "under params: or "
                  "pass -p lr=VALUE"});
  auto no_params = RenderTemplate("{{params.lr}}", TemplateContext{});
  REQUIRE_FALSE(no_params.ok());
  CHECK(no_params.error() == TextError{0,
                                       "undefined param 'lr'; the DAG defines no params; add it "
                                       "under params: or pass -p lr=VALUE"});
}

TEST_CASE("Template.ReportsFirstErrorOnly") {
  CHECK(RenderError("{{params.a}} {{bogus.x}}").offset == 0);
}

TEST_CASE("Template.CheckMatchesRender") {
  const std::vector<std::string> names = {"seed"};
  CHECK(CheckTemplate("{{params.seed}} {{run.id}} {{ '{{' }}", names) == std::nullopt);
  std::optional<TextError> error = CheckTemplate("ok {{params.sed}}", names);
  REQUIRE(error.has_value());
  CHECK(
      *error ==
      TextError{3,
                "undefined param 'sed' (did you mean 'seed'?); defined params: seed; add it under "
                "params: or pass -p sed=VALUE"});
  CHECK(CheckTemplate("{{", names)->offset == 0);
}

// OffsetToLineColumn (common/lang/text_error.h) turns these offsets into
// the line and column of a DAG file.
TEST_CASE("TextError.OffsetToLineColumnIsOneBased") {
  using receta::OffsetToLineColumn;
  const std::string text = "ab\ncd\n\nef";
  CHECK(OffsetToLineColumn(text, 0) == std::pair{1, 1});
  CHECK(OffsetToLineColumn(text, 1) == std::pair{1, 2});
  CHECK(OffsetToLineColumn(text, 2) == std::pair{1, 3});  // the '\n' itself
  CHECK(OffsetToLineColumn(text, 3) == std::pair{2, 1});
  CHECK(OffsetToLineColumn(text, 6) == std::pair{3, 1});
  CHECK(OffsetToLineColumn(text, 8) == std::pair{4, 2});
  CHECK(OffsetToLineColumn(text, 9) == std::pair{4, 3});    // end of text
  CHECK(OffsetToLineColumn(text, 100) == std::pair{4, 3});  // clamped
  CHECK(OffsetToLineColumn("", 0) == std::pair{1, 1});
}

TEST_CASE("TextError.ColumnsCountCharactersNotBytes") {
  using receta::OffsetToLineColumn;
  const std::string text = "caf\xC3\xA9 x";  // "café x": é is two bytes
  CHECK(OffsetToLineColumn(text, 6) == std::pair{1, 6});
}
