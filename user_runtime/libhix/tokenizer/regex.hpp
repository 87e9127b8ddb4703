// The pre-tokenizer's regular expressions: patterns written for Oniguruma's
// Ruby syntax (what Hugging Face tokenizers compiles them with) run on PCRE2
// in UTF + UCP mode. The few constructs whose meaning differs between the two
// are rewritten (`\s`, `\w`, `\h`, `(?m)`, `\uHHHH`); constructs PCRE2 would
// read differently and that are not rewritten are refused.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "error.hpp"

namespace hix::tok {

// Byte offsets [start, end) of one match.
using Span = std::pair<std::size_t, std::size_t>;

// How a pattern is written: Oniguruma's Ruby syntax (a tokenizer.json
// Split {"Regex": ...}), a plain string (Split {"String": ...}), or PCRE2's
// own syntax (patterns of this library only).
enum class Syntax : unsigned char { oniguruma, literal, pcre2 };

class Regex {
 public:
  static Result<Regex> compile(std::string_view pattern, Syntax syntax);

  // Every match, left to right, as Oniguruma's find_iter yields them: the
  // search resumes at the previous match's end, and an empty match right
  // where the previous match ended is skipped by one code point. `text` must
  // be valid UTF-8. Fails only when PCRE2's match limits are hit.
  Check find_all(std::string_view text, std::vector<Span>& out) const;

 private:
  struct Code;
  explicit Regex(std::shared_ptr<const Code> code) : code_(std::move(code)) {}
  std::shared_ptr<const Code> code_;
};

// The pattern rewritten from Oniguruma's Ruby syntax to PCRE2 (exposed for
// tests), or why it cannot be.
Result<std::string> onig_to_pcre2(std::string_view pattern);

}  // namespace hix::tok
