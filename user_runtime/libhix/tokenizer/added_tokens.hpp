// Added tokens (Hugging Face tokenizers' AddedVocabulary): strings matched
// in the text before the model sees it, leftmost-longest, each with its
// rules: single_word (only between non-word characters), lstrip/rstrip
// (swallow the whitespace on that side), normalized (matched after the
// normalizer, against its normalized form) and special (skipped by
// decode(skip_special_tokens)).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hix::tok {

struct AddedToken {
  std::int32_t id = 0;
  std::string content;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = false;
  bool special = false;
};

// One piece of a text split by an added-token matcher: a token (id set) or
// text still to tokenize.
struct Segment {
  std::size_t begin;
  std::size_t end;
  std::optional<std::int32_t> id;
};

// Matches a fixed set of added tokens. `patterns[i]` is what token i is
// matched as (its content, or its normalized content).
class AddedTokenMatcher {
 public:
  AddedTokenMatcher() = default;
  AddedTokenMatcher(std::vector<AddedToken> tokens, std::vector<std::string> patterns);

  // `text` (valid UTF-8) split at the matches, rules applied, as
  // AddedVocabulary::find_matches does; empty text gives one empty segment.
  [[nodiscard]] std::vector<Segment> split(std::string_view text) const;
  [[nodiscard]] bool empty() const { return tokens_.empty(); }

 private:
  struct Node {
    std::vector<std::pair<unsigned char, std::uint32_t>> next;  // sorted by byte
    std::int32_t token = -1;                                    // index into tokens_
  };
  // The longest pattern starting at `at`: its token index and length.
  [[nodiscard]] std::optional<std::pair<std::size_t, std::size_t>> longest_at(std::string_view text,
                                                                              std::size_t at) const;

  std::vector<AddedToken> tokens_;
  std::vector<Node> trie_;
  std::array<bool, 256> first_byte_{};
};

}  // namespace hix::tok
