// Model shapes: validation, Hugging Face config.json and named presets.
#include "model_config.hpp"

#include <array>
#include <cmath>
#include <fstream>
#include <sstream>

#include "json.hpp"

namespace hix::model {

std::string_view arch_name(Arch a) {
  return a == Arch::gpt2 ? "gpt2" : "llama";
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
  } else {
    if (c.head_dim % 2 != 0) return fail("config: rotary embeddings need an even head_dim");
    if (!std::isfinite(c.rope_theta) || c.rope_theta <= 0) {
      return fail("config: rope_theta must be positive");
    }
  }
  return Unit{};
}

namespace {

// Reads an optional member: absent (or null when allowed) keeps `out`.
class Fields {
 public:
  explicit Fields(const JsonValue& o) : o_(o) {}

  bool u32(std::string_view key, std::uint32_t& out, bool required) {
    const JsonValue* v = o_.find(key);
    if (v == nullptr || v->kind == JsonValue::Kind::null) {
      if (required) return bad(std::string(key) + " is missing");
      return true;
    }
    if (v->kind != JsonValue::Kind::number || !v->is_uint || v->uint > UINT32_MAX) {
      return bad(std::string(key) + " is not a 32-bit unsigned integer");
    }
    out = static_cast<std::uint32_t>(v->uint);
    return true;
  }
  bool f32(std::string_view key, float& out) {
    const JsonValue* v = o_.find(key);
    if (v == nullptr || v->kind == JsonValue::Kind::null) return true;
    if (v->kind != JsonValue::Kind::number) return bad(std::string(key) + " is not a number");
    out = static_cast<float>(v->number);
    return true;
  }
  bool boolean(std::string_view key, bool& out) {
    const JsonValue* v = o_.find(key);
    if (v == nullptr || v->kind == JsonValue::Kind::null) return true;
    if (v->kind != JsonValue::Kind::boolean) return bad(std::string(key) + " is not a boolean");
    out = v->boolean;
    return true;
  }
  const std::string& why() const { return why_; }

 private:
  bool bad(std::string why) {
    if (why_.empty()) why_ = "config: " + std::move(why);
    return false;
  }
  const JsonValue& o_;
  std::string why_;
};

Result<Arch> arch_of(const JsonValue& j) {
  if (const JsonValue* t = j.find("model_type"); t != nullptr) {
    if (t->kind != JsonValue::Kind::string) return fail("config: model_type is not a string");
    if (t->string == "gpt2") return Arch::gpt2;
    if (t->string == "llama") return Arch::llama;
    return fail("config: unsupported model_type \"" + t->string + "\" (gpt2 and llama are)");
  }
  if (const JsonValue* a = j.find("architectures");
      a != nullptr && a->kind == JsonValue::Kind::array) {
    for (const auto& e : a->array) {
      if (e.kind != JsonValue::Kind::string) continue;
      if (e.string == "GPT2LMHeadModel" || e.string == "GPT2Model") return Arch::gpt2;
      if (e.string == "LlamaForCausalLM" || e.string == "LlamaModel") return Arch::llama;
    }
  }
  return fail("config: no model_type (gpt2 or llama) and no known architecture");
}

}  // namespace

Result<ModelConfig> parse_config_json(std::string_view json) {
  auto j = parse_json(json);
  if (!j) return fail("config: " + j.why());
  if (j->kind != JsonValue::Kind::object) return fail("config: not a JSON object");
  auto arch = arch_of(*j);
  if (!arch) return arch.error();
  ModelConfig c;
  c.arch = *arch;
  Fields f(*j);
  if (c.arch == Arch::gpt2) {
    c.max_pos = 1024;
    bool ok = f.u32("vocab_size", c.vocab, true) && f.u32("n_embd", c.dim, true) &&
              f.u32("n_layer", c.layers, true) && f.u32("n_head", c.heads, true) &&
              f.u32("n_positions", c.max_pos, false) && f.f32("layer_norm_epsilon", c.norm_eps);
    std::uint32_t inner = 0;
    ok = ok && f.u32("n_inner", inner, false);
    if (!ok) return fail(f.why());
    if (c.heads == 0 || c.dim % c.heads != 0)
      return fail("config: n_embd not a multiple of n_head");
    c.kv_heads = c.heads;
    c.head_dim = c.dim / c.heads;
    c.mlp = inner != 0 ? inner : 4 * c.dim;  // n_inner null means 4 * n_embd
    c.tied_embeddings = true;
  } else {
    if (const JsonValue* rs = j->find("rope_scaling");
        rs != nullptr && rs->kind != JsonValue::Kind::null) {
      return fail(
          "config: rope_scaling is not supported (only null): the device ROPE op has "
          "plain rotary frequencies");
    }
    c.norm_eps = 1e-6f;
    c.max_pos = 2048;
    c.tied_embeddings = false;
    c.kv_heads = 0;
    c.head_dim = 0;
    const bool ok =
        f.u32("vocab_size", c.vocab, true) && f.u32("hidden_size", c.dim, true) &&
        f.u32("num_hidden_layers", c.layers, true) && f.u32("num_attention_heads", c.heads, true) &&
        f.u32("num_key_value_heads", c.kv_heads, false) && f.u32("head_dim", c.head_dim, false) &&
        f.u32("intermediate_size", c.mlp, true) &&
        f.u32("max_position_embeddings", c.max_pos, false) && f.f32("rms_norm_eps", c.norm_eps) &&
        f.f32("rope_theta", c.rope_theta) && f.boolean("tie_word_embeddings", c.tied_embeddings);
    if (!ok) return fail(f.why());
    if (c.kv_heads == 0) c.kv_heads = c.heads;
    if (c.head_dim == 0) {
      if (c.heads == 0 || c.dim % c.heads != 0) {
        return fail("config: hidden_size not a multiple of num_attention_heads (give head_dim)");
      }
      c.head_dim = c.dim / c.heads;
    }
    if (const JsonValue* hs = j->find("hidden_act");
        hs != nullptr && (hs->kind != JsonValue::Kind::string || hs->string != "silu")) {
      return fail("config: hidden_act must be \"silu\"");
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

namespace {

constexpr std::array<std::string_view, 6> kPresets{"gpt2-small", "llama-1b",   "llama-8b",
                                                   "tiny-gpt2",  "tiny-llama", "tiny-llama-tied"};

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
  } else {
    std::string known;
    for (const auto p : kPresets) known += (known.empty() ? "" : ", ") + std::string(p);
    return fail("unknown preset \"" + std::string(name) + "\" (known: " + known + ")");
  }
  return c;
}

}  // namespace hix::model
