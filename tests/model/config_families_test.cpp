// config.json of the families users bring (issue 14): the published configs
// of Llama 3.2 1B (rope_scaling of type llama3), Qwen2.5 0.5B and Mistral 7B
// v0.1 (tests/model/data/configs) parse with their shapes; Llama 3's scaling
// is read from either transformers layout with every field required; Qwen2's
// and Mistral's own keys and defaults; and every refusal names its field.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "hix/abi/vgpu_chunk.h"
#include "model.hpp"

namespace hix::model {
namespace {

Result<ModelConfig> load(const std::string& name) {
  return load_config_json(std::string(HIX_MODEL_CONFIG_DATA) + "/" + name);
}

// `json` is refused with a message containing every one of `names`.
void expect_refused(const std::string& json, const std::vector<std::string>& names) {
  const auto c = parse_config_json(json);
  ASSERT_FALSE(c.ok()) << json;
  for (const auto& n : names) {
    EXPECT_NE(c.why().find(n), std::string::npos) << json << "\n  says: " << c.why();
  }
}

// The smallest config of each family, `extra` ("key": value text) added.
std::string llama(const std::string& extra = "") {
  return R"({"model_type": "llama", "vocab_size": 128, "hidden_size": 64,
             "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 96)" +
         (extra.empty() ? "" : ", " + extra) + "}";
}
std::string qwen2(const std::string& extra = "") {
  return R"({"model_type": "qwen2", "vocab_size": 128, "hidden_size": 64,
             "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
             "intermediate_size": 96)" +
         (extra.empty() ? "" : ", " + extra) + "}";
}
std::string mistral(const std::string& extra = "") {
  return R"({"model_type": "mistral", "vocab_size": 128, "hidden_size": 64,
             "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
             "intermediate_size": 96)" +
         (extra.empty() ? "" : ", " + extra) + "}";
}

constexpr const char* kLlama3Scaling =
    R"("rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
       "high_freq_factor": 4.0, "original_max_position_embeddings": 8192)";

// ---- the published configs -------------------------------------------------

TEST(PublishedConfig, Llama32OneBParsesWithItsLlama3RopeScaling) {
  const auto c = load("llama-3.2-1b.json");
  ASSERT_TRUE(c.ok()) << c.why();
  EXPECT_EQ(c->arch, Arch::llama);
  EXPECT_EQ(c->dim, 2048u);
  EXPECT_EQ(c->layers, 16u);
  EXPECT_EQ(c->heads, 32u);
  EXPECT_EQ(c->kv_heads, 8u);
  EXPECT_EQ(c->head_dim, 64u);
  EXPECT_EQ(c->max_pos, 131072u);
  EXPECT_EQ(c->rope_theta, 500000.0f);
  EXPECT_TRUE(c->tied_embeddings);
  ASSERT_TRUE(c->rope_scaling.has_value());
  EXPECT_EQ(*c->rope_scaling, (Llama3Scaling{32.0f, 1.0f, 4.0f, 8192}));
  EXPECT_EQ(c->sliding_window, 0u);
  EXPECT_EQ(max_context(*c), 131072u);
}

TEST(PublishedConfig, Qwen25HalfBParsesWithBiasesTiedEmbeddingsAndItsRopeBase) {
  const auto c = load("qwen2.5-0.5b.json");
  ASSERT_TRUE(c.ok()) << c.why();
  EXPECT_EQ(c->arch, Arch::qwen2);
  EXPECT_TRUE(qkv_bias(*c));
  EXPECT_EQ(c->vocab, 151936u);
  EXPECT_EQ(c->dim, 896u);
  EXPECT_EQ(c->layers, 24u);
  EXPECT_EQ(c->heads, 14u);
  EXPECT_EQ(c->kv_heads, 2u);
  EXPECT_EQ(c->head_dim, 64u);
  EXPECT_EQ(c->mlp, 4864u);
  EXPECT_EQ(c->max_pos, 32768u);
  EXPECT_EQ(c->norm_eps, 1e-6f);
  EXPECT_EQ(c->rope_theta, 1000000.0f);
  EXPECT_TRUE(c->tied_embeddings);
  EXPECT_FALSE(c->rope_scaling.has_value());
  // use_sliding_window is false: its sliding_window and max_window_layers are inert.
  EXPECT_EQ(c->sliding_window, 0u);
  EXPECT_EQ(max_context(*c), 32768u);
}

TEST(PublishedConfig, Mistral7BV01ParsesWithItsSlidingWindowCappingTheContext) {
  const auto c = load("mistral-7b-v0.1.json");
  ASSERT_TRUE(c.ok()) << c.why();
  EXPECT_EQ(c->arch, Arch::mistral);
  EXPECT_FALSE(qkv_bias(*c));
  EXPECT_EQ(c->vocab, 32000u);
  EXPECT_EQ(c->dim, 4096u);
  EXPECT_EQ(c->layers, 32u);
  EXPECT_EQ(c->heads, 32u);
  EXPECT_EQ(c->kv_heads, 8u);
  EXPECT_EQ(c->head_dim, 128u);
  EXPECT_EQ(c->mlp, 14336u);
  EXPECT_EQ(c->max_pos, 32768u);
  EXPECT_EQ(c->norm_eps, 1e-5f);
  EXPECT_EQ(c->rope_theta, 10000.0f);
  EXPECT_FALSE(c->tied_embeddings);
  EXPECT_EQ(c->sliding_window, 4096u);
  EXPECT_EQ(max_context(*c), 4096u);
}

// The real shapes fit a context's buffers and one command buffer.
TEST(PublishedConfig, TheFamiliesRealShapesCompileAPlanAndAGeneration) {
  for (const char* name : {"llama-3.2-1b.json", "qwen2.5-0.5b.json", "mistral-7b-v0.1.json"}) {
    const auto c = load(name);
    ASSERT_TRUE(c.ok()) << name << ": " << c.why();
    RuntimeOptions o;
    o.max_seq = 2048;
    auto p = make_plan(*c, o);
    ASSERT_TRUE(p.ok()) << name << ": " << p.why();
    std::vector<std::uint32_t> hs(p->buffers.size(), 1);
    GenerateRequest gr;
    gr.prompt_len = 128;
    gr.n_new = 64;
    gr.tokens_tensor_id = HIX_VGPU_TENSOR_ID_DEVICE | 1;
    gr.eos = 2;
    EXPECT_TRUE(build_generate_program(*p, hs, gr).ok()) << name;
  }
}

// ---- Llama 3's RoPE scaling ------------------------------------------------

TEST(Llama3Rope, ScalingIsReadFromRopeScalingAsTransformers4WritesIt) {
  for (const std::string type : {R"("rope_type")", R"("type")"}) {
    std::string scaling = kLlama3Scaling;
    scaling.replace(scaling.find(R"("rope_type")"), 11, type);
    const auto c =
        parse_config_json(llama(R"("rope_theta": 500000.0, "rope_scaling": {)" + scaling + "}"));
    ASSERT_TRUE(c.ok()) << type << ": " << c.why();
    EXPECT_EQ(c->rope_theta, 500000.0f);
    EXPECT_EQ(c->rope_scaling, (Llama3Scaling{32.0f, 1.0f, 4.0f, 8192}));
  }
}

TEST(Llama3Rope, ScalingIsReadFromRopeParametersAsTransformers5WritesIt) {
  const auto c = parse_config_json(
      llama(R"("rope_parameters": {"rope_theta": 500000.0, )" + std::string(kLlama3Scaling) + "}"));
  ASSERT_TRUE(c.ok()) << c.why();
  EXPECT_EQ(c->rope_theta, 500000.0f);
  EXPECT_EQ(c->rope_scaling, (Llama3Scaling{32.0f, 1.0f, 4.0f, 8192}));
}

TEST(Llama3Rope, BothLayoutsSayingTheSameScalingAreAcceptedAndDisagreeingOnesRefused) {
  const std::string scaling = std::string("{") + kLlama3Scaling + "}";
  EXPECT_TRUE(parse_config_json(
                  llama(R"("rope_scaling": )" + scaling + R"(, "rope_parameters": )" + scaling))
                  .ok());
  expect_refused(
      llama(R"("rope_scaling": )" + scaling + R"(, "rope_parameters": {"rope_type": "default"})"),
      {"rope_scaling", "rope_parameters", "disagree"});
  std::string other = scaling;
  other.replace(other.find("32.0"), 4, "8.0");
  expect_refused(llama(R"("rope_scaling": )" + scaling + R"(, "rope_parameters": )" + other),
                 {"rope_scaling", "rope_parameters", "disagree"});
}

TEST(Llama3Rope, EveryScalingFieldIsRequiredAndNamedWhenMissing) {
  for (const char* key :
       {"factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"}) {
    std::string fields;
    for (const char* other :
         {"factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"}) {
      if (std::string(other) == key) continue;
      fields += std::string(", \"") + other +
                "\": " + (std::string(other) == "high_freq_factor" ? "4" : "1");
    }
    expect_refused(llama(R"("rope_scaling": {"rope_type": "llama3")" + fields + "}"),
                   {std::string("rope_scaling.") + key + " is missing"});
    expect_refused(
        llama(R"("rope_scaling": {"rope_type": "llama3")" + fields + ", \"" + key + "\": null}"),
        {std::string("rope_scaling.") + key + " is missing"});
  }
}

TEST(Llama3Rope, AScalingFieldOutOfRangeIsRefusedNamingIt) {
  const auto with = [](const std::string& key, const std::string& value) {
    std::string s = kLlama3Scaling;
    const auto at = s.find("\"" + key + "\": ") + key.size() + 4;
    s.replace(at, s.find_first_of(",}\n", at) - at, value);
    return llama(R"("rope_scaling": {)" + s + "}");
  };
  expect_refused(with("factor", "0"), {"rope_scaling.factor", "positive"});
  expect_refused(with("factor", "-2"), {"rope_scaling.factor", "positive"});
  expect_refused(with("factor", R"("big")"), {"rope_scaling.factor is not a number"});
  expect_refused(with("low_freq_factor", "0"), {"rope_scaling.low_freq_factor", "positive"});
  expect_refused(with("high_freq_factor", "1.0"),
                 {"rope_scaling.high_freq_factor", "above", "rope_scaling.low_freq_factor"});
  expect_refused(with("original_max_position_embeddings", "0"),
                 {"rope_scaling.original_max_position_embeddings", "positive"});
  expect_refused(with("original_max_position_embeddings", "8192.5"),
                 {"rope_scaling.original_max_position_embeddings"});
}

TEST(Llama3Rope, FieldsOfOtherScalingsBesideLlama3AreRefusedNamingThem) {
  for (const char* key : {"attention_factor", "beta_fast", "mscale"}) {
    expect_refused(
        llama(R"("rope_scaling": {)" + std::string(kLlama3Scaling) + ", \"" + key + "\": 1}"),
        {std::string("rope_scaling.") + key, "\"llama3\" does not use"});
  }
}

TEST(Llama3Rope, ANullFieldOfAnotherScalingIsNotGiven) {
  const auto c = parse_config_json(llama(R"("rope_parameters": {"rope_theta": 500000.0, )" +
                                         std::string(kLlama3Scaling) +
                                         R"(, "attention_factor": null, "beta_fast": null})"));
  ASSERT_TRUE(c.ok()) << c.why();
  EXPECT_TRUE(c->rope_scaling.has_value());
}

TEST(Llama3Rope, ScalingRunsInEveryRotaryFamily) {
  const std::string scaling = R"("rope_scaling": {)" + std::string(kLlama3Scaling) + "}";
  for (const auto& json : {qwen2(scaling), mistral(scaling)}) {
    const auto c = parse_config_json(json);
    ASSERT_TRUE(c.ok()) << json << ": " << c.why();
    EXPECT_TRUE(c->rope_scaling.has_value());
  }
}

// ---- Qwen2 -------------------------------------------------------------------

TEST(Qwen2Config, TheFamilysPublishedDefaultsApply) {
  const auto c = parse_config_json(qwen2());
  ASSERT_TRUE(c.ok()) << c.why();
  EXPECT_EQ(c->arch, Arch::qwen2);
  EXPECT_EQ(c->max_pos, 32768u);
  EXPECT_EQ(c->norm_eps, 1e-6f);
  EXPECT_EQ(c->rope_theta, 10000.0f);
  EXPECT_FALSE(c->tied_embeddings);
  EXPECT_EQ(c->head_dim, 16u);
}

TEST(Qwen2Config, ItsKeyValueHeadsAreRequiredNotTheClassDefault) {
  std::string json = qwen2();
  json.erase(json.find(R"("num_key_value_heads": 2,)"), 25);
  expect_refused(json, {"num_key_value_heads is missing"});
}

TEST(Qwen2Config, AWindowIsInertWhileUseSlidingWindowIsFalseAndRefusedWhenTrue) {
  const auto c = parse_config_json(
      qwen2(R"("use_sliding_window": false, "sliding_window": 32768, "max_window_layers": 21)"));
  ASSERT_TRUE(c.ok()) << c.why();
  EXPECT_EQ(c->sliding_window, 0u);
  expect_refused(qwen2(R"("use_sliding_window": true, "sliding_window": 4096)"),
                 {"use_sliding_window = true", "not supported"});
}

TEST(Qwen2Config, LayerTypesAreAcceptedWhenEveryLayerIsFullAttention) {
  EXPECT_TRUE(
      parse_config_json(qwen2(R"("layer_types": ["full_attention", "full_attention"])")).ok());
  EXPECT_TRUE(parse_config_json(qwen2(R"("layer_types": null)")).ok());
  expect_refused(qwen2(R"("layer_types": ["full_attention", "sliding_attention"])"),
                 {"layer_types[1]", "\"sliding_attention\""});
  expect_refused(qwen2(R"("layer_types": ["full_attention"])"),
                 {"layer_types has 1 entries for 2 layers"});
  expect_refused(qwen2(R"("layer_types": "full_attention")"), {"layer_types is not an array"});
}

TEST(Qwen2Config, MultimodalRopeAndLlamasBiasKeysAreRefusedNamingThem) {
  expect_refused(qwen2(R"("use_mrope": true)"), {"use_mrope = true"});
  EXPECT_TRUE(parse_config_json(qwen2(R"("use_mrope": false)")).ok());
  expect_refused(qwen2(R"("attention_bias": false)"), {"unknown key \"attention_bias\" for qwen2"});
}

TEST(Qwen2Config, TheArchitectureNamesTheFamilyWithoutAModelType) {
  std::string json = qwen2(R"("architectures": ["Qwen2ForCausalLM"])");
  json.erase(json.find(R"("model_type": "qwen2",)"), 22);
  const auto c = parse_config_json(json);
  ASSERT_TRUE(c.ok()) << c.why();
  EXPECT_EQ(c->arch, Arch::qwen2);
}

// ---- Mistral -----------------------------------------------------------------

TEST(MistralConfig, TheWindowIsHonouredAsAContextCapNullIsNoneAndMissingIs4096) {
  const auto given = parse_config_json(mistral(R"("sliding_window": 1024)"));
  ASSERT_TRUE(given.ok()) << given.why();
  EXPECT_EQ(given->sliding_window, 1024u);
  EXPECT_EQ(max_context(*given), 1024u);
  const auto none = parse_config_json(mistral(R"("sliding_window": null)"));
  ASSERT_TRUE(none.ok()) << none.why();
  EXPECT_EQ(none->sliding_window, 0u);
  EXPECT_EQ(max_context(*none), 131072u);  // MistralConfig's 4096 * 32
  const auto missing = parse_config_json(mistral());
  ASSERT_TRUE(missing.ok()) << missing.why();
  EXPECT_EQ(missing->sliding_window, 4096u);
  EXPECT_EQ(missing->norm_eps, 1e-6f);
  EXPECT_FALSE(missing->tied_embeddings);
}

TEST(MistralConfig, ABadWindowIsRefusedNamingIt) {
  expect_refused(mistral(R"("sliding_window": 0)"), {"sliding_window = 0"});
  expect_refused(mistral(R"("sliding_window": "4k")"), {"sliding_window = \"4k\""});
  expect_refused(mistral(R"("sliding_window": 4096.5)"), {"sliding_window"});
}

TEST(MistralConfig, ItsHeadDimIsHonoured) {
  const auto c = parse_config_json(mistral(R"("head_dim": 32)"));
  ASSERT_TRUE(c.ok()) << c.why();
  EXPECT_EQ(c->head_dim, 32u);
  EXPECT_EQ(c->heads * c->head_dim, 128u);
}

TEST(MistralConfig, KeysOfOtherFamiliesAreRefusedNamingThem) {
  expect_refused(mistral(R"("use_sliding_window": false)"),
                 {"unknown key \"use_sliding_window\" for mistral"});
  expect_refused(mistral(R"("layer_types": ["full_attention", "full_attention"])"),
                 {"unknown key \"layer_types\" for mistral"});
  std::string json = mistral();
  json.erase(json.find(R"("num_key_value_heads": 2,)"), 25);
  expect_refused(json, {"num_key_value_heads is missing"});
}

// Llama keeps refusing a window: only Mistral's is honoured.
TEST(MistralConfig, AWindowOutsideMistralIsStillRefused) {
  expect_refused(llama(R"("sliding_window": 4096)"), {"sliding_window = 4096"});
  ModelConfig c = *preset("tiny-llama");
  c.sliding_window = 8;
  EXPECT_FALSE(validate(c).ok());
}

}  // namespace
}  // namespace hix::model
