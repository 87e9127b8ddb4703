// Hugging Face byte-level BPE tokenizers (GPT-2, Llama 3.x, Qwen2/Qwen3):
// tokenizer.json (+ tokenizer_config.json) or GPT-2's encoder.json +
// vocab.bpe in, ids out and back, with exactly the results of Hugging Face's
// `tokenizers` library (docs/specs/tokenizer.md says what is accepted).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "error.hpp"

namespace hix::tok {

// The second file of a pair, as a type of its own so the two cannot be
// swapped: tokenizer_config.json's text, GPT-2's vocab.bpe text.
struct ConfigJson {
  std::string_view text;
};
struct Gpt2Merges {
  std::string_view text;
};

struct TokenizerImpl;

class Tokenizer {
 public:
  // tokenizer.json text, plus tokenizer_config.json text (may be empty) for
  // bos/eos, add_bos_token and chat_template.
  static Result<Tokenizer> from_json(std::string_view tokenizer_json,
                                     ConfigJson tokenizer_config_json = {});
  // GPT-2's original files (encoder.json + vocab.bpe), as OpenAI published
  // them: byte-level BPE with no added tokens; <|endoftext|> is bos, eos and
  // special (skipped by decode) but is never matched in text.
  static Result<Tokenizer> from_gpt2_files(std::string_view encoder_json, Gpt2Merges vocab_bpe);
  // A directory: tokenizer.json (+ tokenizer_config.json), else encoder.json
  // + vocab.bpe.
  static Result<Tokenizer> from_directory(const std::string& dir);

  // `utf8` must be valid UTF-8. add_special_tokens: apply the file's
  // post_processor template (e.g. Llama 3's <|begin_of_text|>).
  [[nodiscard]] Result<std::vector<std::int32_t>> encode(std::string_view utf8,
                                                         bool add_special_tokens) const;
  // Unknown ids are skipped; bytes that do not form UTF-8 become U+FFFD.
  [[nodiscard]] std::string decode(std::span<const std::int32_t> ids,
                                   bool skip_special_tokens) const;

  // Highest id + 1 (added tokens included).
  [[nodiscard]] std::size_t vocab_size() const;
  [[nodiscard]] std::optional<std::int32_t> token_to_id(std::string_view token) const;
  [[nodiscard]] std::optional<std::string> id_to_token(std::int32_t id) const;
  [[nodiscard]] std::optional<std::int32_t> bos_id() const;
  [[nodiscard]] std::optional<std::int32_t> eos_id() const;
  // tokenizer_config.json's add_bos_token, if it says. encode() follows the
  // post_processor only, as Hugging Face tokenizers does.
  [[nodiscard]] std::optional<bool> add_bos_token() const;
  // Raw Jinja text, if the config has one.
  [[nodiscard]] std::optional<std::string> chat_template() const;
  [[nodiscard]] bool is_special(std::int32_t id) const;

 private:
  friend class StreamDecoder;
  explicit Tokenizer(std::shared_ptr<const TokenizerImpl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const TokenizerImpl> impl_;  // immutable: copies share it
};

// Streams text as ids arrive: returns the UTF-8 text that is complete so far
// and holds back bytes of a character not yet finished. The pushes' and
// finish()'s outputs concatenated equal decode() of all the ids.
class StreamDecoder {
 public:
  StreamDecoder(const Tokenizer& tokenizer, bool skip_special_tokens);
  [[nodiscard]] std::string push(std::int32_t id);
  // The rest, an unfinished character as U+FFFD; the decoder starts afresh.
  [[nodiscard]] std::string finish();

 private:
  Tokenizer tokenizer_;
  bool skip_special_;
  bool first_ = true;
  std::string pending_;
};

}  // namespace hix::tok
