#include "common/lang/text_error.h"

#include <algorithm>

namespace receta {

std::pair<int, int> OffsetToLineColumn(std::string_view text, size_t offset) {
  offset = std::min(offset, text.size());
  int line = 1;
  int column = 1;
  for (size_t i = 0; i < offset; ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte == '\n') {
      ++line;
      column = 1;
    } else if ((byte & 0xC0) != 0x80) {  // Why: UTF-8 continuation bytes are not columns.
      ++column;
    }
  }
  return {line, column};
}

}  // namespace receta
