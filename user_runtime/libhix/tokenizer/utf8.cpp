// UTF-8 (RFC 3629, Unicode §3.9): validation by the table of well-formed
// byte sequences, and the maximal-subpart rule for lossy conversion.
#include "utf8.hpp"

#include <unicode/uchar.h>

namespace hix::tok {
namespace {

constexpr unsigned char kContLo = 0x80;
constexpr unsigned char kContHi = 0xBF;

// The sequence length a lead byte announces (0: not a lead byte) and the
// range its second byte must fall in (Unicode Table 3-7).
struct Lead {
  std::size_t len;
  unsigned char lo;
  unsigned char hi;
};

Lead lead(unsigned char b) {
  if (b < 0x80) return {1, 0, 0};
  if (b >= 0xC2 && b <= 0xDF) return {2, kContLo, kContHi};
  if (b == 0xE0) return {3, 0xA0, kContHi};
  if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) return {3, kContLo, kContHi};
  if (b == 0xED) return {3, kContLo, 0x9F};  // no surrogates
  if (b == 0xF0) return {4, 0x90, kContHi};
  if (b >= 0xF1 && b <= 0xF3) return {4, kContLo, kContHi};
  if (b == 0xF4) return {4, kContLo, 0x8F};  // nothing above U+10FFFF
  return {0, 0, 0};
}

// How many bytes of s[i..] form a (possibly unfinished) well-formed prefix,
// and whether that prefix is a whole code point.
struct Prefix {
  std::size_t len;
  bool complete;
};

Prefix well_formed_prefix(std::string_view s, std::size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  const Lead l = lead(b0);
  if (l.len == 0) return {0, false};
  if (l.len == 1) return {1, true};
  std::size_t n = 1;
  while (n < l.len && i + n < s.size()) {
    const auto b = static_cast<unsigned char>(s[i + n]);
    const unsigned char lo = n == 1 ? l.lo : kContLo;
    const unsigned char hi = n == 1 ? l.hi : kContHi;
    if (b < lo || b > hi) return {n, false};
    ++n;
  }
  return {n, n == l.len};
}

}  // namespace

std::size_t utf8_valid_prefix(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const Prefix p = well_formed_prefix(s, i);
    if (!p.complete) return i;
    i += p.len;
  }
  return i;
}

Decoded utf8_decode(std::string_view s, std::size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  const std::size_t len = lead(b0).len;
  if (len <= 1 || i + len > s.size()) return {b0, 1};
  static constexpr unsigned char kLeadMask[] = {0, 0x7F, 0x1F, 0x0F, 0x07};
  char32_t cp = b0 & kLeadMask[len];
  for (std::size_t k = 1; k < len; ++k)
    cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3Fu);
  return {cp, len};
}

std::size_t utf8_prev(std::string_view s, std::size_t end) {
  std::size_t i = end - 1;
  while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0u) == kContLo) --i;
  return i;
}

std::size_t utf8_append_lossy(std::string& out, std::string_view bytes, bool hold_incomplete) {
  std::size_t i = 0;
  while (i < bytes.size()) {
    if (static_cast<unsigned char>(bytes[i]) < 0x80) {
      out.push_back(bytes[i]);
      ++i;
      continue;
    }
    const Prefix p = well_formed_prefix(bytes, i);
    if (p.complete) {
      out.append(bytes.substr(i, p.len));
      i += p.len;
      continue;
    }
    if (hold_incomplete && p.len > 0 && i + p.len == bytes.size()) return p.len;
    utf8_append(out, kReplacementChar);
    i += p.len == 0 ? 1 : p.len;
  }
  return 0;
}

bool is_white_space(char32_t cp) {
  return u_isUWhiteSpace(static_cast<UChar32>(cp)) != 0;
}

bool is_word_char(char32_t cp) {
  constexpr char32_t kZeroWidthNonJoiner = 0x200C;
  constexpr char32_t kZeroWidthJoiner = 0x200D;
  const auto c = static_cast<UChar32>(cp);
  if (u_hasBinaryProperty(c, UCHAR_ALPHABETIC) != 0) return true;
  if (cp == kZeroWidthNonJoiner || cp == kZeroWidthJoiner) return true;
  const std::uint32_t mask = U_GET_GC_MASK(c);
  return (mask & (U_GC_M_MASK | U_GC_ND_MASK | U_GC_PC_MASK)) != 0;
}

}  // namespace hix::tok
