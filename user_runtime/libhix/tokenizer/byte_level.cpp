// GPT-2's bytes_to_unicode: the printable bytes ('!'..'~', U+00A1..U+00AC,
// U+00AE..U+00FF) stand for themselves; the other 68 take U+0100 upwards in
// byte order.
#include "byte_level.hpp"

#include "utf8.hpp"

namespace hix::tok {
namespace {

constexpr char32_t kFirstShifted = 0x100;
constexpr std::size_t kAlphabetSize = 256;
// The highest code point in the alphabet: 0x100 + 68 - 1.
constexpr char32_t kLastShifted = 0x143;

bool printable(unsigned b) {
  return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

struct Tables {
  std::array<char32_t, kAlphabetSize> to_char{};
  std::array<std::int16_t, kLastShifted + 1> to_byte{};
  std::array<std::string, kAlphabetSize> utf8;
  Tables() {
    to_byte.fill(-1);
    char32_t next = kFirstShifted;
    for (unsigned b = 0; b < kAlphabetSize; ++b) {
      const char32_t c = printable(b) ? static_cast<char32_t>(b) : next++;
      to_char[b] = c;
      to_byte[c] = static_cast<std::int16_t>(b);
      utf8_append(utf8[b], c);
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

char32_t byte_to_char(std::uint8_t b) {
  return tables().to_char[b];
}

std::optional<std::uint8_t> char_to_byte(char32_t cp) {
  if (cp > kLastShifted) return std::nullopt;
  const std::int16_t b = tables().to_byte[cp];
  if (b < 0) return std::nullopt;
  return static_cast<std::uint8_t>(b);
}

std::string byte_level_encode(std::string_view bytes) {
  const Tables& t = tables();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char c : bytes) out += t.utf8[static_cast<unsigned char>(c)];
  return out;
}

void byte_level_decode_token(std::string_view token, std::string& out) {
  const std::size_t mark = out.size();
  std::size_t i = 0;
  while (i < token.size()) {
    const Decoded d = utf8_decode(token, i);
    const auto b = char_to_byte(d.cp);
    if (!b) {
      out.resize(mark);
      out.append(token);
      return;
    }
    out.push_back(static_cast<char>(*b));
    i += d.len;
  }
}

}  // namespace hix::tok
