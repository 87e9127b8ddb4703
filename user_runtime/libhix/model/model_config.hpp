// The shape of a transformer the compiler supports (GPT-2 and Llama
// families): parsed from a Hugging Face config.json or taken from a preset.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "result.hpp"

namespace hix::model {

enum class Arch : std::uint8_t { gpt2, llama };

std::string_view arch_name(Arch a);  // "gpt2", "llama"

struct ModelConfig {
  Arch arch = Arch::gpt2;
  std::uint32_t vocab = 0;
  std::uint32_t dim = 0;  // hidden size
  std::uint32_t layers = 0;
  std::uint32_t heads = 0;     // query heads
  std::uint32_t kv_heads = 0;  // key/value heads (GQA); == heads for GPT-2
  std::uint32_t head_dim = 0;  // heads * head_dim need not equal dim for Llama
  std::uint32_t mlp = 0;       // MLP inner size
  std::uint32_t max_pos = 0;   // positions the model was trained for
  float norm_eps = 1e-5f;
  float rope_theta = 10000.0f;  // Llama only
  bool tied_embeddings = true;  // lm head = embedding table (always for GPT-2)
};

// Sanity of the shape: every size >= 1, heads % kv_heads == 0, head_dim even
// for Llama (rotary pairs), GPT-2 dim == heads * head_dim, sizes bounded so
// that byte counts fit 64 bits, eps/theta finite and positive.
Check validate(const ModelConfig& c);

// Hugging Face config.json (model_type "gpt2" or "llama"; "architectures"
// is used when model_type is missing), as transformers 4 or 5 writes it: the
// RoPE base from top-level rope_theta (4) or rope_parameters.rope_theta (5),
// which must agree when both are given. Every key is in a table of known
// keys: a shape field missing without a published default, a value the
// device cannot run (RoPE frequency scaling, biases, other activations) and
// an unknown key are errors naming the key. Defaults: docs/decisions.md.
Result<ModelConfig> parse_config_json(std::string_view json);
Result<ModelConfig> load_config_json(const std::string& path);
// A config.json of `c` in its family's keys that parse_config_json reads
// back as `c` (a preset sealed into a .hixm carries one).
std::string config_json_of(const ModelConfig& c);

// "gpt2-small", "llama-1b", "llama-8b", and test shapes "tiny-gpt2",
// "tiny-llama" (GQA 4/2 heads, untied) and "tiny-llama-tied".
Result<ModelConfig> preset(std::string_view name);
std::span<const std::string_view> preset_names();

}  // namespace hix::model
