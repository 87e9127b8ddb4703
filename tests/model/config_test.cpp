// config.json parsing (GPT-2 and Llama as published on the hub), presets,
// and the rejections: rope_scaling, unknown model types, bad shapes.
#include <gtest/gtest.h>

#include "model.hpp"

namespace hix::model {
namespace {

constexpr const char* kGpt2 = R"({
  "activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"],
  "attn_pdrop": 0.1, "bos_token_id": 50256, "eos_token_id": 50256,
  "layer_norm_epsilon": 1e-05, "model_type": "gpt2", "n_ctx": 1024, "n_embd": 768,
  "n_head": 12, "n_inner": null, "n_layer": 12, "n_positions": 1024,
  "task_specific_params": {"text-generation": {"do_sample": true, "max_length": 50}},
  "vocab_size": 50257
})";

constexpr const char* kLlama = R"({
  "architectures": ["LlamaForCausalLM"], "attention_bias": false, "bos_token_id": 128000,
  "eos_token_id": 128001, "head_dim": 64, "hidden_act": "silu", "hidden_size": 2048,
  "initializer_range": 0.02, "intermediate_size": 8192, "max_position_embeddings": 131072,
  "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 16,
  "num_key_value_heads": 8, "rms_norm_eps": 1e-05, "rope_scaling": null,
  "rope_theta": 500000.0, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
  "vocab_size": 128256
})";

TEST(Config, ParsesGpt2) {
  auto c = parse_config_json(kGpt2);
  ASSERT_TRUE(c.ok()) << c.why();
  EXPECT_EQ(c->arch, Arch::gpt2);
  EXPECT_EQ(c->vocab, 50257u);
  EXPECT_EQ(c->dim, 768u);
  EXPECT_EQ(c->layers, 12u);
  EXPECT_EQ(c->heads, 12u);
  EXPECT_EQ(c->kv_heads, 12u);
  EXPECT_EQ(c->head_dim, 64u);
  EXPECT_EQ(c->mlp, 3072u);  // n_inner null
  EXPECT_EQ(c->max_pos, 1024u);
  EXPECT_FLOAT_EQ(c->norm_eps, 1e-5f);
  EXPECT_TRUE(c->tied_embeddings);
  auto p = preset("gpt2-small");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->vocab, c->vocab);
  EXPECT_EQ(p->mlp, c->mlp);
}

TEST(Config, ParsesLlama) {
  auto c = parse_config_json(kLlama);
  ASSERT_TRUE(c.ok()) << c.why();
  EXPECT_EQ(c->arch, Arch::llama);
  EXPECT_EQ(c->dim, 2048u);
  EXPECT_EQ(c->layers, 16u);
  EXPECT_EQ(c->heads, 32u);
  EXPECT_EQ(c->kv_heads, 8u);
  EXPECT_EQ(c->head_dim, 64u);
  EXPECT_EQ(c->mlp, 8192u);
  EXPECT_EQ(c->max_pos, 131072u);
  EXPECT_FLOAT_EQ(c->rope_theta, 500000.0f);
  EXPECT_TRUE(c->tied_embeddings);
  auto p = preset("llama-1b");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->vocab, c->vocab);
  EXPECT_EQ(p->mlp, c->mlp);
  EXPECT_EQ(p->kv_heads, c->kv_heads);
}

TEST(Config, RejectsWhatTheDeviceCannotRun) {
  // Llama 3 scaling with a field left out: none of its fields is defaulted.
  std::string scaled = kLlama;
  scaled.replace(scaled.find("\"rope_scaling\": null"), 20,
                 R"("rope_scaling": {"factor": 32.0, "rope_type": "llama3"})");
  auto r = parse_config_json(scaled);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.why().find("rope_scaling.low_freq_factor is missing"), std::string::npos) << r.why();

  const std::pair<const char*, const char*> bad[] = {
      {R"({"model_type":"gemma"})", "unsupported model_type"},
      {R"({"vocab_size":5})", "no model_type"},
      {R"({"model_type":"gpt2","n_embd":768,"n_layer":12,"n_head":12})", "vocab_size is missing"},
      {R"({"model_type":"gpt2","vocab_size":9,"n_embd":10,"n_layer":1,"n_head":3})", "multiple"},
      {R"({"model_type":"gpt2","vocab_size":-9,"n_embd":12,"n_layer":1,"n_head":3})", "unsigned"},
      {R"({"model_type":"llama","vocab_size":9,"hidden_size":8,"num_hidden_layers":1,)"
       R"("num_attention_heads":4,"num_key_value_heads":3,"intermediate_size":8})",
       "kv_heads"},
      {R"({"model_type":"llama","vocab_size":9,"hidden_size":8,"num_hidden_layers":1,)"
       R"("num_attention_heads":2,"intermediate_size":8,"hidden_act":"gelu"})",
       "silu"},
      {"[]", "not a JSON object"},
  };
  for (const auto& [json, why] : bad) {
    auto c = parse_config_json(json);
    ASSERT_FALSE(c.ok()) << json;
    EXPECT_NE(c.why().find(why), std::string::npos) << json << ": " << c.why();
  }
}

TEST(Config, PresetsAreValid) {
  for (const auto name : preset_names()) {
    auto c = preset(name);
    ASSERT_TRUE(c.ok()) << name;
    EXPECT_TRUE(validate(*c).ok()) << name << ": " << validate(*c).why();
  }
  auto l8 = preset("llama-8b");
  ASSERT_TRUE(l8.ok());
  EXPECT_FALSE(l8->tied_embeddings);
  EXPECT_EQ(l8->head_dim, 128u);
  EXPECT_EQ(l8->mlp, 14336u);
  EXPECT_FALSE(preset("gpt5").ok());
}

}  // namespace
}  // namespace hix::model
