// Byte-pair encoding (Sennrich et al. 2016) as Hugging Face tokenizers' BPE
// model runs it: a word starts as one symbol per code point (or its
// <0xXX> byte tokens, or the unknown token), then the pair with the lowest
// merge rank is merged, leftmost first, until no ranked pair is left.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "error.hpp"

namespace hix::tok {

// Heterogeneous lookup by string_view in a string-keyed map.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using Vocab = std::unordered_map<std::string, std::int32_t, StringHash, std::equal_to<>>;

struct BpeOptions {
  std::optional<std::string> unk_token;
  std::string continuing_subword_prefix;
  std::string end_of_word_suffix;
  bool fuse_unk = false;
  bool byte_fallback = false;
  bool ignore_merges = false;
};

class Bpe {
 public:
  // `merges` in rank order; a later duplicate pair takes the later rank.
  static Result<Bpe> create(Vocab vocab,
                            const std::vector<std::pair<std::string, std::string>>& merges,
                            BpeOptions options);

  // Appends the ids of `word`'s tokens.
  void tokenize(std::string_view word, std::vector<std::int32_t>& out) const;

  [[nodiscard]] std::optional<std::int32_t> token_to_id(std::string_view token) const;
  [[nodiscard]] const Vocab& vocab() const { return vocab_; }

 private:
  struct Merge {
    std::uint32_t rank;
    std::int32_t new_id;
  };
  static std::uint64_t key(std::int32_t a, std::int32_t b) {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) |
           static_cast<std::uint32_t>(b);
  }
  [[nodiscard]] const Merge* find_merge(std::int32_t a, std::int32_t b) const;

  Vocab vocab_;
  std::unordered_map<std::uint64_t, Merge> merges_;
  BpeOptions options_;
  std::optional<std::int32_t> unk_id_;
  // Ids of the single-code-point tokens below U+0800 (the byte-level
  // alphabet among them), -1 where there is none: a shortcut past the map.
  std::vector<std::int32_t> small_char_ids_;
};

}  // namespace hix::tok
