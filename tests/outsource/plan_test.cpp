// Protection plans (docs/specs/protection-plan.md; issue 15 §2): the
// parser's grammar and bounds, resolution against a model, the sampled
// columns, the exposure report, and a sampled layer computed half on hix-gpu
// (cpu backend, plain mode, through the fake bus) and half inside — the
// device holds none of the protected columns' weights, and the merged
// product equals the whole one.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "fake_bus.hpp"
#include "outsource.hpp"
#include "plan.hpp"

namespace hix::outsource {
namespace {

using vgpu::Status;
using vgpu::test::FakeBus;

// A two-block GPT-2-shaped inventory: d = 8, mlp 32, vocab 16.
ModelInventory tiny_model() {
  ModelInventory m;
  m.activations.push_back({"x0", 8});
  for (int l = 0; l < 2; ++l) {
    const std::string p = "h." + std::to_string(l) + ".";
    for (const char* t : {"ln_1", "ctx", "attn", "ln_2", "mlp"})
      m.activations.push_back({p + t, 8});
    m.activations.push_back({p + "qkv", 24});
    m.activations.push_back({p + "fc", 32});
    m.activations.push_back({p + "gelu", 32});
    m.linears.push_back({p + "attn.c_attn", 8, 24, p + "ln_1", p + "qkv"});
    m.linears.push_back({p + "attn.c_proj", 8, 8, p + "ctx", p + "attn"});
    m.linears.push_back({p + "mlp.c_fc", 8, 32, p + "ln_2", p + "fc"});
    m.linears.push_back({p + "mlp.c_proj", 32, 8, p + "gelu", p + "mlp"});
  }
  m.activations.push_back({"ln_f", 8});
  m.activations.push_back({"logits", 16});
  m.linears.push_back({"lm_head", 8, 16, "ln_f", "logits"});
  m.params_total = 2000;
  return m;
}

ProtectionPlan parsed(const std::string& text) {
  auto p = parse_plan(text);
  EXPECT_TRUE(p) << (p ? "" : p.error().message);
  return p ? *p : ProtectionPlan{};
}

TEST(PlanParser, ReadsTheHeaderLinesAndEveryKindOfRule) {
  const auto p = parsed(
      "# a comment line\n"
      "hix-protection-plan 1   # trailing comment\r\n"
      "\n"
      "name split-mlp_v2.0\n"
      "seed 18446744073709551615\n"
      "default\tsample .25\n"
      "tee h.0.* lm_head\n"
      "sample 0.123456789 h.*.mlp.c_fc\n"
      "blinded h.1.attn.c_attn\n"
      "exposed *\n");
  EXPECT_EQ(p.name, "split-mlp_v2.0");
  ASSERT_TRUE(p.seed);
  EXPECT_EQ(*p.seed, 18446744073709551615ull);
  EXPECT_EQ(p.fallback, Placement::sampled);
  EXPECT_DOUBLE_EQ(p.fallback_fraction, 0.25);
  ASSERT_EQ(p.rules.size(), 4u);
  EXPECT_EQ(p.rules[0].placement, Placement::tee);
  EXPECT_EQ(p.rules[0].patterns, (std::vector<std::string>{"h.0.*", "lm_head"}));
  EXPECT_EQ(p.rules[0].line, 7u);
  EXPECT_EQ(p.rules[1].placement, Placement::sampled);
  EXPECT_DOUBLE_EQ(p.rules[1].fraction, 0.123456789);
  EXPECT_EQ(p.rules[2].placement, Placement::blinded);
  EXPECT_EQ(p.rules[3].placement, Placement::exposed);
}

TEST(PlanParser, AMinimalPlanKeepsEverythingInsideTheTee) {
  const auto p = parsed("hix-protection-plan 1");
  EXPECT_EQ(p.fallback, Placement::tee);
  EXPECT_FALSE(p.seed);
  EXPECT_TRUE(p.rules.empty());
}

struct BadPlan {
  const char* name;
  std::string text;
  std::string expected;  // a piece of the message, line number included
};

class APlanThatBreaksTheGrammar : public ::testing::TestWithParam<BadPlan> {};

TEST_P(APlanThatBreaksTheGrammar, IsRefusedWithItsLineAndReason) {
  const auto p = parse_plan(GetParam().text);
  ASSERT_FALSE(p) << "accepted: " << GetParam().text;
  EXPECT_NE(p.error().message.find(GetParam().expected), std::string::npos) << p.error().message;
}

const std::string kMagic = "hix-protection-plan 1\n";

INSTANTIATE_TEST_SUITE_P(
    Plans, APlanThatBreaksTheGrammar,
    ::testing::Values(
        BadPlan{"Empty", "", "empty"}, BadPlan{"OnlyComments", "# x\n\n", "empty"},
        BadPlan{"NoMagic", "tee *\n", "line 1: expected the first line"},
        BadPlan{"OtherRevision", "hix-protection-plan 2\n", "revision '2' is not supported"},
        BadPlan{"MagicWithExtraWord", "hix-protection-plan 1 x\n", "line 1: expected"},
        BadPlan{"SecondMagic", kMagic + kMagic, "line 2: a second"},
        BadPlan{"UnknownKeyword", kMagic + "protect *\n", "line 2: unknown keyword 'protect'"},
        BadPlan{"RuleWithoutPattern", kMagic + "tee\n", "at least one pattern"},
        BadPlan{"SampleWithoutFraction", kMagic + "sample\n", "needs a fraction"},
        BadPlan{"SampleOfZero", kMagic + "sample 0.0 *\n", "write 0 as exposed"},
        BadPlan{"SampleOfOne", kMagic + "sample 1.0 *\n", "not a fraction"},
        BadPlan{"SampleWithoutPoint", kMagic + "sample 1 *\n", "not a fraction"},
        BadPlan{"SampleWithExponent", kMagic + "sample 5e-1 *\n", "not a fraction"},
        BadPlan{"SampleWithTenDecimals", kMagic + "sample 0.1234567891 *\n", "not a fraction"},
        BadPlan{"SampleNegative", kMagic + "sample -0.5 *\n", "not a fraction"},
        BadPlan{"HeaderAfterRule", kMagic + "tee *\nseed 3\n", "line 3: 'seed' must come before"},
        BadPlan{"TwoNames", kMagic + "name a\nname b\n", "line 3: a second 'name'"},
        BadPlan{"TwoSeeds", kMagic + "seed 1\nseed 2\n", "a second 'seed'"},
        BadPlan{"TwoDefaults", kMagic + "default tee\ndefault exposed\n", "a second 'default'"},
        BadPlan{"DefaultWithPattern", kMagic + "default tee *\n", "one placement"},
        BadPlan{"SeedOverflow", kMagic + "seed 18446744073709551616\n", "below 2^64"},
        BadPlan{"SeedNotANumber", kMagic + "seed 0x10\n", "below 2^64"},
        BadPlan{"NameTooLong", kMagic + "name " + std::string(65, 'a') + "\n", "1-64"},
        BadPlan{"NameWithSlash", kMagic + "name a/b\n", "1-64"},
        BadPlan{"PatternWithSlash", kMagic + "tee h/0\n", "a pattern is"},
        BadPlan{"PatternTooLong", kMagic + "tee " + std::string(257, 'h') + "\n", "a pattern is"},
        BadPlan{"NulByte", kMagic + std::string("tee h\0x\n", 8), "line 2: a NUL byte"},
        BadPlan{"LineTooLong", kMagic + "tee " + std::string(5000, 'h') + "\n", "over the 4096"},
        BadPlan{"FileTooLarge", kMagic + std::string(kPlanMaxBytes, '\n'), "bytes, over"}),
    [](const ::testing::TestParamInfo<BadPlan>& i) { return std::string(i.param.name); });

TEST(PlanParser, TakesAtMost4096Patterns) {
  std::string text = kMagic;
  for (int i = 0; i < 4096; ++i) text += "tee h\n";
  EXPECT_TRUE(parse_plan(text));
  text += "tee h\n";
  const auto p = parse_plan(text);
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("more than 4096"), std::string::npos);
}

struct Match {
  const char* pattern;
  const char* name;
  bool matches;
};

class APattern : public ::testing::TestWithParam<Match> {};

TEST_P(APattern, MatchesExactlyTheNamesItsStarsCover) {
  EXPECT_EQ(pattern_matches(GetParam().pattern, GetParam().name), GetParam().matches)
      << GetParam().pattern << " vs " << GetParam().name;
}

INSTANTIATE_TEST_SUITE_P(
    Globs, APattern,
    ::testing::Values(Match{"lm_head", "lm_head", true}, Match{"lm_head", "lm_head2", false},
                      Match{"*", "h.0.attn.c_attn", true}, Match{"h.*", "h.11.mlp.c_fc", true},
                      Match{"h.1.*", "h.11.mlp.c_fc", false},
                      Match{"h.*.mlp.*", "h.3.mlp.c_proj", true},
                      Match{"h.*.mlp.*", "h.3.attn.c_proj", false},
                      Match{"*c_proj", "h.3.attn.c_proj", true},
                      Match{"*.c_*j", "h.3.attn.c_proj", true}, Match{"h.*.", "h.3.", true},
                      Match{"**a**", "a", true}, Match{"a*b*c", "abbbc", true},
                      Match{"a*b*c", "abcb", false}, Match{"", "", true}, Match{"", "a", false}),
    [](const ::testing::TestParamInfo<Match>& i) { return "Case" + std::to_string(i.index); });

TEST(Resolution, LaterRulesOverrideEarlierOnesAndTheDefaultCoversTheRest) {
  const auto m = tiny_model();
  const auto r = resolve(parsed(kMagic + "seed 9\ndefault exposed\ntee h.*\nblinded h.1.*\n"
                                         "sample 0.5 h.*.mlp.c_fc\n"),
                         m);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->seed, 9u);
  std::vector<Placement> got;
  for (const auto& l : r->layers) got.push_back(l.placement);
  using P = Placement;
  EXPECT_EQ(got, (std::vector<P>{P::tee, P::tee, P::sampled, P::tee, P::blinded, P::blinded,
                                 P::sampled, P::blinded, P::exposed}));
  EXPECT_EQ(r->layers[2].protected_columns.size(), 16u);
  EXPECT_TRUE(r->layers[0].protected_columns.empty());
}

TEST(Resolution, APatternThatMatchesNoLayerIsRefusedNamingItsLine) {
  const auto r = resolve(parsed(kMagic + "tee h.*\nexposed h.7.*\n"), tiny_model());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("line 3: pattern 'h.7.*' matches no linear layer"),
            std::string::npos)
      << r.error().message;
}

TEST(Resolution, WithoutASeedEachResolutionDrawsItsOwn) {
  const auto m = tiny_model();
  const auto plan = parsed(kMagic + "default sample 0.5\n");
  const auto a = resolve(plan, m);
  const auto b = resolve(plan, m);
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->seed, b->seed);
  EXPECT_NE(a->layers[2].protected_columns, b->layers[2].protected_columns);
}

TEST(SampledColumns, AreRoundPTimesNSortedDistinctAndInRange) {
  for (const std::size_t n : {1u, 2u, 7u, 768u, 3072u}) {
    for (const double p : {0.1, 0.25, 0.5, 0.75, 0.9}) {
      const auto cols = sampled_columns(n, p, 42, "h.0.mlp.c_fc");
      EXPECT_EQ(cols.size(), static_cast<std::size_t>(std::floor(p * double(n) + 0.5)));
      EXPECT_TRUE(std::is_sorted(cols.begin(), cols.end()));
      EXPECT_EQ(std::set<std::uint32_t>(cols.begin(), cols.end()).size(), cols.size());
      for (const auto c : cols) EXPECT_LT(c, n);
    }
  }
}

TEST(SampledColumns, DependOnTheSeedAndTheLayerNameOnly) {
  const auto a = sampled_columns(768, 0.5, 1, "h.0.mlp.c_fc");
  EXPECT_EQ(a, sampled_columns(768, 0.5, 1, "h.0.mlp.c_fc"));
  EXPECT_NE(a, sampled_columns(768, 0.5, 2, "h.0.mlp.c_fc"));
  EXPECT_NE(a, sampled_columns(768, 0.5, 1, "h.1.mlp.c_fc"));
}

TEST(SampledColumns, EveryColumnIsChosenAboutPOfTheTime) {
  // 2000 seeds, p = 0.25 of 64 columns: each column's count is binomial
  // (2000, 0.25): mean 500, sd 19.4; six sd either side.
  std::vector<int> count(64);
  for (std::uint64_t seed = 0; seed < 2000; ++seed) {
    for (const auto c : sampled_columns(64, 0.25, seed, "lm_head")) ++count[c];
  }
  for (std::size_t c = 0; c < count.size(); ++c) {
    EXPECT_GT(count[c], 384) << "column " << c;
    EXPECT_LT(count[c], 616) << "column " << c;
  }
}

TEST(Exposure, CountsTheVisibleWeightsAndActivationsOfEachPlacement) {
  const auto m = tiny_model();
  // h.0: c_attn exposed, c_proj blinded, c_fc sampled at 0.25 (8 of 32
  // protected), mlp.c_proj tee; h.1 all tee; lm_head exposed.
  const auto r = resolve(parsed(kMagic + "seed 5\nexposed h.0.attn.c_attn lm_head\n"
                                         "blinded h.0.attn.c_proj\nsample 0.25 h.0.mlp.c_fc\n"),
                         m);
  ASSERT_TRUE(r);
  const auto e = exposure(m, *r);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->linear_params_total, 2 * (8 * 24 + 8 * 8 + 8 * 32 + 32 * 8) + 8 * 16u);
  // 192 (c_attn) + 64 (blinded: its quantized weights) + 8·24 (c_fc) + 128.
  EXPECT_EQ(e->linear_params_visible, 192u + 64 + 8 * 24 + 128);
  EXPECT_EQ(e->params_visible, e->linear_params_visible);
  EXPECT_EQ(e->params_total, 2000u);
  // Per token: h.0.ln_1 (8) and qkv (24) by c_attn; ln_2 (8) and 24 of the
  // 32 fc columns by c_fc; ln_f (8) and logits (16) by lm_head. The
  // blinded layer's input and output are not counted.
  EXPECT_DOUBLE_EQ(e->activations_visible_per_token, 8 + 24 + 8 + 24 + 8 + 16);
  EXPECT_DOUBLE_EQ(e->activations_per_token, 8 + 2 * (5 * 8 + 24 + 32 + 32) + 8 + 16);
  EXPECT_EQ(e->exposed, 2u);
  EXPECT_EQ(e->blinded, 1u);
  EXPECT_EQ(e->sampled, 1u);
  EXPECT_EQ(e->tee, 5u);
  const std::string j = exposure_json(*r, *e);
  EXPECT_NE(j.find("\"seed\": 5"), std::string::npos) << j;
  EXPECT_NE(j.find("\"params_visible\": 576"), std::string::npos) << j;
}

TEST(Exposure, EverythingInsideTheTeeShowsNothingAndEverythingExposedShowsAllLinears) {
  const auto m = tiny_model();
  const auto none = resolve(parsed(kMagic), m);
  const auto all = resolve(parsed(kMagic + "default exposed\n"), m);
  ASSERT_TRUE(none && all);
  const auto e0 = exposure(m, *none);
  const auto e1 = exposure(m, *all);
  ASSERT_TRUE(e0 && e1);
  EXPECT_EQ(e0->params_visible, 0u);
  EXPECT_EQ(e0->activations_visible_per_token, 0.0);
  EXPECT_EQ(e1->linear_params_fraction(), 1.0);
  // Everything a linear layer reads or writes: all but x0, attn's ctx is
  // read by c_proj, so only x0 and nothing else stays hidden.
  EXPECT_DOUBLE_EQ(e1->activations_visible_per_token, e1->activations_per_token - 8);
}

TEST(Exposure, AnInventoryThatNamesAnUnknownActivationIsRefused) {
  auto m = tiny_model();
  m.linears[0].input = "nowhere";
  const auto r = resolve(parsed(kMagic), m);
  ASSERT_TRUE(r);
  EXPECT_FALSE(exposure(m, *r));
}

std::vector<float> column_coded(std::size_t k, std::size_t n) {
  // w[c, j] = 1000·j + c: every weight names its column.
  std::vector<float> w(k * n);
  for (std::size_t c = 0; c < k; ++c) {
    for (std::size_t j = 0; j < n; ++j) w[c * n + j] = static_cast<float>(1000 * j + c);
  }
  return w;
}

std::set<std::uint32_t> columns_named_by(const std::vector<float>& device_weights) {
  std::set<std::uint32_t> cols;
  for (const float v : device_weights) cols.insert(static_cast<std::uint32_t>(v) / 1000);
  return cols;
}

// One sampled layer on the untrusted GPU: its open columns' weights loaded
// in the clear, a product computed there and read back from guest memory.
struct SampledOnDevice {
  std::vector<float> device_weights;  // what VRAM holds, read back by DMA_OUT
  std::vector<float> y;               // the merged product
};

// W [k, n] and its protected columns.
struct SampledWeights {
  std::span<const float> w;
  std::size_t k = 0, n = 0;
  std::span<const std::uint32_t> kept;
};

SampledOnDevice run_sampled(SampledWeights layer, std::span<const float> x, std::size_t rows) {
  const auto [w, k, n, kept] = layer;
  auto split = split_columns(w, k, n, kept);
  EXPECT_TRUE(split);
  const std::size_t no = split->open.size();
  FakeBus bus(16u << 20);
  bus.start_ring();
  const auto ctx = bus.create_context();
  const DeviceBuffers buf{.weights = bus.alloc(ctx, k * no * 4),
                          .input = bus.alloc(ctx, rows * k * 4),
                          .output = bus.alloc(ctx, rows * no * 4)};
  const auto wb = f32_bytes(split->open_weights);
  const std::uint64_t w_gpa = bus.guest_alloc(wb.size());
  bus.guest_write(w_gpa, wb);
  EXPECT_EQ(bus.submit(ctx, gpu_load_weights(buf, {.gpa = w_gpa, .bytes = wb.size()})), Status::ok);
  const auto xb = f32_bytes(x);
  const std::uint64_t in_gpa = bus.guest_alloc(xb.size());
  bus.guest_write(in_gpa, xb);
  const std::uint64_t out_gpa = bus.guest_alloc(rows * no * 4);
  EXPECT_EQ(bus.submit(ctx, gpu_matmul(MatmulShape{rows, k, no}, buf,
                                       {.in = {.gpa = in_gpa, .bytes = xb.size()},
                                        .out = {.gpa = out_gpa, .bytes = rows * no * 4}})),
            Status::ok);
  const auto y_open = FakeBus::decode(bus.guest(out_gpa, rows * no * 4), HIX_VGPU_DT_F32);
  // What VRAM holds for the layer, as the untrusted side could read it.
  const std::uint64_t back = bus.guest_alloc(k * no * 4);
  vgpu::CmdbufBuilder out;
  out.dma(HIX_VGPU_OP_DMA_OUT, vgpu::tref(buf.weights, HIX_VGPU_DT_F32),
          {.gpa = back, .bytes = k * no * 4});
  EXPECT_EQ(bus.submit(ctx, out), Status::ok);
  SampledOnDevice r;
  r.device_weights = FakeBus::decode(bus.guest(back, k * no * 4), HIX_VGPU_DT_F32);
  // The TEE's columns.
  const std::size_t nk = split->kept.size();
  std::vector<float> y_kept(rows * nk, 0.0f);
  for (std::size_t i = 0; i < rows; ++i) {
    for (std::size_t c = 0; c < k; ++c) {
      for (std::size_t j = 0; j < nk; ++j) {
        y_kept[i * nk + j] += x[i * k + c] * split->kept_weights[c * nk + j];
      }
    }
  }
  r.y.assign(rows * n, 0.0f);
  merge_columns(*split, rows, {.open = y_open, .kept = y_kept}, r.y);
  return r;
}

TEST(SampledLayer, TheDeviceHoldsOnlyTheOpenColumnsAndTheMergedProductIsWhole) {
  constexpr std::size_t k = 16, n = 48, rows = 3;
  const auto w = column_coded(k, n);
  std::vector<float> x(rows * k);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 7) - 3.0f;
  const auto kept = sampled_columns(n, 0.5, 11, "layer");
  const auto r = run_sampled({.w = w, .k = k, .n = n, .kept = kept}, x, rows);
  const auto seen = columns_named_by(r.device_weights);
  for (const auto c : kept)
    EXPECT_FALSE(seen.count(c)) << "protected column " << c << " on the GPU";
  EXPECT_EQ(seen.size(), n - kept.size());
  for (std::size_t i = 0; i < rows; ++i) {
    for (std::size_t j = 0; j < n; ++j) {
      double want = 0;
      for (std::size_t c = 0; c < k; ++c) want += double{x[i * k + c]} * double{w[c * n + j]};
      EXPECT_NEAR(r.y[i * n + j], want, 1e-6 * std::fabs(want) + 1e-3) << i << "," << j;
    }
  }
}

TEST(SampledLayer, ControlWithNoColumnKeptTheDeviceHoldsEveryColumn) {
  constexpr std::size_t k = 16, n = 48, rows = 1;
  const auto w = column_coded(k, n);
  const std::vector<float> x(rows * k, 1.0f);
  const auto r = run_sampled({.w = w, .k = k, .n = n, .kept = {}}, x, rows);
  EXPECT_EQ(columns_named_by(r.device_weights).size(), n);
}

TEST(SampledLayer, ASplitWithUnsortedOrOutOfRangeColumnsIsRefused) {
  const auto w = column_coded(4, 8);
  const std::vector<std::uint32_t> unsorted{3, 1};
  const std::vector<std::uint32_t> out_of_range{2, 8};
  EXPECT_FALSE(split_columns(w, 4, 8, unsorted));
  EXPECT_FALSE(split_columns(w, 4, 8, out_of_range));
  EXPECT_FALSE(split_columns(w, 4, 9, {}));
}

}  // namespace
}  // namespace hix::outsource
