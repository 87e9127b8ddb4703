// Model shapes: validation, Hugging Face config.json and named presets.
#include "model_config.hpp"

#include <algorithm>
#include <array>
#include <cfloat>
#include <cmath>
#include <fstream>
#include <sstream>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "json.hpp"

namespace hix::model {

std::string_view arch_name(Arch a) {
  switch (a) {
    case Arch::gpt2:
      return "gpt2";
    case Arch::llama:
      return "llama";
    case Arch::qwen2:
      return "qwen2";
    case Arch::mistral:
      return "mistral";
  }
  return "?";
}

bool rotary(Arch a) {
  return a != Arch::gpt2;
}

bool qkv_bias(const ModelConfig& c) {
  return c.arch == Arch::qwen2;
}

std::uint32_t max_context(const ModelConfig& c) {
  return c.sliding_window != 0 ? std::min(c.max_pos, c.sliding_window) : c.max_pos;
}

Check validate(const ModelConfig& c) {
  // Bounds keep every byte count below 2^64 and the programs within the
  // command-buffer limits; real models are far below them.
  constexpr std::uint32_t kMaxDim = 1u << 20, kMaxVocab = 1u << 24, kMaxLayers = 1024;
  const auto in = [](std::uint32_t v, std::uint32_t hi) { return v >= 1 && v <= hi; };
  if (!in(c.vocab, kMaxVocab)) return fail("config: vocab size out of range");
  if (!in(c.dim, kMaxDim)) return fail("config: hidden size out of range");
  if (!in(c.layers, kMaxLayers)) return fail("config: layer count out of range");
  if (!in(c.heads, 4096) || !in(c.kv_heads, 4096)) return fail("config: head count out of range");
  if (!in(c.head_dim, 4096)) return fail("config: head_dim out of range");
  if (!in(c.mlp, kMaxDim)) return fail("config: MLP size out of range");
  if (!in(c.max_pos, 1u << 24)) return fail("config: max positions out of range");
  if (c.heads % c.kv_heads != 0) return fail("config: heads not a multiple of kv_heads");
  if (std::uint64_t{c.heads} * c.head_dim > kMaxDim)
    return fail("config: heads * head_dim too large");
  if (!std::isfinite(c.norm_eps) || c.norm_eps <= 0)
    return fail("config: norm eps must be positive");
  if (c.arch == Arch::gpt2) {
    if (c.kv_heads != c.heads) return fail("config: GPT-2 has no grouped KV heads");
    if (std::uint64_t{c.heads} * c.head_dim != c.dim) {
      return fail("config: GPT-2 needs hidden size == heads * head_dim");
    }
    if (!c.tied_embeddings) return fail("config: GPT-2 ties its lm head to the embeddings");
    if (c.rope_scaling) return fail("config: GPT-2 has no rotary embeddings to scale");
  } else {
    if (c.head_dim % 2 != 0) return fail("config: rotary embeddings need an even head_dim");
    if (!std::isfinite(c.rope_theta) || c.rope_theta <= 0) {
      return fail("config: rope_theta must be positive");
    }
  }
  if (c.rope_scaling) {
    const Llama3Scaling& s = *c.rope_scaling;
    const auto positive = [](float v) { return std::isfinite(v) && v > 0; };
    if (!positive(s.factor)) return fail("config: rope_scaling.factor must be positive");
    if (!positive(s.low_freq_factor) || !positive(s.high_freq_factor) ||
        !(s.high_freq_factor > s.low_freq_factor)) {
      return fail(
          "config: rope_scaling.high_freq_factor must be above rope_scaling.low_freq_factor, both "
          "positive (the blend between the bands divides by their difference)");
    }
    if (s.original_max_pos == 0) {
      return fail("config: rope_scaling.original_max_position_embeddings must be positive");
    }
  }
  if (c.sliding_window != 0 && c.arch != Arch::mistral) {
    return fail("config: a sliding_window is Mistral's only");
  }
  return Unit{};
}

namespace {

// How parse_config_json treats each key of a config.json, family by family.
// Every key it meets must be in the table: an unknown key is refused, since
// it may change the arithmetic (docs/decisions.md, "Model configs").
enum class Treat : std::uint8_t {
  required,     // a shape field read into ModelConfig; missing (or null) is an error naming it
  defaulted,    // read into ModelConfig; missing takes `dflt`, the family's published default
  derived,      // read into ModelConfig; missing or null is derived from other fields, as
                // transformers derives it (after the keys are read)
  checked,      // runs only with a value in `accept`; missing means the family's default,
                // which is always one of them; anything else is refused naming the key
  rope,         // rope_theta, rope_scaling, rope_parameters (rotary families): read_rope
  window,       // Mistral's sliding_window: a positive integer, null (none) or missing
                // (MistralConfig's 4096); caps the context (max_context)
  layer_types,  // Qwen2's per-layer attention kinds: null, or "full_attention" for every layer
  ignored,      // cannot change the logits: metadata, training and generation settings
};

// Families, as bits of KeyRule::families.
constexpr unsigned kGpt2 = 1, kLlama = 2, kQwen2 = 4, kMistral = 8;
constexpr unsigned kRotary = kLlama | kQwen2 | kMistral, kAll = kGpt2 | kRotary;

unsigned family_bit(Arch a) {
  switch (a) {
    case Arch::gpt2:
      return kGpt2;
    case Arch::llama:
      return kLlama;
    case Arch::qwen2:
      return kQwen2;
    case Arch::mistral:
      return kMistral;
  }
  return 0;
}

using Target = std::variant<std::monostate, std::uint32_t ModelConfig::*, float ModelConfig::*,
                            bool ModelConfig::*>;

struct KeyRule {
  std::string_view key;
  unsigned families = 0;
  Treat treat = Treat::ignored;
  Target target;                       // required, defaulted, derived
  double dflt = 0;                     // defaulted
  std::string_view accept;             // checked: accepted JSON values, '|'-separated
  std::string_view why;                // checked: why nothing else runs
  std::string_view moot_unless_false;  // checked: any value runs while this key is false
};

KeyRule ignored(std::string_view key, unsigned families = kAll) {
  KeyRule r;
  r.key = key;
  r.families = families;
  return r;
}
KeyRule required(std::string_view key, unsigned families, Target target) {
  KeyRule r = ignored(key, families);
  r.treat = Treat::required;
  r.target = target;
  return r;
}
KeyRule defaulted(std::string_view key, unsigned families, Target target, double dflt) {
  KeyRule r = required(key, families, target);
  r.treat = Treat::defaulted;
  r.dflt = dflt;
  return r;
}
KeyRule derived(std::string_view key, unsigned families, Target target) {
  KeyRule r = required(key, families, target);
  r.treat = Treat::derived;
  return r;
}
KeyRule checked(std::string_view key, unsigned families, std::string_view accept,
                std::string_view why, std::string_view moot_unless_false = {}) {
  KeyRule r = ignored(key, families);
  r.treat = Treat::checked;
  r.accept = accept;
  r.why = why;
  r.moot_unless_false = moot_unless_false;
  return r;
}
KeyRule rope(std::string_view key) {
  KeyRule r = ignored(key, kRotary);
  r.treat = Treat::rope;
  return r;
}
KeyRule special(std::string_view key, unsigned families, Treat treat) {
  KeyRule r = ignored(key, families);
  r.treat = treat;
  return r;
}

using C = ModelConfig;

// GPT2Config, LlamaConfig, Qwen2Config and MistralConfig as transformers 4
// and 5 write them (and as the hub publishes them). The defaults are the
// families' published ones, written down in docs/decisions.md. A key with
// rules for several families takes the first rule of its family.
const KeyRule kRules[] = {
    // The shape.
    required("vocab_size", kAll, &C::vocab),
    required("n_embd", kGpt2, &C::dim),
    required("n_layer", kGpt2, &C::layers),
    required("n_head", kGpt2, &C::heads),
    defaulted("n_positions", kGpt2, &C::max_pos, 1024),
    derived("n_inner", kGpt2, &C::mlp),  // 4 * n_embd
    defaulted("layer_norm_epsilon", kGpt2, &C::norm_eps, 1e-5),
    required("hidden_size", kRotary, &C::dim),
    required("num_hidden_layers", kRotary, &C::layers),
    required("num_attention_heads", kRotary, &C::heads),
    required("intermediate_size", kRotary, &C::mlp),
    derived("num_key_value_heads", kLlama, &C::kv_heads),  // num_attention_heads
    // Qwen2Config and MistralConfig default it to their 7B shapes' 32 and 8
    // heads, not to num_attention_heads: a shape field, required.
    required("num_key_value_heads", kQwen2 | kMistral, &C::kv_heads),
    derived("head_dim", kRotary, &C::head_dim),  // hidden_size / num_attention_heads
    defaulted("max_position_embeddings", kLlama, &C::max_pos, 2048),
    defaulted("max_position_embeddings", kQwen2, &C::max_pos, 32768),
    defaulted("max_position_embeddings", kMistral, &C::max_pos, 131072),  // 4096 * 32
    defaulted("rms_norm_eps", kRotary, &C::norm_eps, 1e-6),
    defaulted("tie_word_embeddings", kRotary, &C::tied_embeddings, 0),
    rope("rope_theta"),
    rope("rope_scaling"),
    rope("rope_parameters"),
    special("sliding_window", kMistral, Treat::window),
    special("layer_types", kQwen2, Treat::layer_types),

    // What the device runs one way only.
    checked("activation_function", kGpt2, R"("gelu_new"|"gelu_pytorch_tanh"|"gelu_fast")",
            "the device's GELU op is the tanh form"),
    checked("tie_word_embeddings", kGpt2, "true", "GPT-2's lm head is its embedding table"),
    checked("scale_attn_weights", kGpt2, "true", "attention scores are scaled by 1/sqrt(head_dim)"),
    checked("scale_attn_by_inverse_layer_idx", kGpt2, "false", "attention has no per-layer scale"),
    checked("hidden_act", kRotary, R"("silu")", "the gated MLP runs SILU"),
    checked("attention_bias", kLlama, "false", "Llama's q/k/v/o projections have no bias"),
    checked("mlp_bias", kLlama, "false", "Llama's MLP projections have no bias"),
    checked("use_sliding_window", kLlama | kQwen2, "false",
            "attention runs over the whole sequence (no sliding_window)"),
    checked("sliding_window", kLlama, "null",
            "attention runs over the whole sequence (unless use_sliding_window is false)",
            "use_sliding_window"),
    checked("use_mrope", kQwen2, "false",
            "positions are one number per token (no multimodal RoPE)"),
    checked("attn_logit_softcapping", kLlama, "null", "attention scores are not soft-capped"),
    checked("final_logit_softcapping", kLlama, "null", "logits are not soft-capped"),
    checked("partial_rotary_factor", kLlama, "null|1", "ROPE rotates the whole head"),
    checked("qk_layernorm", kLlama, "false", "q and k are not normalised"),
    checked("is_encoder_decoder", kAll, "false", "decoder-only models run"),
    checked("add_cross_attention", kAll, "false", "there is no cross-attention"),
    checked("pruned_heads", kAll, "null|{}", "every head of every layer is present"),

    // No effect on the logits. Dropout is off in inference; pretraining_tp
    // slices the same products; reorder_and_upcast_attn computes attention in
    // f32, as the device does; the dtype is each tensor's own (safetensors).
    ignored("attn_pdrop", kGpt2),
    ignored("embd_pdrop", kGpt2),
    ignored("resid_pdrop", kGpt2),
    ignored("n_ctx", kGpt2),  // old name of n_positions, not read by transformers
    ignored("reorder_and_upcast_attn", kGpt2),
    ignored("summary_type", kGpt2),  // summary_*: GPT2DoubleHeadsModel's classifier
    ignored("summary_use_proj", kGpt2),
    ignored("summary_activation", kGpt2),
    ignored("summary_proj_to_labels", kGpt2),
    ignored("summary_first_dropout", kGpt2),
    ignored("attention_dropout", kRotary),
    ignored("pretraining_tp", kLlama),
    // Qwen2's window settings act only with use_sliding_window true, which
    // is refused above: with it false transformers drops the window.
    ignored("sliding_window", kQwen2),
    ignored("max_window_layers", kQwen2),
    ignored("model_type"),  // read first (arch_of)
    ignored("architectures"),
    ignored("torch_dtype"),  // transformers 4
    ignored("dtype"),        // transformers 5
    ignored("use_bfloat16"),
    ignored("transformers_version"),
    ignored("_name_or_path"),
    ignored("_commit_hash"),
    ignored("attn_implementation"),  // the attention kernel: the same function
    ignored("_attn_implementation"),
    ignored("_attn_implementation_autoset"),
    ignored("initializer_range"),
    ignored("use_cache"),
    ignored("bos_token_id"),
    ignored("eos_token_id"),
    ignored("pad_token_id"),
    ignored("sep_token_id"),
    ignored("decoder_start_token_id"),
    ignored("is_decoder"),
    ignored("tie_encoder_decoder"),
    ignored("cross_attention_hidden_size"),  // used only with add_cross_attention
    ignored("chunk_size_feed_forward"),
    ignored("return_dict"),
    ignored("output_hidden_states"),
    ignored("output_attentions"),
    ignored("torchscript"),
    ignored("tf_legacy_loss"),
    ignored("finetuning_task"),
    ignored("id2label"),
    ignored("label2id"),
    ignored("num_labels"),
    ignored("problem_type"),
    ignored("tokenizer_class"),
    ignored("prefix"),
    ignored("task_specific_params"),
    // Generation settings of transformers 4's configs: how tokens are picked
    // from the logits is the caller's choice.
    ignored("max_length"),
    ignored("min_length"),
    ignored("do_sample"),
    ignored("early_stopping"),
    ignored("num_beams"),
    ignored("num_beam_groups"),
    ignored("diversity_penalty"),
    ignored("temperature"),
    ignored("top_k"),
    ignored("top_p"),
    ignored("typical_p"),
    ignored("repetition_penalty"),
    ignored("length_penalty"),
    ignored("no_repeat_ngram_size"),
    ignored("encoder_no_repeat_ngram_size"),
    ignored("bad_words_ids"),
    ignored("num_return_sequences"),
    ignored("output_scores"),
    ignored("return_dict_in_generate"),
    ignored("forced_bos_token_id"),
    ignored("forced_eos_token_id"),
    ignored("remove_invalid_values"),
    ignored("exponential_decay_length_penalty"),
    ignored("suppress_tokens"),
    ignored("begin_suppress_tokens"),
};

// The RoPE base when no layout gives one: LlamaConfig's, Qwen2Config's and
// MistralConfig's rope_theta default (transformers 4), default_theta (5).
constexpr double kRopeTheta = 10000.0;

// Keys of a RoPE object (transformers 5's rope_parameters, transformers 4's
// rope_scaling) that only a frequency-scaling rope_type uses.
constexpr std::array<std::string_view, 11> kRopeScalingKeys{
    "factor",           "low_freq_factor", "high_freq_factor", "original_max_position_embeddings",
    "attention_factor", "beta_fast",       "beta_slow",        "short_factor",
    "long_factor",      "mscale",          "mscale_all_dim"};
// The ones rope_type "llama3" uses, every one required (none is defaulted:
// each changes the frequencies).
constexpr std::array<std::string_view, 4> kLlama3Keys{
    "factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"};

const KeyRule* rule_for(std::string_view key, unsigned family) {
  for (const auto& r : kRules) {
    if (r.key == key && (r.families & family) != 0) return &r;
  }
  return nullptr;
}

// A value (or key) from the file, quoted in an error message: short and printable.
std::string printable(std::string_view s) {
  std::string out;
  for (const char ch : s.substr(0, 48)) {
    const auto u = static_cast<unsigned char>(ch);
    out += u >= 0x20 && u < 0x7f ? ch : '?';
  }
  if (s.size() > 48) out += "...";
  return out;
}

std::string show(const JsonValue& v) {
  switch (v.kind) {
    case JsonValue::Kind::null:
      return "null";
    case JsonValue::Kind::boolean:
      return v.boolean ? "true" : "false";
    case JsonValue::Kind::number: {
      std::ostringstream s;
      s << v.number;
      return s.str();
    }
    case JsonValue::Kind::string:
      return "\"" + printable(v.string) + "\"";
    case JsonValue::Kind::array:
      return "[...]";
    case JsonValue::Kind::object:
      return v.object.empty() ? "{}" : "{...}";
  }
  return "?";
}

// One alternative of a rule's `accept`: null, true, false, {}, "string" or a number.
bool matches(const JsonValue& v, std::string_view alt) {
  if (alt == "null") return v.kind == JsonValue::Kind::null;
  if (alt == "true" || alt == "false") {
    return v.kind == JsonValue::Kind::boolean && v.boolean == (alt == "true");
  }
  if (alt == "{}") return v.kind == JsonValue::Kind::object && v.object.empty();
  if (alt.size() >= 2 && alt.front() == '"') {
    return v.kind == JsonValue::Kind::string && v.string == alt.substr(1, alt.size() - 2);
  }
  return v.kind == JsonValue::Kind::number && v.number == std::stod(std::string(alt));
}

bool accepted(const JsonValue& v, std::string_view accept) {
  while (!accept.empty()) {
    const auto bar = accept.find('|');
    if (matches(v, accept.substr(0, bar))) return true;
    accept = bar == std::string_view::npos ? std::string_view{} : accept.substr(bar + 1);
  }
  return false;
}

Check read_number(const JsonValue& v, const std::string& name, double& out) {
  if (v.kind != JsonValue::Kind::number) return fail("config: " + name + " is not a number");
  if (!(std::fabs(v.number) <= double{FLT_MAX})) {
    return fail("config: " + name + " is out of range");
  }
  out = v.number;
  return Unit{};
}

// Reads a required/defaulted/derived value into its ModelConfig member.
Check read_target(const KeyRule& r, const JsonValue& v, ModelConfig& c) {
  const std::string name(r.key);
  if (const auto* u = std::get_if<std::uint32_t ModelConfig::*>(&r.target)) {
    if (v.kind != JsonValue::Kind::number || !v.is_uint || v.uint > UINT32_MAX) {
      return fail("config: " + name + " is not a 32-bit unsigned integer");
    }
    c.** u = static_cast<std::uint32_t>(v.uint);
  } else if (const auto* f = std::get_if<float ModelConfig::*>(&r.target)) {
    double d = 0;
    if (auto ok = read_number(v, name, d); !ok) return ok;
    c.** f = static_cast<float>(d);
  } else if (const auto* b = std::get_if<bool ModelConfig::*>(&r.target)) {
    if (v.kind != JsonValue::Kind::boolean) return fail("config: " + name + " is not a boolean");
    c.** b = v.boolean;
  }
  return Unit{};
}

using Bases = std::vector<std::pair<std::string, double>>;  // field, RoPE base

// What one RoPE object says about frequency scaling: none (rope_type
// "default") or Llama 3's.
struct RopeKind {
  std::string field;  // the object's name, for messages
  std::optional<Llama3Scaling> llama3;
};

// Llama 3's four fields of RoPE object `f`, each required and in range.
Check read_llama3(const std::string& f, const JsonValue& obj, Llama3Scaling& s) {
  for (const auto key : kLlama3Keys) {
    const JsonValue* v = obj.find(key);
    const std::string name = f + "." + std::string(key);
    if (v == nullptr || v->kind == JsonValue::Kind::null) {
      return fail("config: " + name +
                  " is missing: rope_type \"llama3\" needs factor, low_freq_factor, "
                  "high_freq_factor and original_max_position_embeddings");
    }
    if (key == "original_max_position_embeddings") {
      if (v->kind != JsonValue::Kind::number || !v->is_uint || v->uint == 0 ||
          v->uint > UINT32_MAX) {
        return fail("config: " + name + " = " + show(*v) + " is not a positive 32-bit integer");
      }
      s.original_max_pos = static_cast<std::uint32_t>(v->uint);
      continue;
    }
    double d = 0;
    if (auto ok = read_number(*v, name, d); !ok) return ok;
    if (!(d > 0)) return fail("config: " + name + " = " + show(*v) + " must be positive");
    const auto value = static_cast<float>(d);
    if (key == "factor") {
      s.factor = value;
    } else if (key == "low_freq_factor") {
      s.low_freq_factor = value;
    } else {
      s.high_freq_factor = value;
    }
  }
  if (!(s.high_freq_factor > s.low_freq_factor)) {
    return fail("config: " + f + ".high_freq_factor " + show(*obj.find("high_freq_factor")) +
                " must be above " + f + ".low_freq_factor " + show(*obj.find("low_freq_factor")) +
                ": the blend between the two bands divides by their difference");
  }
  return Unit{};
}

// One RoPE object, `f` (transformers 5's rope_parameters or transformers 4's
// rope_scaling): plain rotary frequencies or Llama 3's scaling of them (the
// only rope types the device runs); its rope_theta, if any, joins `bases`.
Result<RopeKind> read_rope_object(const std::string& f, const JsonValue& obj, Bases& bases) {
  if (obj.kind != JsonValue::Kind::object) return fail("config: " + f + " is not an object");
  // The type: rope_type, or transformers 4's older "type"; transformers 5
  // defaults a missing one to "default", transformers 4 needs one.
  const JsonValue* type = obj.find("rope_type");
  const JsonValue* old_type = obj.find("type");
  if (type != nullptr && old_type != nullptr &&
      (old_type->kind != type->kind || old_type->string != type->string)) {
    return fail("config: " + f + ".rope_type " + show(*type) + " and " + f + ".type " +
                show(*old_type) + " disagree");
  }
  const std::string type_name =
      f + (type == nullptr && old_type != nullptr ? ".type" : ".rope_type");
  if (type == nullptr) type = old_type;
  if (type == nullptr && f == "rope_scaling") {
    return fail("config: rope_scaling " + show(obj) + " has no rope_type");
  }
  const bool is_string = type != nullptr && type->kind == JsonValue::Kind::string;
  const bool llama3 = is_string && type->string == "llama3";
  if (type != nullptr && !llama3 && !(is_string && type->string == "default")) {
    return fail("config: " + type_name + " " + show(*type) +
                " is not supported: the device's ROPE ops run plain frequencies (rope_type "
                "\"default\") and Llama 3's scaling of them (\"llama3\") only");
  }
  RopeKind kind{f, std::nullopt};
  if (llama3) {
    Llama3Scaling s;
    if (auto ok = read_llama3(f, obj, s); !ok) return ok.error();
    kind.llama3 = s;
  }
  for (const auto& m : obj.object) {
    if (m.key == "rope_type" || m.key == "type") continue;
    std::string name = f;
    name += '.';
    name += printable(m.key);
    if (m.key == "rope_theta") {
      double d = 0;
      if (auto ok = read_number(m.value, name, d); !ok) return ok.error();
      bases.emplace_back(name, d);
    } else if (m.key == "partial_rotary_factor") {
      if (!accepted(m.value, "null|1")) {
        return fail("config: " + name + " = " + show(m.value) +
                    " is not supported (runs only: 1): ROPE rotates the whole head");
      }
    } else if (llama3 &&
               std::find(kLlama3Keys.begin(), kLlama3Keys.end(), m.key) != kLlama3Keys.end()) {
      continue;  // read above
    } else if (std::find(kRopeScalingKeys.begin(), kRopeScalingKeys.end(), m.key) !=
               kRopeScalingKeys.end()) {
      if (m.value.kind == JsonValue::Kind::null) continue;  // not given
      return fail("config: " + name + " is a frequency-scaling field, which rope_type " +
                  (llama3 ? "\"llama3\"" : "\"default\"") + " does not use: refused");
    } else {
      return fail("config: unknown key " + name + ": refused, as it may change the arithmetic");
    }
  }
  return kind;
}

// The RoPE keys of a config.json (null when absent).
struct RopeFields {
  const JsonValue* theta = nullptr;       // top-level rope_theta (transformers 4)
  const JsonValue* scaling = nullptr;     // rope_scaling (transformers 4)
  const JsonValue* parameters = nullptr;  // rope_parameters (transformers 5)
};

// The RoPE base and scaling from transformers 4's top-level rope_theta and
// rope_scaling and transformers 5's rope_parameters. Plain rotary
// frequencies (rope_type "default") and Llama 3's scaling run; every base
// given must agree, and so must the two objects' types and scaling fields
// when both are given; no base is the families' default.
Check read_rope(const RopeFields& f, ModelConfig& c) {
  Bases bases;
  if (f.theta != nullptr && f.theta->kind != JsonValue::Kind::null) {
    double d = 0;
    if (auto ok = read_number(*f.theta, "rope_theta", d); !ok) return ok;
    bases.emplace_back("rope_theta", d);
  }
  std::vector<RopeKind> kinds;
  for (const auto& [name, obj] :
       {std::pair<std::string, const JsonValue*>{"rope_scaling", f.scaling},
        {"rope_parameters", f.parameters}}) {
    if (obj == nullptr || obj->kind == JsonValue::Kind::null) continue;
    auto k = read_rope_object(name, *obj, bases);
    if (!k) return k.error();
    kinds.push_back(std::move(*k));
  }
  if (kinds.size() == 2 && kinds[0].llama3 != kinds[1].llama3) {
    return fail(
        "config: rope_scaling and rope_parameters disagree on the frequency scaling (its "
        "rope_type or a llama3 field)");
  }
  c.rope_theta = static_cast<float>(kRopeTheta);
  for (const auto& [name, value] : bases) {
    if (value != bases.front().second) {
      std::ostringstream s;
      s << "config: " << bases.front().first << " " << bases.front().second << " and " << name
        << " " << value << " disagree";
      return fail(s.str());
    }
    c.rope_theta = static_cast<float>(value);
  }
  c.rope_scaling = kinds.empty() ? std::nullopt : kinds.front().llama3;
  return Unit{};
}

// Qwen2's layer_types (transformers 5 writes it): every layer full attention.
Check read_layer_types(const JsonValue& v, std::uint32_t layers) {
  if (v.kind == JsonValue::Kind::null) return Unit{};
  if (v.kind != JsonValue::Kind::array) return fail("config: layer_types is not an array");
  for (std::size_t i = 0; i < v.array.size(); ++i) {
    const JsonValue& e = v.array[i];
    if (e.kind != JsonValue::Kind::string || e.string != "full_attention") {
      return fail("config: layer_types[" + std::to_string(i) + "] = " + show(e) +
                  " is not supported (runs only: \"full_attention\"): attention runs over the "
                  "whole sequence");
    }
  }
  if (v.array.size() != layers) {
    return fail("config: layer_types has " + std::to_string(v.array.size()) + " entries for " +
                std::to_string(layers) + " layers (num_hidden_layers)");
  }
  return Unit{};
}

// Mistral's sliding_window: null is none, a number the window.
Check read_window(const JsonValue& v, std::uint32_t& window) {
  if (v.kind == JsonValue::Kind::null) {
    window = 0;
    return Unit{};
  }
  if (v.kind != JsonValue::Kind::number || !v.is_uint || v.uint == 0 || v.uint > UINT32_MAX) {
    return fail("config: sliding_window = " + show(v) +
                " is not a positive 32-bit integer or null");
  }
  window = static_cast<std::uint32_t>(v.uint);
  return Unit{};
}

Result<Arch> arch_of(const JsonValue& j) {
  if (const JsonValue* t = j.find("model_type"); t != nullptr) {
    if (t->kind != JsonValue::Kind::string) return fail("config: model_type is not a string");
    for (const Arch a : {Arch::gpt2, Arch::llama, Arch::qwen2, Arch::mistral}) {
      if (t->string == arch_name(a)) return a;
    }
    return fail("config: unsupported model_type \"" + printable(t->string) +
                "\" (gpt2, llama, qwen2 and mistral are)");
  }
  if (const JsonValue* a = j.find("architectures");
      a != nullptr && a->kind == JsonValue::Kind::array) {
    for (const auto& e : a->array) {
      if (e.kind != JsonValue::Kind::string) continue;
      if (e.string == "GPT2LMHeadModel" || e.string == "GPT2Model") return Arch::gpt2;
      if (e.string == "LlamaForCausalLM" || e.string == "LlamaModel") return Arch::llama;
      if (e.string == "Qwen2ForCausalLM" || e.string == "Qwen2Model") return Arch::qwen2;
      if (e.string == "MistralForCausalLM" || e.string == "MistralModel") return Arch::mistral;
    }
  }
  return fail("config: no model_type (gpt2, llama, qwen2 or mistral) and no known architecture");
}

}  // namespace

Result<ModelConfig> parse_config_json(std::string_view json) {
  auto j = parse_json(json);
  if (!j) return fail("config: " + j.why());
  if (j->kind != JsonValue::Kind::object) return fail("config: not a JSON object");
  auto arch = arch_of(*j);
  if (!arch) return arch.error();
  const unsigned family = family_bit(*arch);
  const std::string fname(arch_name(*arch));

  ModelConfig c;
  c.arch = *arch;
  c.tied_embeddings = *arch == Arch::gpt2;  // checked for GPT-2, defaulted for the others
  // MistralConfig's default window; a null sliding_window is none.
  if (*arch == Arch::mistral) c.sliding_window = 4096;
  for (const auto& r : kRules) {
    if ((r.families & family) == 0 || r.treat != Treat::defaulted) continue;
    // Defaults are small exact numbers: 1024, 2048, 1e-5, 1e-6, 0.
    std::visit(
        [&](auto m) {
          if constexpr (std::is_same_v<decltype(m), std::uint32_t ModelConfig::*>) {
            c.*m = static_cast<std::uint32_t>(r.dflt);
          } else if constexpr (std::is_same_v<decltype(m), float ModelConfig::*>) {
            c.*m = static_cast<float>(r.dflt);
          } else if constexpr (std::is_same_v<decltype(m), bool ModelConfig::*>) {
            c.*m = r.dflt != 0;
          }
        },
        r.target);
  }

  std::vector<const KeyRule*> given;  // rules whose key has a non-null value
  RopeFields rope;
  const JsonValue* layer_types = nullptr;
  for (const auto& m : j->object) {
    const KeyRule* r = rule_for(m.key, family);
    if (r == nullptr) {
      return fail("config: unknown key \"" + printable(m.key) + "\" for " + fname +
                  ": refused, as it may change the arithmetic");
    }
    const std::string name(r->key);
    const bool null = m.value.kind == JsonValue::Kind::null;
    switch (r->treat) {
      case Treat::required:
      case Treat::defaulted:
      case Treat::derived:
        if (null) {
          if (r->treat == Treat::required) return fail("config: " + name + " is missing (null)");
          if (r->treat == Treat::defaulted) return fail("config: " + name + " is null");
          break;
        }
        if (auto ok = read_target(*r, m.value, c); !ok) return ok.error();
        given.push_back(r);
        break;
      case Treat::checked:
        if (!accepted(m.value, r->accept)) {
          if (!r->moot_unless_false.empty()) {
            const JsonValue* gate = j->find(r->moot_unless_false);
            if (gate != nullptr && gate->kind == JsonValue::Kind::boolean && !gate->boolean) break;
          }
          return fail("config: " + name + " = " + show(m.value) + " is not supported (runs only: " +
                      std::string(r->accept) + "): " + std::string(r->why));
        }
        break;
      case Treat::rope:
        if (r->key == "rope_theta") {
          rope.theta = &m.value;
        } else if (r->key == "rope_scaling") {
          rope.scaling = &m.value;
        } else {
          rope.parameters = &m.value;
        }
        break;
      case Treat::window:
        if (auto ok = read_window(m.value, c.sliding_window); !ok) return ok.error();
        break;
      case Treat::layer_types:
        layer_types = &m.value;
        break;
      case Treat::ignored:
        break;
    }
  }
  const auto has = [&](std::string_view key) {
    return std::any_of(given.begin(), given.end(), [&](const KeyRule* r) { return r->key == key; });
  };
  for (const auto& r : kRules) {
    if ((r.families & family) != 0 && r.treat == Treat::required && !has(r.key)) {
      return fail("config: " + std::string(r.key) + " is missing");
    }
  }

  // Derived fields, as transformers derives them.
  if (c.arch == Arch::gpt2) {
    if (c.heads == 0 || c.dim % c.heads != 0) {
      return fail("config: n_embd not a multiple of n_head");
    }
    c.kv_heads = c.heads;
    c.head_dim = c.dim / c.heads;
    if (!has("n_inner")) {  // null or missing: 4 * n_embd
      if (std::uint64_t{c.dim} * 4 > UINT32_MAX) return fail("config: 4 * n_embd out of range");
      c.mlp = 4 * c.dim;
    }
  } else {
    if (!has("num_key_value_heads")) c.kv_heads = c.heads;
    if (!has("head_dim")) {
      if (c.heads == 0 || c.dim % c.heads != 0) {
        return fail("config: hidden_size not a multiple of num_attention_heads (give head_dim)");
      }
      c.head_dim = c.dim / c.heads;
    }
    if (auto ok = read_rope(rope, c); !ok) {
      return ok.error();
    }
    if (layer_types != nullptr) {
      if (auto ok = read_layer_types(*layer_types, c.layers); !ok) return ok.error();
    }
  }
  if (auto v = validate(c); !v) return v.error();
  return c;
}

Result<ModelConfig> load_config_json(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return fail("config: cannot open " + path);
  std::ostringstream s;
  s << f.rdbuf();
  if (s.str().size() > (16u << 20)) return fail("config: " + path + " is too large");
  return parse_config_json(s.str());
}

std::string config_json_of(const ModelConfig& c) {
  // %.9g: nine significant digits read back as the same float.
  const auto real = [](float v) {
    std::ostringstream s;
    s.precision(9);
    s << v;
    return s.str();
  };
  const auto num = [](std::uint32_t v) { return std::to_string(v); };
  std::string j = "{\n";
  const auto field = [&j](std::string_view key, const std::string& value, bool last = false) {
    j += "  \"";
    j += key;
    j += "\": ";
    j += value;
    j += last ? "\n" : ",\n";
  };
  if (c.arch == Arch::gpt2) {
    field("model_type", "\"gpt2\"");
    field("vocab_size", num(c.vocab));
    field("n_embd", num(c.dim));
    field("n_layer", num(c.layers));
    field("n_head", num(c.heads));
    field("n_inner", num(c.mlp));
    field("n_positions", num(c.max_pos));
    field("layer_norm_epsilon", real(c.norm_eps), true);
  } else {
    field("model_type", "\"" + std::string(arch_name(c.arch)) + "\"");
    field("vocab_size", num(c.vocab));
    field("hidden_size", num(c.dim));
    field("num_hidden_layers", num(c.layers));
    field("num_attention_heads", num(c.heads));
    field("num_key_value_heads", num(c.kv_heads));
    field("head_dim", num(c.head_dim));
    field("intermediate_size", num(c.mlp));
    field("max_position_embeddings", num(c.max_pos));
    field("rms_norm_eps", real(c.norm_eps));
    field("rope_theta", real(c.rope_theta));
    if (c.rope_scaling) {
      const Llama3Scaling& s = *c.rope_scaling;
      field("rope_scaling",
            "{\"rope_type\": \"llama3\", \"factor\": " + real(s.factor) +
                ", \"low_freq_factor\": " + real(s.low_freq_factor) +
                ", \"high_freq_factor\": " + real(s.high_freq_factor) +
                ", \"original_max_position_embeddings\": " + num(s.original_max_pos) + "}");
    }
    if (c.arch == Arch::mistral) {
      field("sliding_window", c.sliding_window != 0 ? num(c.sliding_window) : "null");
    }
    field("tie_word_embeddings", c.tied_embeddings ? "true" : "false", true);
  }
  return j + "}\n";
}

namespace {

constexpr std::array<std::string_view, 9> kPresets{
    "gpt2-small",      "llama-1b",           "llama-8b",   "tiny-gpt2",   "tiny-llama",
    "tiny-llama-tied", "tiny-llama3-scaled", "tiny-qwen2", "tiny-mistral"};

}  // namespace

std::span<const std::string_view> preset_names() {
  return kPresets;
}

Result<ModelConfig> preset(std::string_view name) {
  ModelConfig c;
  if (name == "gpt2-small") {
    c = {Arch::gpt2, 50257, 768, 12, 12, 12, 64, 3072, 1024, 1e-5f, 10000.0f, true};
  } else if (name == "llama-1b") {
    c = {Arch::llama, 128256, 2048, 16, 32, 8, 64, 8192, 131072, 1e-5f, 500000.0f, true};
  } else if (name == "llama-8b") {
    c = {Arch::llama, 128256, 4096, 32, 32, 8, 128, 14336, 131072, 1e-5f, 500000.0f, false};
  } else if (name == "tiny-gpt2") {
    c = {Arch::gpt2, 64, 32, 2, 4, 4, 8, 128, 64, 1e-5f, 10000.0f, true};
  } else if (name == "tiny-llama") {
    c = {Arch::llama, 64, 32, 2, 4, 2, 8, 96, 64, 1e-5f, 10000.0f, false};
  } else if (name == "tiny-llama-tied") {
    // heads * head_dim != dim, as Llama allows.
    c = {Arch::llama, 80, 32, 2, 4, 2, 16, 64, 64, 1e-5f, 500000.0f, true};
  } else if (name == "tiny-llama3-scaled") {
    // Wavelengths 2pi*10000^(i/8) of 8 pairs: two below 256/8 kept, two
    // between blended, four above 256 scaled, so a short sequence sees it.
    c = {Arch::llama, 64, 32, 2, 4, 2, 16, 96, 1024, 1e-5f, 10000.0f, false};
    c.rope_scaling = Llama3Scaling{32.0f, 1.0f, 8.0f, 256};
  } else if (name == "tiny-qwen2") {
    c = {Arch::qwen2, 72, 32, 2, 4, 2, 8, 64, 64, 1e-6f, 1000000.0f, true};
  } else if (name == "tiny-mistral") {
    // heads * head_dim != dim, as Mistral's head_dim allows.
    c = {Arch::mistral, 64, 32, 2, 4, 2, 12, 96, 64, 1e-5f, 10000.0f, false};
    c.sliding_window = 16;
  } else {
    std::string known;
    for (const auto p : kPresets) known += (known.empty() ? "" : ", ") + std::string(p);
    return fail("unknown preset \"" + std::string(name) + "\" (known: " + known + ")");
  }
  return c;
}

}  // namespace hix::model
