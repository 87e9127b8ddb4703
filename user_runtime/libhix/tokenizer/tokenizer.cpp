// encode() and decode() of Hugging Face tokenizers' TokenizerImpl for the
// parts pipeline.hpp holds: added tokens split off first (the raw ones on
// the input, the normalized ones after the normalizer), then each remaining
// piece pre-tokenized, each word through BPE, then the post-processor.
#include "tokenizer.hpp"

#include <algorithm>

#include "byte_level.hpp"
#include "pipeline.hpp"
#include "utf8.hpp"

namespace hix::tok {
namespace {

// Larger inputs are refused rather than tokenized for minutes.
constexpr std::size_t kMaxInputBytes = std::size_t{256} << 20;

// A piece of text on its way to the model, or a token already decided.
struct Part {
  std::string text;
  std::optional<std::int32_t> id;
};

void split_added(const AddedTokenMatcher& m, std::string_view text, std::vector<Part>& out) {
  for (const Segment& s : m.split(text)) {
    if (s.id) {
      out.push_back(Part{std::string(text.substr(s.begin, s.end - s.begin)), s.id});
    } else if (s.end > s.begin) {
      out.push_back(Part{std::string(text.substr(s.begin, s.end - s.begin)), std::nullopt});
    }
  }
}

// NormalizedString::split: matches become (span, is_match), the behavior
// merges or drops them, empty pieces vanish.
Check split_step(const SplitStep& step, const std::string& text, std::vector<std::string>& out) {
  std::vector<Span> found;
  if (auto r = step.regex.find_all(text, found); !r) return r;
  std::vector<std::pair<Span, bool>> matches;
  std::size_t prev = 0;
  for (const Span& m : found) {
    if (prev != m.first) matches.push_back({{prev, m.first}, step.invert});
    matches.push_back({m, !step.invert});
    prev = m.second;
  }
  if (prev != text.size()) matches.push_back({{prev, text.size()}, step.invert});

  std::vector<std::pair<Span, bool>> pieces;  // (span, remove)
  bool previous_match = false;
  switch (step.behavior) {
    case SplitBehavior::isolated:
      for (const auto& [span, is_match] : matches) pieces.push_back({span, false});
      break;
    case SplitBehavior::removed:
      pieces = matches;
      break;
    case SplitBehavior::contiguous:
      for (const auto& [span, is_match] : matches) {
        if (is_match == previous_match && !pieces.empty()) {
          pieces.back().first.second = span.second;
        } else {
          pieces.push_back({span, false});
        }
        previous_match = is_match;
      }
      break;
    case SplitBehavior::merged_with_previous:
      for (const auto& [span, is_match] : matches) {
        if (is_match && !previous_match && !pieces.empty()) {
          pieces.back().first.second = span.second;
        } else {
          pieces.push_back({span, false});
        }
        previous_match = is_match;
      }
      break;
    case SplitBehavior::merged_with_next:
      for (auto it = matches.rbegin(); it != matches.rend(); ++it) {
        const auto& [span, is_match] = *it;
        if (is_match && !previous_match && !pieces.empty()) {
          pieces.back().first.first = span.first;
        } else {
          pieces.push_back({span, false});
        }
        previous_match = is_match;
      }
      std::reverse(pieces.begin(), pieces.end());
      break;
  }
  for (const auto& [span, remove] : pieces) {
    if (!remove && span.second > span.first)
      out.push_back(text.substr(span.first, span.second - span.first));
  }
  return Unit{};
}

Check byte_level_step(const ByteLevelStep& step, const Regex* regex, std::string text,
                      std::vector<std::string>& out) {
  if (step.add_prefix_space && (text.empty() || text[0] != ' ')) text.insert(0, 1, ' ');
  if (!step.use_regex) {
    if (!text.empty()) out.push_back(byte_level_encode(text));
    return Unit{};
  }
  std::vector<std::string> pieces;
  const SplitStep isolated{*regex, SplitBehavior::isolated, false};
  if (auto r = split_step(isolated, text, pieces); !r) return r;
  for (const std::string& p : pieces) out.push_back(byte_level_encode(p));
  return Unit{};
}

}  // namespace

bool TokenizerImpl::append_token(std::int32_t id, bool skip_special, bool first,
                                 std::string& bytes) const {
  if (id < 0 || static_cast<std::size_t>(id) >= has_id.size() ||
      !has_id[static_cast<std::size_t>(id)]) {
    return false;
  }
  const auto i = static_cast<std::size_t>(id);
  if (skip_special && special[i]) return false;
  switch (decoder) {
    case DecoderKind::byte_level:
      byte_level_decode_token(id_token[i], bytes);
      break;
    case DecoderKind::join_with_spaces:
      if (!first) bytes.push_back(' ');
      bytes += id_token[i];
      break;
  }
  return true;
}

Result<std::vector<std::int32_t>> Tokenizer::encode(std::string_view utf8,
                                                    bool add_special_tokens) const {
  const TokenizerImpl& t = *impl_;
  if (utf8.size() > kMaxInputBytes) return fail("encode: input larger than 256 MiB");
  if (const std::size_t bad = utf8_valid_prefix(utf8); bad != utf8.size()) {
    return fail("encode: input is not valid UTF-8 at byte " + std::to_string(bad));
  }
  // 1. Added tokens matched on the input as it is.
  std::vector<Part> raw;
  split_added(t.raw_added, utf8, raw);
  // 2. The rest normalized, then the normalized added tokens matched.
  std::vector<Part> parts;
  for (Part& p : raw) {
    if (p.id) {
      parts.push_back(std::move(p));
      continue;
    }
    std::string text = std::move(p.text);
    for (const NormalForm f : t.normalizers) {
      auto n = normalize(f, text);
      if (!n) return n.error();
      text = std::move(*n);
    }
    split_added(t.normalized_added, text, parts);
  }
  // 3. Pre-tokenizers, 4. the model.
  std::vector<std::int32_t> ids;
  ids.reserve(utf8.size() / 3 + 8);
  std::vector<std::string> words;
  std::vector<std::string> next;
  for (Part& p : parts) {
    if (p.id) {
      ids.push_back(*p.id);
      continue;
    }
    words.clear();
    words.push_back(std::move(p.text));
    for (const PreTokenizerStep& step : t.pre_tokenizers) {
      next.clear();
      for (std::string& w : words) {
        Check r = Unit{};
        if (const auto* s = std::get_if<SplitStep>(&step)) {
          r = split_step(*s, w, next);
        } else {
          const auto& b = std::get<ByteLevelStep>(step);
          r = byte_level_step(b, t.byte_level_regex ? &*t.byte_level_regex : nullptr, std::move(w),
                              next);
        }
        if (!r) return r.error();
      }
      words.swap(next);
    }
    for (const std::string& w : words) t.model.tokenize(w, ids);
  }
  // 5. The post-processor's templates.
  for (const Template& tpl : t.templates) {
    std::vector<std::int32_t> out;
    out.reserve(ids.size() + 4);
    for (const TemplatePiece& piece : tpl) {
      if (piece.sequence) {
        out.insert(out.end(), ids.begin(), ids.end());
      } else if (add_special_tokens) {
        out.insert(out.end(), piece.ids.begin(), piece.ids.end());
      }
    }
    ids = std::move(out);
  }
  return ids;
}

std::string Tokenizer::decode(std::span<const std::int32_t> ids, bool skip_special_tokens) const {
  std::string bytes;
  bool first = true;
  for (const std::int32_t id : ids) {
    if (impl_->append_token(id, skip_special_tokens, first, bytes)) first = false;
  }
  std::string out;
  out.reserve(bytes.size());
  (void)utf8_append_lossy(out, bytes, false);
  return out;
}

std::size_t Tokenizer::vocab_size() const {
  return impl_->has_id.size();
}

std::optional<std::int32_t> Tokenizer::token_to_id(std::string_view token) const {
  if (const auto it = impl_->added_by_content.find(token); it != impl_->added_by_content.end()) {
    return it->second;
  }
  return impl_->model.token_to_id(token);
}

std::optional<std::string> Tokenizer::id_to_token(std::int32_t id) const {
  if (id < 0 || static_cast<std::size_t>(id) >= impl_->has_id.size() ||
      !impl_->has_id[static_cast<std::size_t>(id)]) {
    return std::nullopt;
  }
  return impl_->id_token[static_cast<std::size_t>(id)];
}

std::optional<std::int32_t> Tokenizer::bos_id() const {
  return impl_->bos;
}
std::optional<std::int32_t> Tokenizer::eos_id() const {
  return impl_->eos;
}
std::optional<bool> Tokenizer::add_bos_token() const {
  return impl_->add_bos_token;
}
std::optional<std::string> Tokenizer::chat_template() const {
  return impl_->chat_template;
}

bool Tokenizer::is_special(std::int32_t id) const {
  return id >= 0 && static_cast<std::size_t>(id) < impl_->special.size() &&
         impl_->special[static_cast<std::size_t>(id)];
}

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool skip_special_tokens)
    : tokenizer_(tokenizer), skip_special_(skip_special_tokens) {}

std::string StreamDecoder::push(std::int32_t id) {
  if (tokenizer_.impl_->append_token(id, skip_special_, first_, pending_)) first_ = false;
  std::string out;
  const std::size_t held = utf8_append_lossy(out, pending_, true);
  pending_.erase(0, pending_.size() - held);
  return out;
}

std::string StreamDecoder::finish() {
  std::string out;
  (void)utf8_append_lossy(out, pending_, false);
  pending_.clear();
  first_ = true;
  return out;
}

}  // namespace hix::tok
