// The BPE model of Hugging Face tokenizers (models/bpe): word building with
// byte fallback and unknown-token fusing, then merges from a priority queue
// ordered by (rank, position), stale entries skipped.
#include "bpe.hpp"

#include <array>
#include <cstdio>
#include <queue>

#include "utf8.hpp"

namespace hix::tok {
namespace {

constexpr char32_t kSmallCharLimit = 0x800;

struct Symbol {
  std::int32_t id;
  std::int64_t prev;
  std::int64_t next;
  std::size_t len;  // bytes of the word it covers; 0: merged away
};

struct QueueEntry {
  std::uint32_t rank;
  std::size_t pos;
  std::int32_t new_id;
};
// std::priority_queue pops the greatest: lowest rank, then lowest position.
struct Later {
  bool operator()(const QueueEntry& a, const QueueEntry& b) const {
    if (a.rank != b.rank) return a.rank > b.rank;
    return a.pos > b.pos;
  }
};

}  // namespace

Result<Bpe> Bpe::create(Vocab vocab, const std::vector<std::pair<std::string, std::string>>& merges,
                        BpeOptions options) {
  Bpe m;
  m.options_ = std::move(options);
  m.vocab_ = std::move(vocab);
  if (m.options_.unk_token) {
    const auto it = m.vocab_.find(*m.options_.unk_token);
    if (it == m.vocab_.end()) {
      return fail("model.unk_token: \"" + *m.options_.unk_token + "\" is not in model.vocab");
    }
    m.unk_id_ = it->second;
  }
  m.merges_.reserve(merges.size());
  const std::size_t prefix_len = m.options_.continuing_subword_prefix.size();
  for (std::size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [a, b] = merges[rank];
    // Messages are built only on failure: this loop runs 280k times.
    const auto bad = [rank](std::string_view token, std::string_view why) {
      std::string msg = "model.merges[";
      msg += std::to_string(rank);
      msg += "]: \"";
      msg += token;
      msg += "\" ";
      msg += why;
      return fail(std::move(msg));
    };
    const auto ia = m.vocab_.find(a);
    if (ia == m.vocab_.end()) return bad(a, "is not in model.vocab");
    const auto ib = m.vocab_.find(b);
    if (ib == m.vocab_.end()) return bad(b, "is not in model.vocab");
    if (b.size() < prefix_len) return bad(b, "is shorter than continuing_subword_prefix");
    std::string joined = a;
    joined.append(b, prefix_len);
    const auto in = m.vocab_.find(joined);
    if (in == m.vocab_.end()) return bad(joined, "(the merged token) is not in model.vocab");
    m.merges_[key(ia->second, ib->second)] = Merge{static_cast<std::uint32_t>(rank), in->second};
  }
  m.small_char_ids_.assign(kSmallCharLimit, -1);
  for (const auto& [tok, id] : m.vocab_) {
    if (tok.empty() || !utf8_valid(tok)) continue;
    const Decoded d = utf8_decode(tok, 0);
    if (d.len == tok.size() && d.cp < kSmallCharLimit) m.small_char_ids_[d.cp] = id;
  }
  return m;
}

std::optional<std::int32_t> Bpe::token_to_id(std::string_view token) const {
  const auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const Bpe::Merge* Bpe::find_merge(std::int32_t a, std::int32_t b) const {
  const auto it = merges_.find(key(a, b));
  return it == merges_.end() ? nullptr : &it->second;
}

void Bpe::tokenize(std::string_view word, std::vector<std::int32_t>& out) const {
  if (word.empty()) return;
  if (options_.ignore_merges) {
    if (const auto id = token_to_id(word)) {
      out.push_back(*id);
      return;
    }
  }
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  const auto add = [&symbols](std::int32_t id, std::size_t len) {
    const auto n = static_cast<std::int64_t>(symbols.size());
    if (n > 0) symbols.back().next = n;
    symbols.push_back(Symbol{id, n - 1, -1, len});
  };
  const bool plain =
      options_.continuing_subword_prefix.empty() && options_.end_of_word_suffix.empty();
  // A pending unknown token: its id and the bytes it covers.
  bool unk = false;
  std::int32_t unk_id = 0;
  std::size_t unk_len = 0;
  std::string piece;
  std::size_t i = 0;
  while (i < word.size()) {
    const Decoded d = utf8_decode(word, i);
    const bool first = i == 0;
    const bool last = i + d.len == word.size();
    const std::string_view ch = word.substr(i, d.len);
    i += d.len;
    std::optional<std::int32_t> id;
    std::string_view s = ch;
    if (plain) {
      if (d.cp < kSmallCharLimit && small_char_ids_[d.cp] >= 0) {
        id = small_char_ids_[d.cp];
      } else {
        id = token_to_id(ch);
      }
    } else {
      piece.clear();
      if (!first) piece += options_.continuing_subword_prefix;
      piece += ch;
      if (last) piece += options_.end_of_word_suffix;
      s = piece;
      id = token_to_id(piece);
    }
    if (id) {
      if (unk) {
        add(unk_id, unk_len);
        unk = false;
      }
      add(*id, ch.size());
      continue;
    }
    if (options_.byte_fallback) {
      std::vector<std::int32_t> ids(s.size());
      bool all = true;
      for (std::size_t k = 0; all && k < s.size(); ++k) {
        std::array<char, 8> name{};
        std::snprintf(name.data(), name.size(), "<0x%02X>", static_cast<unsigned char>(s[k]));
        const auto b = token_to_id(name.data());
        if (!b) {
          all = false;
        } else {
          ids[k] = *b;
        }
      }
      if (all) {
        for (std::size_t k = 0; k < s.size(); ++k) add(ids[k], 1);
        continue;
      }
    }
    if (unk_id_) {
      if (unk && options_.fuse_unk) {
        unk_len += ch.size();
      } else {
        if (unk) add(unk_id, unk_len);
        unk = true;
        unk_id = *unk_id_;
        unk_len = ch.size();
      }
    }
    // No unknown token: Hugging Face drops the code point; so do we.
  }
  if (unk) add(unk_id, unk_len);

  std::priority_queue<QueueEntry, std::vector<QueueEntry>, Later> queue;
  for (std::size_t p = 0; p + 1 < symbols.size(); ++p) {
    if (const Merge* m = find_merge(symbols[p].id, symbols[p + 1].id)) {
      queue.push(QueueEntry{m->rank, p, m->new_id});
    }
  }
  while (!queue.empty()) {
    const QueueEntry top = queue.top();
    queue.pop();
    Symbol& cur = symbols[top.pos];
    if (cur.len == 0 || cur.next < 0) continue;
    const auto next_pos = static_cast<std::size_t>(cur.next);
    const Symbol right = symbols[next_pos];
    const Merge* now = find_merge(cur.id, right.id);
    if (now == nullptr || now->new_id != top.new_id) continue;  // stale entry
    cur.id = top.new_id;
    cur.len += right.len;
    cur.next = right.next;
    symbols[next_pos].len = 0;
    if (right.next >= 0 && static_cast<std::size_t>(right.next) < symbols.size()) {
      symbols[static_cast<std::size_t>(right.next)].prev = static_cast<std::int64_t>(top.pos);
    }
    if (cur.prev >= 0) {
      const auto prev = static_cast<std::size_t>(cur.prev);
      if (const Merge* m = find_merge(symbols[prev].id, cur.id)) {
        queue.push(QueueEntry{m->rank, prev, m->new_id});
      }
    }
    if (cur.next >= 0 && static_cast<std::size_t>(cur.next) < symbols.size()) {
      if (const Merge* m = find_merge(cur.id, symbols[static_cast<std::size_t>(cur.next)].id)) {
        queue.push(QueueEntry{m->rank, top.pos, m->new_id});
      }
    }
  }
  for (const Symbol& s : symbols) {
    if (s.len != 0) out.push_back(s.id);
  }
}

}  // namespace hix::tok
