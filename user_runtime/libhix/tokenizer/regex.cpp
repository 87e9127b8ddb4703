// Oniguruma (Ruby syntax, UTF-8, as the onig crate compiles) on PCRE2 10.x
// with PCRE2_UTF | PCRE2_UCP. Differences handled here:
//   \s  Oniguruma: Unicode White_Space. PCRE2 UCP adds U+180E (via \h).
//   \w  Oniguruma: Alphabetic, Mark, Nd, Pc, Join_Control. PCRE2: L, N, _.
//   \h  Oniguruma: a hexadecimal digit. PCRE2: horizontal space.
//   (?m) Oniguruma (Ruby): dot matches newline, PCRE2's (?s).
//   ^ $ Ruby: always line anchors, PCRE2_MULTILINE.
//   \uHHHH Ruby; PCRE2 spells it \x{HHHH}.
// Nested character classes and class intersection (&&) are refused.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "regex.hpp"

#include <pcre2.h>

#include <array>

#include "utf8.hpp"

namespace hix::tok {
namespace {

constexpr std::string_view kWhiteSpaceSet =
    R"(\t-\r\x20\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000})";
constexpr std::string_view kWordSet = R"(\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\x{200C}\x{200D})";
constexpr std::string_view kHexSet = "0-9a-fA-F";
// Bounds on backtracking so a hostile pattern cannot stall encode().
constexpr std::uint32_t kMatchLimit = 10'000'000;
constexpr std::uint32_t kDepthLimit = 100'000;
constexpr std::size_t kMaxPatternBytes = std::size_t{64} * 1024;

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// One escape's replacement inside or outside a class; empty: copy as is.
std::string class_escape(char e, bool in_class, bool& refused) {
  std::string_view set;
  bool negate = false;
  switch (e) {
    case 's':
      set = kWhiteSpaceSet;
      break;
    case 'S':
      set = kWhiteSpaceSet;
      negate = true;
      break;
    case 'w':
      set = kWordSet;
      break;
    case 'W':
      set = kWordSet;
      negate = true;
      break;
    case 'h':
      set = kHexSet;
      break;
    case 'H':
      set = kHexSet;
      negate = true;
      break;
    default:
      return {};
  }
  if (in_class) {
    if (negate) refused = true;  // a negated set inside a class needs a nested class
    return std::string(set);
  }
  return std::string(negate ? "[^" : "[") + std::string(set) + "]";
}

}  // namespace

Result<std::string> onig_to_pcre2(std::string_view p) {
  if (p.size() > kMaxPatternBytes) return fail("regex: pattern longer than 64 KiB");
  if (!utf8_valid(p)) return fail("regex: pattern is not valid UTF-8");
  std::string out;
  out.reserve(p.size() + 64);
  bool in_class = false;
  std::size_t class_start = 0;  // index of the class's '['
  for (std::size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\\') {
      if (i + 1 >= p.size()) return fail("regex: pattern ends with a backslash");
      const char e = p[i + 1];
      bool refused = false;
      std::string rep = class_escape(e, in_class, refused);
      if (refused) {
        return fail(std::string("regex: \\") + e + " inside a character class is not supported");
      }
      if (!rep.empty()) {
        out += rep;
        ++i;
        continue;
      }
      if (e == 'u') {
        if (i + 5 >= p.size() || !is_hex(p[i + 2]) || !is_hex(p[i + 3]) || !is_hex(p[i + 4]) ||
            !is_hex(p[i + 5])) {
          return fail("regex: \\u needs four hex digits");
        }
        out += "\\x{" + std::string(p.substr(i + 2, 4)) + "}";
        i += 5;
        continue;
      }
      out.push_back(c);
      out.push_back(e);
      ++i;
      continue;
    }
    if (in_class) {
      if (c == '[') {
        if (i + 1 < p.size() && p[i + 1] == ':') {  // POSIX bracket [:alpha:]
          const std::size_t close = p.find(":]", i + 2);
          if (close == std::string_view::npos) return fail("regex: unterminated POSIX bracket");
          out.append(p.substr(i, close + 2 - i));
          i = close + 1;
          continue;
        }
        return fail("regex: nested character classes are not supported");
      }
      if (c == '&' && i + 1 < p.size() && p[i + 1] == '&') {
        return fail("regex: character class intersection (&&) is not supported");
      }
      // ']' right after '[' or '[^' is a literal in both syntaxes.
      const bool first =
          i == class_start + 1 || (i == class_start + 2 && p[class_start + 1] == '^');
      if (c == ']' && !first) in_class = false;
      out.push_back(c);
      continue;
    }
    if (c == '[') {
      in_class = true;
      class_start = i;
      out.push_back(c);
      continue;
    }
    if (c == '(' && i + 1 < p.size() && p[i + 1] == '?') {
      // Option groups: (?imx-imx) and (?imx-imx:...). Ruby's m is PCRE2's s.
      std::size_t j = i + 2;
      while (j < p.size() && (p[j] == 'i' || p[j] == 'm' || p[j] == 'x' || p[j] == '-')) ++j;
      if (j > i + 2 && j < p.size() && (p[j] == ')' || p[j] == ':')) {
        out += "(?";
        for (std::size_t k = i + 2; k < j; ++k) out.push_back(p[k] == 'm' ? 's' : p[k]);
        i = j - 1;
        continue;
      }
    }
    out.push_back(c);
  }
  if (in_class) return fail("regex: unterminated character class");
  return out;
}

struct Regex::Code {
  pcre2_code* code = nullptr;
  pcre2_match_context* mctx = nullptr;
  bool jit = false;
  Code() = default;
  Code(const Code&) = delete;
  Code& operator=(const Code&) = delete;
  ~Code() {
    pcre2_match_context_free(mctx);
    pcre2_code_free(code);
  }
};

Result<Regex> Regex::compile(std::string_view pattern, Syntax syntax) {
  const bool literal = syntax == Syntax::literal;
  std::string translated;
  if (syntax != Syntax::oniguruma) {
    if (!utf8_valid(pattern)) return fail("regex: pattern is not valid UTF-8");
    if (pattern.size() > kMaxPatternBytes) return fail("regex: pattern longer than 64 KiB");
    translated = std::string(pattern);
  } else {
    auto t = onig_to_pcre2(pattern);
    if (!t) return t.error();
    translated = std::move(*t);
  }
  pcre2_compile_context* cctx = pcre2_compile_context_create(nullptr);
  if (cctx == nullptr) return fail("regex: out of memory");
  pcre2_set_newline(cctx, PCRE2_NEWLINE_LF);
  // PCRE2_LITERAL takes UTF but none of the pattern-syntax options.
  const std::uint32_t options =
      literal ? PCRE2_UTF | PCRE2_LITERAL
              : PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE | PCRE2_NEVER_BACKSLASH_C;
  int err = 0;
  PCRE2_SIZE err_offset = 0;
  auto code = std::make_shared<Code>();
  // PCRE2's API takes unsigned code units; the pattern is UTF-8 text.
  code->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()), translated.size(),
                             options, &err, &err_offset, cctx);
  pcre2_compile_context_free(cctx);
  if (code->code == nullptr) {
    std::array<PCRE2_UCHAR, 256> msg{};
    pcre2_get_error_message(err, msg.data(), msg.size());
    return fail("regex: " + std::string(reinterpret_cast<const char*>(msg.data())) + " at offset " +
                std::to_string(err_offset) + " of the (translated) pattern");
  }
  code->mctx = pcre2_match_context_create(nullptr);
  if (code->mctx == nullptr) return fail("regex: out of memory");
  pcre2_set_match_limit(code->mctx, kMatchLimit);
  pcre2_set_depth_limit(code->mctx, kDepthLimit);
  code->jit = pcre2_jit_compile(code->code, PCRE2_JIT_COMPLETE) == 0;
  return Regex(std::move(code));
}

Check Regex::find_all(std::string_view text, std::vector<Span>& out) const {
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(code_->code, nullptr);
  if (md == nullptr) return fail("regex: out of memory");
  // PCRE2's API takes unsigned code units; the text is UTF-8.
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  std::size_t last_end = 0;
  bool have_last = false;
  std::size_t last_match_end = 0;
  Check result = Unit{};
  while (last_end <= text.size()) {
    const int rc = pcre2_match(code_->code, subject, text.size(), last_end, PCRE2_NO_UTF_CHECK, md,
                               code_->mctx);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      std::array<PCRE2_UCHAR, 256> msg{};
      pcre2_get_error_message(rc, msg.data(), msg.size());
      result =
          fail("regex: matching failed: " + std::string(reinterpret_cast<const char*>(msg.data())));
      break;
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    const std::size_t s = ov[0];
    const std::size_t e = ov[1];
    if (s > e || e > text.size()) {
      result = fail("regex: a match ends before it starts (\\K)");
      break;
    }
    if (s == e && have_last && last_match_end == e) {
      last_end += last_end < text.size() ? utf8_decode(text, last_end).len : 1;
      continue;
    }
    last_end = e;
    last_match_end = e;
    have_last = true;
    out.emplace_back(s, e);
  }
  pcre2_match_data_free(md);
  return result;
}

}  // namespace hix::tok
