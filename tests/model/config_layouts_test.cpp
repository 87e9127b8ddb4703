// config.json as transformers 4 and 5 write it (issue 16): the RoPE base from
// either layout, the published config of GPT-2 (tests/model/data/configs;
// the families of issue 14 in config_families_test.cpp), a refusal naming the field for everything
// the device cannot run, an error naming every shape field that is missing without a published
// default, and the published defaults for the others.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "model.hpp"

namespace hix::model {
namespace {

Result<ModelConfig> load(const std::string& name) {
  return load_config_json(std::string(HIX_MODEL_CONFIG_DATA) + "/" + name);
}

using Fields = std::vector<std::pair<std::string, std::string>>;  // key, JSON value

const Fields kLlamaShape = {{"model_type", R"("llama")"}, {"vocab_size", "128"},
                            {"hidden_size", "64"},        {"num_hidden_layers", "2"},
                            {"num_attention_heads", "4"}, {"intermediate_size", "96"}};
const Fields kGpt2Shape = {{"model_type", R"("gpt2")"},
                           {"vocab_size", "128"},
                           {"n_embd", "64"},
                           {"n_layer", "2"},
                           {"n_head", "4"}};

// What object() changes in `fields`: `extra` (raw "key": value text)
// appended, the key `without` left out.
struct Edit {
  std::string extra;
  std::string without;
};

// A JSON object of `fields` with `edit` applied.
std::string object(const Fields& fields, const Edit& edit = {}) {
  const std::string& extra = edit.extra;
  const std::string& without = edit.without;
  std::string s = "{";
  for (const auto& [k, v] : fields) {
    if (k == without) continue;
    s += s.size() > 1 ? ", \"" : "\"";
    s += k;
    s += "\": ";
    s += v;
  }
  if (!extra.empty()) s += (s.size() > 1 ? ", " : "") + extra;
  return s + "}";
}
std::string llama(const std::string& extra = "") {
  return object(kLlamaShape, {.extra = extra, .without = ""});
}
std::string gpt2(const std::string& extra = "") {
  return object(kGpt2Shape, {.extra = extra, .without = ""});
}

// `json` is refused with a message containing every one of `names`.
void expect_refused(const std::string& json, const std::vector<std::string>& names) {
  const auto c = parse_config_json(json);
  ASSERT_FALSE(c.ok()) << json;
  for (const auto& n : names) {
    EXPECT_NE(c.why().find(n), std::string::npos) << json << "\n  says: " << c.why();
  }
}

void expect_same(const ModelConfig& a, const ModelConfig& b) {
  EXPECT_EQ(a.arch, b.arch);
  EXPECT_EQ(a.vocab, b.vocab);
  EXPECT_EQ(a.dim, b.dim);
  EXPECT_EQ(a.layers, b.layers);
  EXPECT_EQ(a.heads, b.heads);
  EXPECT_EQ(a.kv_heads, b.kv_heads);
  EXPECT_EQ(a.head_dim, b.head_dim);
  EXPECT_EQ(a.mlp, b.mlp);
  EXPECT_EQ(a.max_pos, b.max_pos);
  EXPECT_EQ(a.norm_eps, b.norm_eps);
  EXPECT_EQ(a.rope_theta, b.rope_theta);
  EXPECT_EQ(a.tied_embeddings, b.tied_embeddings);
}

TEST(PublishedConfig, Gpt2ParsesWithTheShapeOfGpt2Small) {
  const auto c = load("gpt2.json");
  ASSERT_TRUE(c.ok()) << c.why();
  const auto p = preset("gpt2-small");
  ASSERT_TRUE(p.ok());
  expect_same(*c, *p);
  EXPECT_EQ(c->mlp, 3072u);  // n_inner absent: 4 * n_embd
  EXPECT_TRUE(c->tied_embeddings);
}

// Llama 3.2 1B, Qwen2.5 0.5B and Mistral 7B: tests/model/config_families_test.cpp.

TEST(TransformersLayouts, AVersion5LlamaRunsWithTheRopeBaseOfRopeParameters) {
  const auto c = load("llama-1b-rope500k-transformers5.json");
  ASSERT_TRUE(c.ok()) << c.why();
  EXPECT_EQ(c->rope_theta, 500000.0f);
  EXPECT_EQ(c->arch, Arch::llama);
  EXPECT_EQ(c->heads, 32u);
  EXPECT_EQ(c->kv_heads, 8u);
  EXPECT_EQ(c->head_dim, 64u);
  EXPECT_EQ(c->max_pos, 4096u);
  EXPECT_EQ(c->norm_eps, 1e-5f);
  EXPECT_TRUE(c->tied_embeddings);
}

TEST(TransformersLayouts, AVersion4LlamaWithTheSameBaseParsesEqual) {
  const auto t4 = load("llama-1b-rope500k-transformers4.json");
  const auto t5 = load("llama-1b-rope500k-transformers5.json");
  ASSERT_TRUE(t4.ok()) << t4.why();
  ASSERT_TRUE(t5.ok()) << t5.why();
  EXPECT_EQ(t4->rope_theta, 500000.0f);
  expect_same(*t4, *t5);
}

TEST(TransformersLayouts, AVersion5Gpt2Parses) {
  const auto c = load("gpt2-tiny-transformers5.json");
  ASSERT_TRUE(c.ok()) << c.why();
  EXPECT_EQ(c->dim, 64u);
  EXPECT_EQ(c->mlp, 256u);  // n_inner null: 4 * n_embd
  EXPECT_EQ(c->max_pos, 128u);
  EXPECT_TRUE(c->tied_embeddings);
}

TEST(RopeBase, BothLayoutsGivingTheSameBaseAreAccepted) {
  const auto c = parse_config_json(llama(
      R"("rope_theta": 500000, "rope_parameters": {"rope_type": "default", "rope_theta": 5e5})"));
  ASSERT_TRUE(c.ok()) << c.why();
  EXPECT_EQ(c->rope_theta, 500000.0f);
}

TEST(RopeBase, BothLayoutsGivingDifferentBasesAreRefusedNamingBoth) {
  expect_refused(llama(R"("rope_theta": 10000.0, "rope_parameters": {"rope_theta": 500000.0})"),
                 {"rope_theta 10000", "rope_parameters.rope_theta 500000", "disagree"});
}

TEST(RopeBase, WithoutAnyBaseLlamaTakesItsPublishedDefaultOf10000) {
  for (const std::string extra :
       {"", R"("rope_parameters": {"rope_type": "default"})", R"("rope_scaling": null)"}) {
    const auto c = parse_config_json(llama(extra));
    ASSERT_TRUE(c.ok()) << extra << ": " << c.why();
    EXPECT_EQ(c->rope_theta, 10000.0f) << extra;
  }
}

TEST(RopeBase, ARopeScalingThatRestatesPlainRopeIsAccepted) {
  const auto c =
      parse_config_json(llama(R"("rope_scaling": {"rope_type": "default", "rope_theta": 5e5})"));
  ASSERT_TRUE(c.ok()) << c.why();
  EXPECT_EQ(c->rope_theta, 500000.0f);
}

// Llama 3's scaling runs (config_families_test.cpp); every other one is refused.
TEST(RopeBase, FrequencyScalingOtherThanLlama3sIsRefusedNamingTheFieldAndItsValue) {
  const std::pair<const char*, std::vector<std::string>> cases[] = {
      {R"("rope_scaling": {"type": "linear", "factor": 2.0})",
       {"rope_scaling.type", "\"linear\"", "not supported"}},
      {R"("rope_scaling": {"rope_type": "dynamic", "factor": 2.0})",
       {"rope_scaling.rope_type", "\"dynamic\""}},
      {R"("rope_scaling": {"factor": 2.0})", {"rope_scaling", "no rope_type"}},
      {R"("rope_parameters": {"rope_type": "longrope", "short_factor": [1], "long_factor": [1]})",
       {"rope_parameters.rope_type", "\"longrope\""}},
      {R"("rope_parameters": {"rope_type": "yarn", "factor": 4.0})",
       {"rope_parameters.rope_type", "\"yarn\""}},
      {R"("rope_parameters": {"rope_type": 3})", {"rope_parameters.rope_type", "3"}},
      {R"("rope_parameters": {"rope_type": "default", "type": "linear"})",
       {"rope_parameters.rope_type", "rope_parameters.type", "disagree"}},
  };
  for (const auto& [extra, names] : cases) expect_refused(llama(extra), names);
}

TEST(RopeBase, AnUnknownKeyInRopeParametersIsRefusedNamingIt) {
  expect_refused(llama(R"("rope_parameters": {"rope_type": "default", "mrope_section": [1]})"),
                 {"unknown key", "rope_parameters.mrope_section"});
  expect_refused(llama(R"("rope_scaling": {"rope_type": "default", "interleaved": true})"),
                 {"unknown key", "rope_scaling.interleaved"});
}

TEST(RopeBase, ScalingFieldsBesidePlainRopeAreRefusedNamingThem) {
  for (const char* key : {"factor", "low_freq_factor", "high_freq_factor",
                          "original_max_position_embeddings", "attention_factor", "beta_fast"}) {
    const std::string extra =
        std::string(R"("rope_parameters": {"rope_type": "default", ")") + key + R"(": 2})";
    expect_refused(llama(extra), {std::string("rope_parameters.") + key});
  }
}

TEST(RopeBase, RotatingPartOfTheHeadIsRefusedAndTheWholeHeadAccepted) {
  expect_refused(llama(R"("rope_parameters": {"rope_theta": 1e4, "partial_rotary_factor": 0.5})"),
                 {"rope_parameters.partial_rotary_factor", "0.5"});
  expect_refused(llama(R"("partial_rotary_factor": 0.25)"), {"partial_rotary_factor", "0.25"});
  EXPECT_TRUE(parse_config_json(llama(R"("partial_rotary_factor": 1.0)")).ok());
  EXPECT_TRUE(parse_config_json(
                  llama(R"("rope_parameters": {"rope_theta": 1e4, "partial_rotary_factor": 1})"))
                  .ok());
}

TEST(RopeBase, ABadlyTypedRopeFieldIsRefusedNamingIt) {
  expect_refused(llama(R"("rope_theta": "big")"), {"rope_theta is not a number"});
  expect_refused(llama(R"("rope_parameters": {"rope_theta": null})"),
                 {"rope_parameters.rope_theta is not a number"});
  expect_refused(llama(R"("rope_parameters": [])"), {"rope_parameters is not an object"});
  expect_refused(llama(R"("rope_scaling": "llama3")"), {"rope_scaling is not an object"});
  expect_refused(llama(R"("rope_theta": 1e300)"), {"rope_theta is out of range"});
  expect_refused(gpt2(R"("rope_theta": 10000.0)"), {"unknown key \"rope_theta\" for gpt2"});
}

TEST(ConfigRefusal, EveryValueTheDeviceCannotRunIsRefusedNamingTheField) {
  const std::pair<std::string, std::vector<std::string>> cases[] = {
      {llama(R"("attention_bias": true)"), {"attention_bias = true", "bias"}},
      {llama(R"("mlp_bias": true)"), {"mlp_bias = true"}},
      {llama(R"("hidden_act": "gelu")"), {"hidden_act = \"gelu\"", "\"silu\""}},
      {llama(R"("hidden_act": null)"), {"hidden_act = null"}},
      {gpt2(R"("activation_function": "gelu")"), {"activation_function = \"gelu\"", "tanh"}},
      {gpt2(R"("activation_function": "relu")"), {"activation_function = \"relu\""}},
      {gpt2(R"("scale_attn_by_inverse_layer_idx": true)"), {"scale_attn_by_inverse_layer_idx"}},
      {gpt2(R"("scale_attn_weights": false)"), {"scale_attn_weights = false"}},
      {gpt2(R"("tie_word_embeddings": false)"), {"tie_word_embeddings = false"}},
      {llama(R"("use_sliding_window": true, "sliding_window": 4096)"),
       {"use_sliding_window = true", "sliding_window"}},
      {llama(R"("sliding_window": 4096)"), {"sliding_window = 4096"}},
      {llama(R"("sliding_window": 4096, "use_sliding_window": true)"), {"sliding_window = 4096"}},
      {llama(R"("attn_logit_softcapping": 50.0)"), {"attn_logit_softcapping = 50"}},
      {llama(R"("final_logit_softcapping": 30.0)"), {"final_logit_softcapping = 30"}},
      {llama(R"("qk_layernorm": true)"), {"qk_layernorm = true"}},
      {llama(R"("is_encoder_decoder": true)"), {"is_encoder_decoder = true"}},
      {gpt2(R"("add_cross_attention": true)"), {"add_cross_attention = true"}},
      {gpt2(R"("pruned_heads": {"0": [1]})"), {"pruned_heads"}},
      {llama(R"("quantization_config": {"quant_method": "bitsandbytes"})"),
       {"unknown key \"quantization_config\" for llama"}},
      {llama(R"("auto_map": {"AutoModelForCausalLM": "x.Y"})"), {"unknown key \"auto_map\""}},
      {gpt2(R"("head_dim": 16)"), {"unknown key \"head_dim\" for gpt2"}},
  };
  for (const auto& [json, names] : cases) expect_refused(json, names);
}

TEST(ConfigRefusal, FieldsThatCannotChangeTheLogitsAreAccepted) {
  const std::string ok[] = {
      llama(R"("pretraining_tp": 2, "attention_dropout": 0.1, "use_sliding_window": false,
               "sliding_window": 4096, "attn_logit_softcapping": null, "qk_layernorm": false,
               "partial_rotary_factor": 1, "torch_dtype": "bfloat16", "dtype": "bfloat16",
               "temperature": 0.7, "top_p": 0.9, "pruned_heads": {}, "attention_bias": false,
               "mlp_bias": false, "hidden_act": "silu", "_name_or_path": "x", "pad_token_id": null)"),
      gpt2(R"("reorder_and_upcast_attn": true, "activation_function": "gelu_pytorch_tanh",
              "n_ctx": 1024, "summary_type": "cls_index", "resid_pdrop": 0.1,
              "scale_attn_weights": true, "scale_attn_by_inverse_layer_idx": false,
              "add_cross_attention": false, "tie_word_embeddings": true, "dtype": "float32")"),
      gpt2(R"("activation_function": "gelu_fast")"),
  };
  for (const auto& json : ok) {
    const auto c = parse_config_json(json);
    EXPECT_TRUE(c.ok()) << json << "\n  says: " << c.why();
  }
}

TEST(MissingField, EveryShapeFieldWithoutAPublishedDefaultIsNamedWhenMissing) {
  for (const auto* shape : {&kLlamaShape, &kGpt2Shape}) {
    for (const auto& [key, value] : *shape) {
      if (key == "model_type") continue;
      expect_refused(object(*shape, {.extra = "", .without = key}), {key + " is missing"});
      expect_refused(object(*shape, {.extra = "\"" + key + "\": null", .without = key}),
                     {key + " is missing"});
    }
  }
}

TEST(MissingField, TheOthersTakeTheFamilysPublishedDefaults) {
  const auto l = parse_config_json(llama());
  ASSERT_TRUE(l.ok()) << l.why();
  EXPECT_EQ(l->kv_heads, 4u);   // num_attention_heads
  EXPECT_EQ(l->head_dim, 16u);  // hidden_size / num_attention_heads
  EXPECT_EQ(l->max_pos, 2048u);
  EXPECT_EQ(l->norm_eps, 1e-6f);
  EXPECT_EQ(l->rope_theta, 10000.0f);
  EXPECT_FALSE(l->tied_embeddings);

  const auto g = parse_config_json(gpt2());
  ASSERT_TRUE(g.ok()) << g.why();
  EXPECT_EQ(g->mlp, 256u);  // 4 * n_embd
  EXPECT_EQ(g->max_pos, 1024u);
  EXPECT_EQ(g->norm_eps, 1e-5f);
  EXPECT_TRUE(g->tied_embeddings);

  // null where transformers derives the value: the same derivation.
  const auto n = parse_config_json(llama(R"("num_key_value_heads": null, "head_dim": null)"));
  ASSERT_TRUE(n.ok()) << n.why();
  EXPECT_EQ(n->kv_heads, 4u);
  EXPECT_EQ(n->head_dim, 16u);
  const auto gn = parse_config_json(gpt2(R"("n_inner": null)"));
  ASSERT_TRUE(gn.ok()) << gn.why();
  EXPECT_EQ(gn->mlp, 256u);
}

TEST(MissingField, NullWhereTheDefaultIsAConstantIsRefusedNamingTheField) {
  for (const char* key : {"rms_norm_eps", "max_position_embeddings", "tie_word_embeddings"}) {
    expect_refused(llama("\"" + std::string(key) + "\": null"), {std::string(key) + " is null"});
  }
  for (const char* key : {"layer_norm_epsilon", "n_positions"}) {
    expect_refused(gpt2("\"" + std::string(key) + "\": null"), {std::string(key) + " is null"});
  }
}

TEST(MissingField, AGivenValueIsUsedRatherThanTheDefault) {
  const auto l = parse_config_json(
      llama(R"("num_key_value_heads": 2, "head_dim": 32, "max_position_embeddings": 64,
               "rms_norm_eps": 1e-5, "tie_word_embeddings": true)"));
  ASSERT_TRUE(l.ok()) << l.why();
  EXPECT_EQ(l->kv_heads, 2u);
  EXPECT_EQ(l->head_dim, 32u);
  EXPECT_EQ(l->max_pos, 64u);
  EXPECT_EQ(l->norm_eps, 1e-5f);
  EXPECT_TRUE(l->tied_embeddings);
  const auto g = parse_config_json(gpt2(R"("n_inner": 100, "layer_norm_epsilon": 1e-6)"));
  ASSERT_TRUE(g.ok()) << g.why();
  EXPECT_EQ(g->mlp, 100u);
  EXPECT_EQ(g->norm_eps, 1e-6f);
}

TEST(FieldTypes, ABadlyTypedFieldIsRefusedNamingIt) {
  expect_refused(llama(R"("rms_norm_eps": "small")"), {"rms_norm_eps is not a number"});
  expect_refused(llama(R"("rms_norm_eps": 1e300)"), {"rms_norm_eps is out of range"});
  expect_refused(llama(R"("tie_word_embeddings": "yes")"),
                 {"tie_word_embeddings is not a boolean"});
  expect_refused(llama(R"("head_dim": 16.5)"), {"head_dim is not a 32-bit unsigned integer"});
  expect_refused(gpt2(R"("n_inner": -1)"), {"n_inner is not a 32-bit unsigned integer"});
  expect_refused(gpt2(R"("layer_norm_epsilon": true)"), {"layer_norm_epsilon is not a number"});
}

}  // namespace
}  // namespace hix::model
