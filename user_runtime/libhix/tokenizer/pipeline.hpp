// The parts of a loaded tokenizer, in the order encode() runs them
// (Hugging Face tokenizers' TokenizerImpl): added tokens, normalizer,
// pre-tokenizers, BPE model, post-processor; and the decoder. Internal to
// hix_tokenizer.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "added_tokens.hpp"
#include "bpe.hpp"
#include "normalizer.hpp"
#include "regex.hpp"

namespace hix::tok {

enum class SplitBehavior : unsigned char {
  removed,
  isolated,
  merged_with_previous,
  merged_with_next,
  contiguous,
};

struct SplitStep {
  Regex regex;
  SplitBehavior behavior;
  bool invert;
};

struct ByteLevelStep {
  bool add_prefix_space;
  bool use_regex;
};

using PreTokenizerStep = std::variant<SplitStep, ByteLevelStep>;

// One piece of a TemplateProcessing template: the input sequence ($A), or a
// special token's ids.
struct TemplatePiece {
  bool sequence;
  std::vector<std::int32_t> ids;
};
using Template = std::vector<TemplatePiece>;

enum class DecoderKind : unsigned char {
  join_with_spaces,  // no decoder: tokens joined with " "
  byte_level,
};

struct TokenizerImpl {
  std::vector<NormalForm> normalizers;  // applied in order
  AddedTokenMatcher raw_added;          // normalized: false
  AddedTokenMatcher normalized_added;   // normalized: true
  std::vector<PreTokenizerStep> pre_tokenizers;
  std::optional<Regex> byte_level_regex;  // GPT-2's pattern, when a ByteLevel step uses it
  Bpe model;
  std::vector<Template> templates;  // post_processor, in order (ByteLevel adds none)
  DecoderKind decoder = DecoderKind::join_with_spaces;

  // Every id's token (added tokens over the model's), dense up to max id.
  std::vector<std::string> id_token;
  std::vector<bool> has_id;
  std::vector<bool> special;
  Vocab added_by_content;

  std::optional<std::int32_t> bos;
  std::optional<std::int32_t> eos;
  std::optional<bool> add_bos_token;
  std::optional<std::string> chat_template;

  // The token's bytes as the decoder emits them, "" when the id is unknown
  // or skipped. `first`: no token was emitted yet (the spaces decoder).
  bool append_token(std::int32_t id, bool skip_special, bool first, std::string& bytes) const;
};

}  // namespace hix::tok
