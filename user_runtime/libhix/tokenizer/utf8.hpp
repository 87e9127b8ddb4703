// UTF-8 (RFC 3629) for the tokenizer: validation, code-point iteration, the
// lossy conversion Rust's String::from_utf8_lossy makes (each maximal
// invalid subpart becomes one U+FFFD, Unicode §3.9 "U+FFFD substitution of
// maximal subparts"), and the Unicode classes the added-token rules use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "hix/utf8.hpp"

namespace hix::tok {

constexpr char32_t kReplacementChar = 0xFFFD;
constexpr char32_t kMaxCodePoint = 0x10FFFF;

// The byte offset of the first invalid sequence in `s`, or s.size().
[[nodiscard]] std::size_t utf8_valid_prefix(std::string_view s);
[[nodiscard]] inline bool utf8_valid(std::string_view s) {
  return utf8_valid_prefix(s) == s.size();
}

// The code point at `s[i]` of a valid UTF-8 string, and its length in bytes.
struct Decoded {
  char32_t cp;
  std::size_t len;
};
[[nodiscard]] Decoded utf8_decode(std::string_view s, std::size_t i);
// The start of the code point that ends at `end` (end > 0), valid UTF-8.
[[nodiscard]] std::size_t utf8_prev(std::string_view s, std::size_t end);

// Encoding one code point: hix::utf8_append (include/hix/utf8.hpp).
using hix::utf8_append;

// Appends `bytes` to `out` with each maximal invalid subpart replaced by
// U+FFFD. With `hold_incomplete`, a trailing sequence that is a valid but
// unfinished prefix is not converted: its length is returned (0 otherwise).
std::size_t utf8_append_lossy(std::string& out, std::string_view bytes, bool hold_incomplete);

// Unicode White_Space (what Rust's char::is_whitespace and regex \s match).
[[nodiscard]] bool is_white_space(char32_t cp);
// Rust regex's Unicode \w: Alphabetic, Mark, Decimal_Number,
// Connector_Punctuation, Join_Control.
[[nodiscard]] bool is_word_char(char32_t cp);

}  // namespace hix::tok
