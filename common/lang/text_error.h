#pragma once
// TextError and TextResult<T>: the error type of receta's small languages
// (durations, sizes, gates, templates). An error carries a byte offset into
// the text it came from, so the DAG parser can turn it into a file line and
// column (OffsetToLineColumn) before wrapping it in a Status.

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

#include "common/value_or.h"

namespace receta {

/// What is wrong with a piece of text and where. `offset` is a byte offset
/// into the text that was parsed (0 = its first byte; text.size() = its end).
/// `message` says what is wrong and what to do, without a location prefix.
struct TextError {
  size_t offset = 0;
  std::string message;

  bool operator==(const TextError&) const = default;
};

/// A value or a TextError. Access value() only when ok(), error() only when
/// !ok(). Shaped like Result<T> (common/status.h) so both read the same.
template <typename T>
class TextResult : public ValueOr<T, TextError> {
 public:
  using ValueOr<T, TextError>::ValueOr;
  static TextResult Error(size_t offset, std::string message) {
    return TextResult(TextError{offset, std::move(message)});
  }

  const TextError& error() const { return this->error_value(); }
};

/// The 1-based (line, column) of byte `offset` in `text`. Lines end at '\n';
/// columns count UTF-8 code points, as an editor shows them. An offset past
/// the end is clamped to text.size() (the position just after the last byte).
std::pair<int, int> OffsetToLineColumn(std::string_view text, size_t offset);

}  // namespace receta
