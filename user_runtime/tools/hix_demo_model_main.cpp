// hix-demo-model: writes the demo's checkpoint directory in Hugging Face's
// layout — config.json (a small Llama whose vocabulary is the tokenizer's),
// model.safetensors with seeded random weights, generation_config.json —
// and copies the tokenizer's files into it unmodified. The weights are
// random: the model runs every real operation, but its text means nothing.
//
//   hix-demo-model --tokenizer-dir DIR --out DIR [--seed S]
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "model_config.hpp"
#include "safetensors.hpp"
#include "tokenizer.hpp"
#include "weight_source.hpp"

namespace {

namespace fs = std::filesystem;

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

bool write_file(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  return static_cast<bool>(out);
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
  // The tokenizer's own reader gives the vocabulary and the bos/eos ids.
  auto tok = hix::tok::Tokenizer::from_directory(tok_dir);
  if (!tok) return fail(tok_dir + ": " + tok.error().message);
  const std::uint64_t vocab = tok->vocab_size();
  const auto bos = tok->bos_id();
  const auto eos = tok->eos_id();
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
