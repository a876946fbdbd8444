#pragma once
// UTF-8 repair for text that came from outside (a step's log lines, error
// text quoted from a process or an HTTP reply) before it goes into a JSON
// document: RFC 8259 requires UTF-8, and strict readers (Slack, Python's
// json.loads on bytes) refuse a document that is not.

#include <cstddef>
#include <string>
#include <string_view>

namespace receta {

/// `bytes` with every invalid UTF-8 sequence (stray continuation bytes,
/// overlong forms, surrogates, code points past U+10FFFF, sequences cut
/// short) replaced by U+FFFD, one per maximal invalid subpart as WHATWG's
/// decoder does. Valid input is returned unchanged.
std::string ValidUtf8(std::string_view bytes);

/// The longest prefix of valid UTF-8 `text` that is at most `max_bytes`
/// long and does not end inside a character.
std::string_view Utf8Prefix(std::string_view text, size_t max_bytes);

}  // namespace receta
