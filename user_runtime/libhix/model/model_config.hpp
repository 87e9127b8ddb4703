// The shape of a transformer the compiler supports (GPT-2, Llama, Qwen2 and
// Mistral families): parsed from a Hugging Face config.json or taken from a preset.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "result.hpp"

namespace hix::model {

// The families config.json's model_type names. Llama, Qwen2 and Mistral are
// one decoder (RMSNorm, rotary attention with GQA, a SiLU-gated MLP); Qwen2
// adds biases to the q, k and v projections.
enum class Arch : std::uint8_t { gpt2, llama, qwen2, mistral };

std::string_view arch_name(Arch a);  // model_type: "gpt2", "llama", "qwen2", "mistral"
bool rotary(Arch a);                 // the Llama-shaped families

// Llama 3.1/3.2's RoPE frequency scaling (rope_type "llama3"; the device's
// ROPE_LLAMA3, docs/specs/hix-gpu.md §6.4).
struct Llama3Scaling {
  float factor = 0;
  float low_freq_factor = 0;
  float high_freq_factor = 0;
  std::uint32_t original_max_pos = 0;  // original_max_position_embeddings
  bool operator==(const Llama3Scaling&) const = default;
};

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
  float rope_theta = 10000.0f;  // rotary families only
  bool tied_embeddings = true;  // lm head = embedding table (always for GPT-2)
  // Rotary families: RoPE frequencies scaled as Llama 3 scales them.
  std::optional<Llama3Scaling> rope_scaling{};
  // Mistral: each token attends to the last sliding_window tokens (0: all).
  // The device runs full attention, which is the same arithmetic while the
  // whole sequence fits the window: max_context() stops there.
  std::uint32_t sliding_window = 0;
};

// Qwen2's q, k and v projections have biases (o_proj has none).
bool qkv_bias(const ModelConfig& c);

// The longest sequence (prompt + generated tokens) the device runs exactly:
// max_pos, and no more than a sliding window.
std::uint32_t max_context(const ModelConfig& c);

// Sanity of the shape: every size >= 1, heads % kv_heads == 0, head_dim even
// for the rotary families (rotary pairs), GPT-2 dim == heads * head_dim, sizes
// bounded so that byte counts fit 64 bits, eps/theta finite and positive,
// Llama 3 scaling factors positive with high_freq_factor > low_freq_factor,
// a sliding window only for Mistral.
Check validate(const ModelConfig& c);

// Hugging Face config.json (model_type "gpt2", "llama", "qwen2" or
// "mistral"; "architectures" is used when model_type is missing), as
// transformers 4 or 5 writes it: the RoPE base from top-level rope_theta (4)
// or rope_parameters.rope_theta (5), which must agree when both are given;
// Llama 3's frequency scaling from rope_scaling (4) or rope_parameters (5),
// with every one of its fields given. Every key is in a table of known keys:
// a shape field missing without a published default, a value the device
// cannot run (other RoPE scalings, Llama's biases, sliding windows outside
// Mistral, other activations) and an unknown key are errors naming the key.
// Defaults: docs/decisions.md.
Result<ModelConfig> parse_config_json(std::string_view json);
Result<ModelConfig> load_config_json(const std::string& path);
// A config.json of `c` in its family's keys that parse_config_json reads
// back as `c` (a preset sealed into a .hixm carries one).
std::string config_json_of(const ModelConfig& c);

// "gpt2-small", "llama-1b", "llama-8b", and test shapes "tiny-gpt2",
// "tiny-llama" (GQA 4/2 heads, untied), "tiny-llama-tied", "tiny-llama3-scaled"
// (Llama 3 scaling with an original context of 256 positions, every
// frequency band populated), "tiny-qwen2"
// (q/k/v biases, tied) and "tiny-mistral" (a 16-token sliding window,
// heads * head_dim != dim).
Result<ModelConfig> preset(std::string_view name);
std::span<const std::string_view> preset_names();

}  // namespace hix::model
