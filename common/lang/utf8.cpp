#include "common/lang/utf8.h"

namespace receta {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

bool IsContinuation(unsigned char byte) { return (byte & 0xC0) == 0x80; }

}  // namespace

std::string ValidUtf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  size_t i = 0;
  while (i < bytes.size()) {
    const unsigned char lead = static_cast<unsigned char>(bytes[i]);
    if (lead < 0x80) {
      out += static_cast<char>(lead);
      ++i;
      continue;
    }
    // Why the narrowed second-byte ranges: they exclude overlong forms
    // (E0 80..9F, F0 80..8F), surrogates (ED A0..BF) and code points past
    // U+10FFFF (F4 90..BF), per the Unicode standard's table 3-7.
    size_t length = 0;
    unsigned char low = 0x80, high = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
    } else if (lead == 0xE0) {
      length = 3, low = 0xA0;
    } else if (lead == 0xED) {
      length = 3, high = 0x9F;
    } else if (lead >= 0xE1 && lead <= 0xEF) {
      length = 3;
    } else if (lead == 0xF0) {
      length = 4, low = 0x90;
    } else if (lead == 0xF4) {
      length = 4, high = 0x8F;
    } else if (lead >= 0xF1 && lead <= 0xF3) {
      length = 4;
    } else {
      out += kReplacement;
      ++i;
      continue;
    }
    size_t end = i + 1;
    for (size_t k = 1; k < length && end < bytes.size(); ++k, ++end) {
      const unsigned char byte = static_cast<unsigned char>(bytes[end]);
      if (k == 1 ? (byte < low || byte > high) : !IsContinuation(byte)) break;
    }
    if (end - i == length) {
      out.append(bytes.substr(i, length));
    } else {
      out += kReplacement;
    }
    i = end;
  }
  return out;
}

std::string_view Utf8Prefix(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  size_t end = max_bytes;
  while (end > 0 && IsContinuation(static_cast<unsigned char>(text[end]))) --end;
  return text.substr(0, end);
}

}  // namespace receta
