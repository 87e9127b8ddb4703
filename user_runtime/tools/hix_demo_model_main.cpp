// hix-demo-model: writes the demo's checkpoint directory in Hugging Face's
// layout — config.json (a small Llama whose vocabulary is the tokenizer's),
// model.safetensors with seeded random weights, generation_config.json —
// and copies the tokenizer's files into it unmodified. The weights are
// random: the model runs every real operation, but its text means nothing.
//
//   hix-demo-model --tokenizer-dir DIR --out DIR [--seed S]
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "json.hpp"
#include "model_config.hpp"
#include "safetensors.hpp"
#include "weight_source.hpp"

namespace {

namespace fs = std::filesystem;
using hix::model::JsonValue;

constexpr int kExitUsage = 2;
// The demo's shape: the tokenizer's whole vocabulary, and every tensor small
// enough for one 4 MiB staging extent (a DMA'd tensor must lie in one; hix.ko
// promises 4 MiB of contiguity): 128256 x 16 bf16 embeddings are 4.1 MB.
constexpr unsigned kHidden = 16;
constexpr unsigned kLayers = 2;
constexpr unsigned kHeads = 2;
constexpr unsigned kKvHeads = 1;
constexpr unsigned kIntermediate = 64;
constexpr unsigned kMaxPositions = 2048;

int fail(const std::string& m) {
  std::fprintf(stderr, "hix-demo-model: %s\n", m.c_str());
  return 1;
}

bool read_file(const fs::path& p, std::string& out) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

bool write_file(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  return static_cast<bool>(out);
}

// The id of a special token named in tokenizer_config.json ("bos_token" as a
// string or {"content": ...}), looked up in tokenizer.json's added tokens.
std::optional<std::uint64_t> special_id(const JsonValue& tok, const JsonValue& cfg,
                                        const char* key) {
  const JsonValue* v = cfg.find(key);
  if (v == nullptr) return std::nullopt;
  std::string name;
  if (v->kind == JsonValue::Kind::string) {
    name = v->string;
  } else if (const JsonValue* c = v->find("content");
             c != nullptr && c->kind == JsonValue::Kind::string) {
    name = c->string;
  } else {
    return std::nullopt;
  }
  const JsonValue* added = tok.find("added_tokens");
  if (added == nullptr || added->kind != JsonValue::Kind::array) return std::nullopt;
  for (const JsonValue& a : added->array) {
    const JsonValue* content = a.find("content");
    const JsonValue* id = a.find("id");
    if (content != nullptr && id != nullptr && id->is_uint && content->string == name) {
      return id->uint;
    }
  }
  return std::nullopt;
}

// The vocabulary size: every id of the model's vocab and the added tokens.
std::uint64_t vocab_size(const JsonValue& tok) {
  std::uint64_t n = 0;
  if (const JsonValue* m = tok.find("model"); m != nullptr) {
    if (const JsonValue* v = m->find("vocab"); v != nullptr) {
      for (const auto& member : v->object) {
        if (member.value.is_uint) n = std::max(n, member.value.uint + 1);
      }
    }
  }
  if (const JsonValue* added = tok.find("added_tokens"); added != nullptr) {
    for (const JsonValue& a : added->array) {
      if (const JsonValue* id = a.find("id"); id != nullptr && id->is_uint) {
        n = std::max(n, id->uint + 1);
      }
    }
  }
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  std::string tok_dir;
  std::string out_dir;
  std::uint64_t seed = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--tokenizer-dir" && i + 1 < argc) {
      tok_dir = argv[++i];
    } else if (a == "--out" && i + 1 < argc) {
      out_dir = argv[++i];
    } else if (a == "--seed" && i + 1 < argc) {
      seed = std::strtoull(argv[++i], nullptr, 10);
    } else {
      std::fprintf(stderr, "usage: hix-demo-model --tokenizer-dir DIR --out DIR [--seed S]\n");
      return kExitUsage;
    }
  }
  if (tok_dir.empty() || out_dir.empty()) {
    std::fprintf(stderr, "usage: hix-demo-model --tokenizer-dir DIR --out DIR [--seed S]\n");
    return kExitUsage;
  }
  std::string tok_text;
  std::string cfg_text;
  if (!read_file(fs::path(tok_dir) / "tokenizer.json", tok_text)) {
    return fail(tok_dir + "/tokenizer.json: cannot read");
  }
  if (!read_file(fs::path(tok_dir) / "tokenizer_config.json", cfg_text)) {
    return fail(tok_dir + "/tokenizer_config.json: cannot read");
  }
  auto tok = hix::model::parse_json(tok_text);
  if (!tok) return fail("tokenizer.json: " + tok.why());
  auto tcfg = hix::model::parse_json(cfg_text);
  if (!tcfg) return fail("tokenizer_config.json: " + tcfg.why());
  const std::uint64_t vocab = vocab_size(*tok);
  const auto bos = special_id(*tok, *tcfg, "bos_token");
  const auto eos = special_id(*tok, *tcfg, "eos_token");
  if (vocab == 0 || !bos || !eos) {
    return fail("the tokenizer has no vocabulary or no bos/eos token");
  }

  // config.json with the fields transformers' LlamaConfig writes.
  std::ostringstream c;
  c << "{\n  \"architectures\": [\"LlamaForCausalLM\"],\n  \"attention_bias\": false,\n"
    << "  \"attention_dropout\": 0.0,\n  \"bos_token_id\": " << *bos << ",\n"
    << "  \"eos_token_id\": " << *eos << ",\n  \"head_dim\": " << kHidden / kHeads << ",\n"
    << "  \"hidden_act\": \"silu\",\n  \"hidden_size\": " << kHidden << ",\n"
    << "  \"initializer_range\": 0.02,\n  \"intermediate_size\": " << kIntermediate << ",\n"
    << "  \"max_position_embeddings\": " << kMaxPositions << ",\n  \"mlp_bias\": false,\n"
    << "  \"model_type\": \"llama\",\n  \"num_attention_heads\": " << kHeads << ",\n"
    << "  \"num_hidden_layers\": " << kLayers << ",\n  \"num_key_value_heads\": " << kKvHeads
    << ",\n  \"pretraining_tp\": 1,\n  \"rms_norm_eps\": 1e-05,\n  \"rope_scaling\": null,\n"
    << "  \"rope_theta\": 500000.0,\n  \"tie_word_embeddings\": false,\n"
    << "  \"torch_dtype\": \"bfloat16\",\n  \"transformers_version\": \"4.46.0\",\n"
    << "  \"use_cache\": true,\n  \"vocab_size\": " << vocab << "\n}\n";
  auto config = hix::model::parse_config_json(c.str());
  if (!config) return fail("config.json: " + config.why());

  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) return fail(out_dir + ": " + ec.message());
  const fs::path out(out_dir);
  if (!write_file(out / "config.json", c.str())) return fail("cannot write config.json");
  std::ostringstream g;
  g << "{\n  \"bos_token_id\": " << *bos << ",\n  \"eos_token_id\": " << *eos
    << ",\n  \"do_sample\": false,\n  \"transformers_version\": \"4.46.0\"\n}\n";
  if (!write_file(out / "generation_config.json", g.str())) {
    return fail("cannot write generation_config.json");
  }
  // The tokenizer's files as they came.
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"}) {
    fs::copy_file(fs::path(tok_dir) / f, out / f, fs::copy_options::overwrite_existing, ec);
    if (ec) return fail(std::string(f) + ": " + ec.message());
  }
  hix::model::SeededOptions so;
  so.seed = seed;
  const hix::model::SeededSource source(*config, so);
  if (auto w = hix::model::write_safetensors((out / "model.safetensors").string(), source,
                                             {{"format", "pt"}});
      !w) {
    return fail("model.safetensors: " + w.why());
  }
  std::printf("demo model: llama, vocab %llu, hidden %u, %u layers, seed %llu, random weights\n",
              static_cast<unsigned long long>(vocab), kHidden, kLayers,
              static_cast<unsigned long long>(seed));
  return 0;
}
