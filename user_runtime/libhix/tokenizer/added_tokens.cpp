// AddedVocabulary::find_matches of Hugging Face tokenizers: leftmost-longest
// matching (their Aho-Corasick automaton, here a byte trie tried at each
// position), then single_word, lstrip and rstrip with Unicode \w and
// White_Space as Rust's regex crate defines them.
#include "added_tokens.hpp"

#include <algorithm>

#include "utf8.hpp"

namespace hix::tok {
namespace {

bool ends_with_word(std::string_view s) {
  if (s.empty()) return false;
  const std::size_t p = utf8_prev(s, s.size());
  return is_word_char(utf8_decode(s, p).cp);
}

bool starts_with_word(std::string_view s) {
  return !s.empty() && is_word_char(utf8_decode(s, 0).cp);
}

// Where the run of whitespace that ends `s` starts.
std::size_t trailing_space_start(std::string_view s) {
  std::size_t end = s.size();
  while (end > 0) {
    const std::size_t p = utf8_prev(s, end);
    if (!is_white_space(utf8_decode(s, p).cp)) break;
    end = p;
  }
  return end;
}

// How many bytes of whitespace `s` starts with.
std::size_t leading_space_len(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const Decoded d = utf8_decode(s, i);
    if (!is_white_space(d.cp)) break;
    i += d.len;
  }
  return i;
}

}  // namespace

AddedTokenMatcher::AddedTokenMatcher(std::vector<AddedToken> tokens,
                                     std::vector<std::string> patterns)
    : tokens_(std::move(tokens)) {
  trie_.emplace_back();
  for (std::size_t t = 0; t < patterns.size(); ++t) {
    const std::string& p = patterns[t];
    if (p.empty()) continue;
    first_byte_[static_cast<unsigned char>(p[0])] = true;
    std::uint32_t node = 0;
    for (const char c : p) {
      const auto b = static_cast<unsigned char>(c);
      auto& next = trie_[node].next;
      const auto it = std::lower_bound(next.begin(), next.end(), b,
                                       [](const auto& e, unsigned char x) { return e.first < x; });
      if (it != next.end() && it->first == b) {
        node = it->second;
        continue;
      }
      const auto child = static_cast<std::uint32_t>(trie_.size());
      next.insert(it, {b, child});
      trie_.emplace_back();
      node = child;
    }
    // Two tokens with one pattern: the first listed wins, as in the automaton.
    if (trie_[node].token < 0) trie_[node].token = static_cast<std::int32_t>(t);
  }
}

std::optional<std::pair<std::size_t, std::size_t>> AddedTokenMatcher::longest_at(
    std::string_view text, std::size_t at) const {
  std::optional<std::pair<std::size_t, std::size_t>> best;
  std::uint32_t node = 0;
  for (std::size_t i = at; i < text.size(); ++i) {
    const auto b = static_cast<unsigned char>(text[i]);
    const auto& next = trie_[node].next;
    const auto it = std::lower_bound(next.begin(), next.end(), b,
                                     [](const auto& e, unsigned char x) { return e.first < x; });
    if (it == next.end() || it->first != b) break;
    node = it->second;
    if (trie_[node].token >= 0) {
      best = std::make_pair(static_cast<std::size_t>(trie_[node].token), i + 1 - at);
    }
  }
  return best;
}

std::vector<Segment> AddedTokenMatcher::split(std::string_view text) const {
  std::vector<Segment> out;
  if (text.empty()) {
    out.push_back(Segment{0, 0, std::nullopt});
    return out;
  }
  std::size_t start_offset = 0;
  std::size_t pos = 0;  // where the automaton resumes: the previous match's end
  while (pos < text.size()) {
    if (!first_byte_[static_cast<unsigned char>(text[pos])]) {
      ++pos;
      continue;
    }
    const auto m = longest_at(text, pos);
    if (!m) {
      ++pos;
      continue;
    }
    const AddedToken& tok = tokens_[m->first];
    std::size_t start = pos;
    std::size_t stop = pos + m->second;
    pos = stop;
    if (tok.single_word) {
      const bool start_space = start == 0 || !ends_with_word(text.substr(0, start));
      const bool stop_space = stop == text.size() || !starts_with_word(text.substr(stop));
      if (!start_space || !stop_space) continue;
    }
    if (tok.lstrip) start = std::max(trailing_space_start(text.substr(0, start)), start_offset);
    if (tok.rstrip) stop += leading_space_len(text.substr(stop));
    if (start_offset < start) out.push_back(Segment{start_offset, start, std::nullopt});
    out.push_back(Segment{start, stop, tok.id});
    start_offset = stop;
  }
  if (start_offset != text.size()) out.push_back(Segment{start_offset, text.size(), std::nullopt});
  return out;
}

}  // namespace hix::tok
