// GPT-2's byte-level alphabet (Radford et al. 2019, encoder.py's
// bytes_to_unicode; Hugging Face's ByteLevel pre-tokenizer and decoder):
// every byte is shown as one printable code point, so BPE runs over text
// that covers all 256 bytes without control or space characters.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hix::tok {

// The code point standing for byte `b`.
[[nodiscard]] char32_t byte_to_char(std::uint8_t b);
// The byte a code point stands for, if it is one of the 256.
[[nodiscard]] std::optional<std::uint8_t> char_to_byte(char32_t cp);

// Every byte of `bytes` as its code point, UTF-8 encoded.
[[nodiscard]] std::string byte_level_encode(std::string_view bytes);
// The ByteLevel decoder's view of one token: its bytes if every code point
// is in the alphabet, else the token's own UTF-8 (Hugging Face's rule).
void byte_level_decode_token(std::string_view token, std::string& out);

// GPT-2's pre-tokenizer pattern, as the ByteLevel pre-tokenizer uses it.
inline constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// The same pattern as gpt-3-encoder (and OpenAI's JavaScript ports) runs
// it: JavaScript's \s (WhiteSpace and LineTerminator: U+FEFF is a space, U+0085
// is not), written for PCRE2. from_gpt2_files uses it.
inline constexpr std::string_view kGpt2JavaScriptPattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\t-\r\x20\xA0\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029})"
    R"(\x{202F}\x{205F}\x{3000}\x{FEFF}\p{L}\p{N}]+|[\t-\r\x20\xA0\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029})"
    R"(\x{202F}\x{205F}\x{3000}\x{FEFF}]+(?![^\t-\r\x20\xA0\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F})"
    R"(\x{205F}\x{3000}\x{FEFF}])|[\t-\r\x20\xA0\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F})"
    R"(\x{3000}\x{FEFF}]+)";

}  // namespace hix::tok
