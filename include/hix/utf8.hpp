// UTF-8 encoding of one code point (RFC 3629): the JSON reader's \u escapes
// and the tokenizer's byte-level alphabet share it.
#pragma once

#include <string>

namespace hix {

// Appends `cp` (at most U+10FFFF; the caller checks) as 1 to 4 bytes.
inline void utf8_append(std::string& out, char32_t cp) {
  const auto b = [&out](char32_t x) { out.push_back(static_cast<char>(x)); };
  if (cp < 0x80) {
    b(cp);
  } else if (cp < 0x800) {
    b(0xC0 | (cp >> 6));
    b(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    b(0xE0 | (cp >> 12));
    b(0x80 | ((cp >> 6) & 0x3F));
    b(0x80 | (cp & 0x3F));
  } else {
    b(0xF0 | (cp >> 18));
    b(0x80 | ((cp >> 12) & 0x3F));
    b(0x80 | ((cp >> 6) & 0x3F));
    b(0x80 | (cp & 0x3F));
  }
}

}  // namespace hix
