#include "common/lang/gate.h"

#include <charconv>
#include <cmath>
#include <optional>
#include <utility>

namespace receta {
namespace {

bool IsNameStart(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsNameChar(char c) { return IsNameStart(c) || IsDigit(c); }
bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

const char kExample[] = "e.g. accuracy >= 0.9 and loss < 0.3";

// ---- lexer ----

enum class TokenKind { kName, kNumber, kOp, kAnd, kOr, kLeftParen, kRightParen, kEnd, kError };

struct Token {
  TokenKind kind = TokenKind::kEnd;
  std::string_view text;  // empty for kEnd; the offending text for kError
  size_t offset = 0;
  CompareOp op = CompareOp::kLess;  // kOp only
  double number = 0;                // kNumber only
  std::string error;                // kError only
};

/// Whether `s` is a number in the gate grammar (see gate.h).
bool IsWellFormedNumber(std::string_view s) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  size_t digits = 0;
  while (i < s.size() && IsDigit(s[i])) ++i, ++digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && IsDigit(s[i])) ++i, ++digits;
  }
  if (digits == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    size_t exponent_digits = 0;
    while (i < s.size() && IsDigit(s[i])) ++i, ++exponent_digits;
    if (exponent_digits == 0) return false;
  }
  return i == s.size();
}

class Lexer {
 public:
  explicit Lexer(std::string_view text) : text_(text) {}

  /// All tokens up to and including the first kEnd or kError.
  std::vector<Token> Tokenize() {
    std::vector<Token> tokens;
    for (;;) {
      tokens.push_back(Next());
      if (tokens.back().kind == TokenKind::kEnd || tokens.back().kind == TokenKind::kError)
        return tokens;
    }
  }

 private:
  Token Make(TokenKind kind, size_t start, size_t end) {
    Token t;
    t.kind = kind;
    t.offset = start;
    t.text = text_.substr(start, end - start);
    pos_ = end;
    return t;
  }

  Token Error(size_t start, size_t end, std::string message) {
    Token t = Make(TokenKind::kError, start, end);
    t.error = std::move(message);
    return t;
  }

  char At(size_t i) const { return i < text_.size() ? text_[i] : '\0'; }

  Token Next() {
    while (pos_ < text_.size() && IsSpace(text_[pos_])) ++pos_;
    const size_t start = pos_;
    if (start == text_.size()) return Make(TokenKind::kEnd, start, start);
    const char c = text_[start];
    if (IsNameStart(c)) return Name(start);
    if (IsDigit(c) || c == '.' || c == '+' || c == '-') return Number(start);
    if (c == '(') return Make(TokenKind::kLeftParen, start, start + 1);
    if (c == ')') return Make(TokenKind::kRightParen, start, start + 1);
    return Operator(start);
  }

  Token Name(size_t start) {
    size_t i = start;
    for (;;) {
      while (IsNameChar(At(i)) || (At(i) == '-' && IsNameChar(At(i + 1)))) ++i;
      if (At(i) != '.') break;
      if (!IsNameChar(At(i + 1))) {
        return Error(i, i + 1,
                     "metric name '" + std::string(text_.substr(start, i + 1 - start)) +
                         "' ends with '.'; write the full dotted name, e.g. eval.f1");
      }
      ++i;
    }
    Token t = Make(TokenKind::kName, start, i);
    if (t.text == "and") t.kind = TokenKind::kAnd;
    if (t.text == "or") t.kind = TokenKind::kOr;
    if (t.text == "not") {
      return Error(
          start, i,
          "'not' is not supported; invert the comparison instead, e.g. accuracy < 0.9 rather than "
          "not accuracy >= 0.9");
    }
    return t;
  }

  Token Number(size_t start) {
    size_t i = start + 1;
    while (IsNameChar(At(i)) || At(i) == '.' ||
           ((At(i) == '+' || At(i) == '-') && (At(i - 1) == 'e' || At(i - 1) == 'E'))) {
      ++i;
    }
    const std::string_view text = text_.substr(start, i - start);
    if (!IsWellFormedNumber(text)) {
      return Error(
          start, i,
          "'" + std::string(text) + "' is not a number; write numbers like 0.9, -1, 1e-3 or .5");
    }
    const std::string_view digits = text[0] == '+' ? text.substr(1) : text;
    double value = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (ec != std::errc() || end != digits.data() + digits.size()) {
      return Error(start, i, "number '" + std::string(text) + "' is out of range");
    }
    Token t = Make(TokenKind::kNumber, start, i);
    t.number = value;
    return t;
  }

  Token Operator(size_t start) {
    const char c = At(start);
    const char next = At(start + 1);
    auto op = [&](CompareOp o, size_t length) {
      Token t = Make(TokenKind::kOp, start, start + length);
      t.op = o;
      return t;
    };
    auto wrong = [&](size_t length, std::string_view use) {
      const std::string written(text_.substr(start, length));
      return Error(start, start + length,
                   "'" + written + "' is not a gate operator; use '" + std::string(use) + "'");
    };
    if (c == '<' && next == '=') return op(CompareOp::kLessEqual, 2);
    if (c == '<' && next == '>') return wrong(2, "!=");
    if (c == '<') return op(CompareOp::kLess, 1);
    if (c == '>' && next == '=') return op(CompareOp::kGreaterEqual, 2);
    if (c == '>') return op(CompareOp::kGreater, 1);
    if (c == '=' && next == '=') return op(CompareOp::kEqual, 2);
    if (c == '=' && next == '>') return wrong(2, ">=");
    if (c == '=' && next == '<') return wrong(2, "<=");
    if (c == '=') {
      return Error(start, start + 1, "'=' is not a comparison operator; use '==' to test equality");
    }
    if (c == '!' && next == '=') return op(CompareOp::kNotEqual, 2);
    if (c == '!') return wrong(1, "!=");
    if (c == '&') return wrong(next == '&' ? 2 : 1, "and");
    if (c == '|') return wrong(next == '|' ? 2 : 1, "or");
    // Why: report a whole UTF-8 character, not its first byte.
    size_t end = start + 1;
    while (end < text_.size() && (static_cast<unsigned char>(text_[end]) & 0xC0) == 0x80) ++end;
    return Error(start, end,
                 "unexpected character '" + std::string(text_.substr(start, end - start)) +
                     "'; a gate compares metrics with numbers, " + kExample);
  }

  std::string_view text_;
  size_t pos_ = 0;
};

// ---- parser ----

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  TextResult<GateExpr> ParseAll() {
    if (Peek().kind == TokenKind::kEnd) {
      return TextError{0, std::string("empty gate; write a comparison, ") + kExample};
    }
    std::optional<GateExpr> expr = ParseOr();
    if (!expr) return *error_;
    const Token& t = Peek();
    if (t.kind == TokenKind::kEnd) return std::move(*expr);
    if (t.kind == TokenKind::kRightParen) {
      return TextError{t.offset, "unbalanced parenthesis: this ')' has no matching '('; remove it"};
    }
    return UnexpectedAfterOperand(t, "or the end of the gate");
  }

 private:
  const Token& Peek() const { return tokens_[next_]; }
  const Token& Previous() const { return tokens_[next_ - 1]; }
  const Token& Take() { return tokens_[next_++]; }

  std::nullopt_t Fail(size_t offset, std::string message) {
    error_ = TextError{offset, std::move(message)};
    return std::nullopt;
  }

  TextError UnexpectedAfterOperand(const Token& t, std::string_view closer) {
    if (t.kind == TokenKind::kError) return TextError{t.offset, t.error};
    std::string message = "expected 'and', 'or' " + std::string(closer) + " after '" +
                          std::string(Previous().text) + "', got '" + std::string(t.text) + "'";
    if (t.text == "AND" || t.text == "And" || t.text == "OR" || t.text == "Or") {
      message += " (write 'and' and 'or' in lowercase)";
    }
    return TextError{t.offset, std::move(message)};
  }

  /// Parses `operand (keyword operand)*` and merges it into one kAnd/kOr.
  template <typename ParseOperand>
  std::optional<GateExpr> ParseChain(TokenKind keyword, GateExpr::Kind kind,
                                     ParseOperand parse_operand) {
    std::optional<GateExpr> first = parse_operand();
    if (!first || Peek().kind != keyword) return first;
    GateExpr chain;
    chain.kind = kind;
    auto append = [&](GateExpr operand) {
      if (operand.kind == kind) {
        for (GateExpr& inner : operand.operands) chain.operands.push_back(std::move(inner));
      } else {
        chain.operands.push_back(std::move(operand));
      }
    };
    append(std::move(*first));
    while (Peek().kind == keyword) {
      const Token& word = Take();
      if (Peek().kind == TokenKind::kEnd) {
        return Fail(word.offset,
                    "unexpected '" + std::string(word.text) +
                        "' at end of expression; add a comparison after it or remove it");
      }
      std::optional<GateExpr> operand = parse_operand();
      if (!operand) return std::nullopt;
      append(std::move(*operand));
    }
    return chain;
  }

  std::optional<GateExpr> ParseOr() {
    return ParseChain(TokenKind::kOr, GateExpr::Kind::kOr, [this] { return ParseAnd(); });
  }

  std::optional<GateExpr> ParseAnd() {
    return ParseChain(TokenKind::kAnd, GateExpr::Kind::kAnd, [this] { return ParsePrimary(); });
  }

  std::optional<GateExpr> ParsePrimary() {
    const Token& t = Peek();
    switch (t.kind) {
      case TokenKind::kError:
        return Fail(t.offset, t.error);
      case TokenKind::kName:
        return ParseComparison();
      case TokenKind::kLeftParen:
        return ParseParenthesized();
      case TokenKind::kNumber:
        return Fail(t.offset, "expected a metric name, got '" + std::string(t.text) +
                                  "'; write the metric first, e.g. accuracy >= 0.9");
      default:
        break;
    }
    const std::string got = t.kind == TokenKind::kEnd ? "" : ", got '" + std::string(t.text) + "'";
    if (next_ == 0)
      return Fail(t.offset, "expected a metric name or '(' at the start of the gate" + got);
    return Fail(t.offset,
                "expected a metric name or '(' after '" + std::string(Previous().text) + "'" + got);
  }

  std::optional<GateExpr> ParseParenthesized() {
    const Token& open = Take();
    if (++depth_ > kMaxGateNesting) {
      return Fail(open.offset, "parentheses nest more than " + std::to_string(kMaxGateNesting) +
                                   " deep; simplify the gate");
    }
    if (Peek().kind == TokenKind::kRightParen) {
      return Fail(Peek().offset,
                  std::string("empty parentheses; put a comparison inside, ") + kExample);
    }
    if (Peek().kind == TokenKind::kEnd) {
      return Fail(open.offset, "unbalanced parenthesis: this '(' is never closed; add ')'");
    }
    std::optional<GateExpr> inner = ParseOr();
    if (!inner) return std::nullopt;
    const Token& t = Peek();
    if (t.kind == TokenKind::kEnd) {
      return Fail(open.offset, "unbalanced parenthesis: this '(' is never closed; add ')'");
    }
    if (t.kind != TokenKind::kRightParen) {
      error_ = UnexpectedAfterOperand(t, "or ')'");
      return std::nullopt;
    }
    Take();
    --depth_;
    return inner;
  }

  std::optional<GateExpr> ParseComparison() {
    const Token& name = Take();
    const Token& op = Peek();
    if (op.kind == TokenKind::kError) return Fail(op.offset, op.error);
    if (op.kind != TokenKind::kOp) {
      std::string message = "expected a comparison operator (<, <=, >, >=, ==, !=) after '" +
                            std::string(name.text) + "'";
      if (op.kind != TokenKind::kEnd) message += ", got '" + std::string(op.text) + "'";
      return Fail(op.kind == TokenKind::kEnd ? name.offset + name.text.size() : op.offset,
                  std::move(message));
    }
    Take();
    const Token& number = Peek();
    if (number.kind == TokenKind::kError) return Fail(number.offset, number.error);
    if (number.kind != TokenKind::kNumber) {
      std::string message = "expected a number after '" + std::string(op.text) + "'";
      if (number.kind != TokenKind::kEnd) message += ", got '" + std::string(number.text) + "'";
      return Fail(number.kind == TokenKind::kEnd ? op.offset + op.text.size() : number.offset,
                  std::move(message));
    }
    Take();
    GateExpr expr;
    expr.kind = GateExpr::Kind::kComparison;
    expr.comparison = GateComparison{std::string(name.text), op.op, number.number};
    return expr;
  }

  std::vector<Token> tokens_;
  size_t next_ = 0;
  int depth_ = 0;
  std::optional<TextError> error_;
};

void AppendGate(const GateExpr& gate, bool parenthesize_or, std::string* out) {
  switch (gate.kind) {
    case GateExpr::Kind::kComparison:
      *out += gate.comparison.metric + " " + std::string(CompareOpSymbol(gate.comparison.op)) +
              " " + FormatGateNumber(gate.comparison.threshold);
      return;
    case GateExpr::Kind::kAnd:
      for (size_t i = 0; i < gate.operands.size(); ++i) {
        if (i > 0) *out += " and ";
        AppendGate(gate.operands[i], /*parenthesize_or=*/true, out);
      }
      return;
    case GateExpr::Kind::kOr:
      if (parenthesize_or) *out += "(";
      for (size_t i = 0; i < gate.operands.size(); ++i) {
        if (i > 0) *out += " or ";
        AppendGate(gate.operands[i], /*parenthesize_or=*/false, out);
      }
      if (parenthesize_or) *out += ")";
      return;
  }
}

void CollectMetricNames(const GateExpr& gate, std::vector<std::string>* names) {
  if (gate.kind != GateExpr::Kind::kComparison) {
    for (const GateExpr& operand : gate.operands) CollectMetricNames(operand, names);
    return;
  }
  for (const std::string& name : *names) {
    if (name == gate.comparison.metric) return;
  }
  names->push_back(gate.comparison.metric);
}

}  // namespace

std::string_view CompareOpSymbol(CompareOp op) {
  switch (op) {
    case CompareOp::kLess:
      return "<";
    case CompareOp::kLessEqual:
      return "<=";
    case CompareOp::kGreater:
      return ">";
    case CompareOp::kGreaterEqual:
      return ">=";
    case CompareOp::kEqual:
      return "==";
    case CompareOp::kNotEqual:
      return "!=";
  }
  return "?";
}

std::string FormatGateNumber(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, result.ptr);
}

TextResult<GateExpr> ParseGate(std::string_view text) {
  return Parser(Lexer(text).Tokenize()).ParseAll();
}

std::string GateToString(const GateExpr& gate) {
  std::string out;
  AppendGate(gate, /*parenthesize_or=*/false, &out);
  return out;
}

std::vector<std::string> GateMetricNames(const GateExpr& gate) {
  std::vector<std::string> names;
  CollectMetricNames(gate, &names);
  return names;
}

}  // namespace receta
