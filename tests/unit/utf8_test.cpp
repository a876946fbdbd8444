// ValidUtf8 and Utf8Prefix: repairing outside text before it goes into JSON.
#include "common/lang/utf8.h"

#include <doctest/doctest.h>

#include <string>

using receta::Utf8Prefix;
using receta::ValidUtf8;

namespace {
const std::string kFffd = "\xEF\xBF\xBD";
}  // namespace

TEST_CASE("Utf8Test.KeepsValidTextAsItIs") {
  const std::string text = "plain ascii, h\xC3\xA9llo, \xE2\x82\xAC, \xF0\x9D\x84\x9E, \x7F end";
  CHECK(ValidUtf8(text) == text);
  CHECK(ValidUtf8("") == "");
  CHECK(ValidUtf8(std::string("nul\0byte", 8)) == std::string("nul\0byte", 8));
}

TEST_CASE("Utf8Test.ReplacesEachMaximalInvalidSubpart") {
  CHECK(ValidUtf8("a\xFF"
                  "b") == "a" + kFffd + "b");                             // never valid
  CHECK(ValidUtf8("\x80\x80") == kFffd + kFffd);                          // stray continuations
  CHECK(ValidUtf8("\xC0\xAF") == kFffd + kFffd);                          // overlong '/'
  CHECK(ValidUtf8("\xE0\x80\xAF") == kFffd + kFffd + kFffd);              // overlong
  CHECK(ValidUtf8("\xED\xA0\x80") == kFffd + kFffd + kFffd);              // surrogate U+D800
  CHECK(ValidUtf8("\xF4\x90\x80\x80") == kFffd + kFffd + kFffd + kFffd);  // past U+10FFFF
  CHECK(ValidUtf8("cut \xE2\x82") == "cut " + kFffd);                     // cut at the end
  CHECK(ValidUtf8("cut \xE2\x82 more") == "cut " + kFffd + " more");      // cut in the middle
  CHECK(ValidUtf8("\xF0\x9F\x98") == kFffd);
}

TEST_CASE("Utf8Test.PrefixNeverEndsInsideACharacter") {
  const std::string text = "h\xC3\xA9llo";  // é is bytes 1 and 2
  CHECK(Utf8Prefix(text, 100) == text);
  CHECK(Utf8Prefix(text, 0) == "");
  CHECK(Utf8Prefix(text, 1) == "h");
  CHECK(Utf8Prefix(text, 2) == "h");
  CHECK(Utf8Prefix(text, 3) == "h\xC3\xA9");
}
