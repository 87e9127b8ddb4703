// Writes fuzz seeds: small valid safetensors images (seeded tiny models and
// hand-made headers) and config.json examples for GPT-2, Llama (plain and
// Llama 3 scaled RoPE), Qwen2 and Mistral.
#include <cstdio>
#include <fstream>
#include <string>

#include "model_config.hpp"
#include "safetensors.hpp"
#include "weight_source.hpp"

using namespace hix::model;

namespace {

bool put(const std::string& path, const void* p, std::size_t n) {
  std::ofstream f(path, std::ios::binary);
  f.write(static_cast<const char*>(p), static_cast<std::streamsize>(n));
  return static_cast<bool>(f);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: make_model_seeds SAFETENSORS_DIR CONFIG_DIR\n");
    return 2;
  }
  const std::string st = argv[1], cj = argv[2];
  int n = 0;
  // Tiny seeded checkpoints, truncated to their headers plus a little data
  // so the fuzzer spends its time in the header.
  for (const char* name : {"tiny-gpt2", "tiny-llama", "tiny-qwen2"}) {
    auto cfg = preset(name);
    if (!cfg) return 1;
    cfg->layers = 1;
    cfg->vocab = 4;
    cfg->dim = 4;
    cfg->heads = cfg->kv_heads = 1;
    cfg->head_dim = 4;
    cfg->mlp = 4;
    cfg->max_pos = 2;
    SeededSource src(*cfg, SeededOptions{});
    std::vector<TensorData> ts;
    for (const auto& t : src.names()) {
      auto v = src.get(t);
      if (!v) return 1;
      ts.push_back({t, v->dtype(), v->shape(), {v->bytes().begin(), v->bytes().end()}});
    }
    auto img = serialize_safetensors(ts, {{"format", "pt"}});
    if (!img || !put(st + "/seed" + std::to_string(n++), img->data(), img->size())) return 1;
  }
  std::vector<TensorData> small{{"a", DType::f32, {1}, std::vector<std::byte>(4)},
                                {"b\\\"\u00e9", DType::f16, {2, 0}, {}}};
  auto img = serialize_safetensors(small);
  if (!img || !put(st + "/seed" + std::to_string(n++), img->data(), img->size())) return 1;

  const std::string configs[] = {
      R"({"model_type":"gpt2","n_embd":768,"n_layer":12,"n_head":12,"n_positions":1024,)"
      R"("vocab_size":50257,"layer_norm_epsilon":1e-05,"n_inner":null})",
      R"({"architectures":["LlamaForCausalLM"],"hidden_size":2048,"num_hidden_layers":16,)"
      R"("num_attention_heads":32,"num_key_value_heads":8,"head_dim":64,)"
      R"("intermediate_size":8192,"vocab_size":128256,"rms_norm_eps":1e-05,)"
      R"("rope_theta":500000.0,"tie_word_embeddings":true,"max_position_embeddings":131072,)"
      R"("rope_scaling":null,"hidden_act":"silu"})",
      R"({"model_type":"llama","hidden_size":64,"num_hidden_layers":2,"num_attention_heads":4,)"
      R"("intermediate_size":128,"vocab_size":100,"rope_scaling":{"rope_type":"llama3"}})",
      // Llama 3.2 1B's RoPE, in transformers 4's and 5's layouts.
      R"({"model_type":"llama","hidden_size":64,"num_hidden_layers":2,"num_attention_heads":4,)"
      R"("intermediate_size":128,"vocab_size":100,"rope_theta":500000.0,"rope_scaling":)"
      R"({"factor":32.0,"high_freq_factor":4.0,"low_freq_factor":1.0,)"
      R"("original_max_position_embeddings":8192,"rope_type":"llama3"}})",
      R"({"model_type":"llama","hidden_size":64,"num_hidden_layers":2,"num_attention_heads":4,)"
      R"("intermediate_size":128,"vocab_size":100,"rope_parameters":{"rope_theta":500000.0,)"
      R"("type":"llama3","factor":8,"low_freq_factor":1,"high_freq_factor":4,)"
      R"("original_max_position_embeddings":8192}})",
      // Qwen2.5 0.5B as published, and as transformers 5 writes a Qwen2.
      R"({"architectures":["Qwen2ForCausalLM"],"attention_dropout":0.0,"hidden_act":"silu",)"
      R"("hidden_size":896,"intermediate_size":4864,"max_position_embeddings":32768,)"
      R"("max_window_layers":24,"model_type":"qwen2","num_attention_heads":14,)"
      R"("num_hidden_layers":24,"num_key_value_heads":2,"rms_norm_eps":1e-06,)"
      R"("rope_theta":1000000.0,"sliding_window":32768,"tie_word_embeddings":true,)"
      R"("use_mrope":false,"use_sliding_window":false,"vocab_size":151936})",
      R"({"model_type":"qwen2","hidden_size":64,"num_hidden_layers":2,"num_attention_heads":4,)"
      R"("num_key_value_heads":2,"intermediate_size":128,"vocab_size":100,)"
      R"("layer_types":["full_attention","full_attention"],"sliding_window":null,)"
      R"("use_sliding_window":false,"max_window_layers":28,)"
      R"("rope_parameters":{"rope_theta":1000000.0,"rope_type":"default"}})",
      // Mistral 7B v0.1 (a window) and v0.3 (none).
      R"({"architectures":["MistralForCausalLM"],"hidden_size":4096,"intermediate_size":14336,)"
      R"("max_position_embeddings":32768,"model_type":"mistral","num_attention_heads":32,)"
      R"("num_hidden_layers":32,"num_key_value_heads":8,"rms_norm_eps":1e-05,)"
      R"("rope_theta":10000.0,"sliding_window":4096,"tie_word_embeddings":false,)"
      R"("vocab_size":32000})",
      R"({"model_type":"mistral","hidden_size":64,"num_hidden_layers":2,"num_attention_heads":4,)"
      R"("num_key_value_heads":2,"head_dim":32,"intermediate_size":128,"vocab_size":100,)"
      R"("sliding_window":null,"rope_theta":1000000.0})",
  };
  int k = 0;
  for (const auto& c : configs) {
    if (!put(cj + "/seed" + std::to_string(k++), c.data(), c.size())) return 1;
  }
  return 0;
}
