// The model compiler end to end on the device in protected mode: tiny GPT-2
// and Llama shapes from the seeded source (or a checkpoint written from it)
// compiled, their weights sealed and loaded, tokens generated greedily by
// the device loop, compared with a double-precision reference written here
// on the Hugging Face layout (so the layout conversion is checked on its
// own), recomputing the whole sequence for every token.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <set>

#include "../vgpu/fake_bus.hpp"
#include "model.hpp"
#include "sealed_chunk.hpp"

namespace hix::model {
namespace {

using vgpu::test::FakeBus;
using vgpu::test::make_key;

// ---- the reference --------------------------------------------------------

using Vec = std::vector<double>;

// HF tensors widened to double, by name without the "transformer." prefix.
class Weights {
 public:
  Weights(const ModelConfig& c, const WeightSource& src) {
    for (const auto& s : hf_tensor_specs(c)) {
      auto t = src.get(s.name);
      EXPECT_TRUE(t.ok()) << t.why();
      if (!t) continue;
      EXPECT_EQ(t->shape(), s.shape) << s.name;
      Vec v(t->elements());
      for (std::uint64_t i = 0; i < v.size(); ++i) v[i] = t->at(i);
      w_[s.name] = std::move(v);
    }
  }
  const Vec& operator[](const std::string& n) const { return w_.at(n); }

 private:
  std::map<std::string, Vec> w_;
};

// y[r, j] = sum_i x[r, i] * W[i, j] (in_out) or W[j, i] (out_in) + b[j].
struct LinearShape {
  std::size_t rows = 0;
  std::size_t in = 0;
  std::size_t out = 0;
};

Vec linear(const Vec& x, LinearShape shape, const Vec& w, bool out_in, const Vec* b = nullptr,
           std::size_t w_cols = 0, std::size_t col0 = 0) {
  const std::size_t rows = shape.rows;
  const std::size_t in = shape.in;
  const std::size_t out = shape.out;
  if (w_cols == 0) w_cols = out;
  Vec y(rows * out);
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t j = 0; j < out; ++j) {
      double s = b != nullptr ? (*b)[col0 + j] : 0.0;
      for (std::size_t i = 0; i < in; ++i) {
        s += x[r * in + i] * (out_in ? w[j * in + i] : w[i * w_cols + col0 + j]);
      }
      y[r * out + j] = s;
    }
  }
  return y;
}

Vec norm(const ModelConfig& c, const Vec& x, std::size_t rows, const Vec& g, const Vec* b) {
  const std::size_t d = c.dim;
  Vec y(x.size());
  for (std::size_t r = 0; r < rows; ++r) {
    const double* xr = &x[r * d];
    double mean = 0, var = 0;
    if (c.arch == Arch::gpt2) {
      for (std::size_t i = 0; i < d; ++i) mean += xr[i];
      mean /= double(d);
    }
    for (std::size_t i = 0; i < d; ++i) var += (xr[i] - mean) * (xr[i] - mean);
    var /= double(d);
    for (std::size_t i = 0; i < d; ++i) {
      y[r * d + i] = (xr[i] - mean) / std::sqrt(var + double(c.norm_eps)) * g[i] +
                     (b != nullptr ? (*b)[i] : 0.0);
    }
  }
  return y;
}

// Rotate-half rotary embedding of [t, heads, hd] at positions 0..t-1.
struct RopeShape {
  std::size_t tokens = 0;
  std::size_t heads = 0;
};

void rope(const ModelConfig& c, Vec& x, RopeShape shape) {
  const std::size_t t = shape.tokens;
  const std::size_t heads = shape.heads;
  const std::size_t hd = c.head_dim, half = hd / 2;
  for (std::size_t p = 0; p < t; ++p) {
    for (std::size_t h = 0; h < heads; ++h) {
      double* v = &x[(p * heads + h) * hd];
      for (std::size_t i = 0; i < half; ++i) {
        const double ang =
            double(p) * std::pow(double(c.rope_theta), -2.0 * double(i) / double(hd));
        const double a = v[i], b = v[i + half];
        v[i] = a * std::cos(ang) - b * std::sin(ang);
        v[i + half] = a * std::sin(ang) + b * std::cos(ang);
      }
    }
  }
}

Vec reference_logits(const ModelConfig& c, const Weights& w,
                     const std::vector<std::int32_t>& toks) {
  const std::size_t t = toks.size(), d = c.dim, hd = c.head_dim, m = c.mlp;
  const std::size_t qd = std::size_t{c.heads} * hd, kvd = std::size_t{c.kv_heads} * hd;
  const bool gpt2 = c.arch == Arch::gpt2;
  const Vec& table = gpt2 ? w["wte.weight"] : w["model.embed_tokens.weight"];
  Vec x(t * d);
  for (std::size_t p = 0; p < t; ++p) {
    for (std::size_t i = 0; i < d; ++i) {
      x[p * d + i] =
          table[std::size_t(toks[p]) * d + i] + (gpt2 ? w["wpe.weight"][p * d + i] : 0.0);
    }
  }
  for (std::uint32_t l = 0; l < c.layers; ++l) {
    const std::string g = "h." + std::to_string(l) + ".";
    const std::string L = "model.layers." + std::to_string(l) + ".";
    Vec q, k, v;
    if (gpt2) {
      const Vec h = norm(c, x, t, w[g + "ln_1.weight"], &w[g + "ln_1.bias"]);
      const Vec& wa = w[g + "attn.c_attn.weight"];
      const Vec* ba = &w[g + "attn.c_attn.bias"];
      q = linear(h, {.rows = t, .in = d, .out = d}, wa, false, ba, 3 * d, 0);
      k = linear(h, {.rows = t, .in = d, .out = d}, wa, false, ba, 3 * d, d);
      v = linear(h, {.rows = t, .in = d, .out = d}, wa, false, ba, 3 * d, 2 * d);
    } else {
      const Vec h = norm(c, x, t, w[L + "input_layernorm.weight"], nullptr);
      q = linear(h, {.rows = t, .in = d, .out = qd}, w[L + "self_attn.q_proj.weight"], true);
      k = linear(h, {.rows = t, .in = d, .out = kvd}, w[L + "self_attn.k_proj.weight"], true);
      v = linear(h, {.rows = t, .in = d, .out = kvd}, w[L + "self_attn.v_proj.weight"], true);
      rope(c, q, {.tokens = t, .heads = c.heads});
      rope(c, k, {.tokens = t, .heads = c.kv_heads});
    }
    Vec att(t * qd, 0.0);
    const std::size_t group = c.heads / c.kv_heads;
    for (std::size_t h = 0; h < c.heads; ++h) {
      const std::size_t kh = h / group;
      for (std::size_t i = 0; i < t; ++i) {
        Vec s(i + 1);
        double mx = -1e300, sum = 0;
        for (std::size_t j = 0; j <= i; ++j) {
          double dot = 0;
          for (std::size_t e = 0; e < hd; ++e)
            dot += q[i * qd + h * hd + e] * k[j * kvd + kh * hd + e];
          s[j] = dot / std::sqrt(double(hd));
          mx = std::max(mx, s[j]);
        }
        for (auto& e : s) sum += (e = std::exp(e - mx));
        for (std::size_t j = 0; j <= i; ++j) {
          for (std::size_t e = 0; e < hd; ++e) {
            att[i * qd + h * hd + e] += s[j] / sum * v[j * kvd + kh * hd + e];
          }
        }
      }
    }
    const Vec proj =
        gpt2 ? linear(att, {.rows = t, .in = d, .out = d}, w[g + "attn.c_proj.weight"], false,
                      &w[g + "attn.c_proj.bias"])
             : linear(att, {.rows = t, .in = qd, .out = d}, w[L + "self_attn.o_proj.weight"], true);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] += proj[i];
    Vec down;
    if (gpt2) {
      const Vec h = norm(c, x, t, w[g + "ln_2.weight"], &w[g + "ln_2.bias"]);
      Vec a = linear(h, {.rows = t, .in = d, .out = m}, w[g + "mlp.c_fc.weight"], false,
                     &w[g + "mlp.c_fc.bias"]);
      for (auto& e : a)
        e = 0.5 * e * (1 + std::tanh(std::sqrt(2 / M_PI) * (e + 0.044715 * e * e * e)));
      down = linear(a, {.rows = t, .in = m, .out = d}, w[g + "mlp.c_proj.weight"], false,
                    &w[g + "mlp.c_proj.bias"]);
    } else {
      const Vec h = norm(c, x, t, w[L + "post_attention_layernorm.weight"], nullptr);
      Vec gate = linear(h, {.rows = t, .in = d, .out = m}, w[L + "mlp.gate_proj.weight"], true);
      const Vec up = linear(h, {.rows = t, .in = d, .out = m}, w[L + "mlp.up_proj.weight"], true);
      for (std::size_t i = 0; i < gate.size(); ++i)
        gate[i] = gate[i] / (1 + std::exp(-gate[i])) * up[i];
      down = linear(gate, {.rows = t, .in = m, .out = d}, w[L + "mlp.down_proj.weight"], true);
    }
    for (std::size_t i = 0; i < x.size(); ++i) x[i] += down[i];
  }
  const Vec last(x.end() - static_cast<std::ptrdiff_t>(d), x.end());
  const Vec hf = gpt2 ? norm(c, last, 1, w["ln_f.weight"], &w["ln_f.bias"])
                      : norm(c, last, 1, w["model.norm.weight"], nullptr);
  const Vec& head = gpt2 || c.tied_embeddings ? table : w["lm_head.weight"];
  return linear(hf, {.rows = 1, .in = d, .out = c.vocab}, head, true);
}

// ---- the device -----------------------------------------------------------

struct DeviceRun {
  std::vector<std::int32_t> tokens;
  std::vector<float> logits;
};

constexpr std::uint32_t kMaxSeq = 32;

DeviceRun run_on_device(const ModelConfig& c, const WeightSource& src, std::uint8_t wdt,
                        const std::vector<std::int32_t>& prompt, std::uint32_t n_new,
                        std::optional<std::int32_t> eos = std::nullopt,
                        const std::function<void(GenerateRequest&)>& tweak = {}) {
  DeviceRun out;
  RuntimeOptions opt;
  opt.max_seq = kMaxSeq;
  opt.weight_dtype = wdt;
  auto plan = make_plan(c, opt);
  EXPECT_TRUE(plan.ok()) << plan.why();
  if (!plan) return out;
  EXPECT_TRUE(check_source(plan->layout, src).ok());

  FakeBus bus(32 << 20);
  bus.start_ring();
  const auto session = make_key(7);
  bus.install_channel_key(make_key(8));
  const auto ctx = bus.create_context();
  bus.install_slot(ctx, 0, session);
  std::vector<std::uint32_t> handles;
  for (const auto& b : plan->buffers) handles.push_back(bus.alloc(ctx, b.bytes));

  const auto seal = [&](std::span<const std::byte> plain, std::uint64_t id) {
    std::vector<std::byte> s(vgpu::sealed_size(plain.size()));
    EXPECT_EQ(vgpu::seal_tensor(s, plain, vgpu::SealParams{0, id}, session), vgpu::Status::ok);
    const auto gpa = bus.guest_alloc(s.size());
    bus.guest_write(gpa, s);
    return gpa;
  };
  constexpr std::uint64_t kFirstId = 100;
  std::vector<std::uint64_t> gpas;
  for (std::size_t i = 0; i < plan->layout.tensors.size(); ++i) {
    auto bytes = device_tensor_bytes(plan->layout, i, src);
    EXPECT_TRUE(bytes.ok()) << bytes.why();
    if (!bytes) return out;
    gpas.push_back(seal(*bytes, kFirstId + i));
  }
  auto load = build_load_program(*plan, handles, LoadRequest{gpas, true, 0, kFirstId});
  EXPECT_TRUE(load.ok()) << load.why();
  if (!load) return out;
  for (const auto& cb : *load) EXPECT_EQ(bus.submit(ctx, cb), vgpu::Status::ok);

  GenerateRequest req;
  req.prompt_len = static_cast<std::uint32_t>(prompt.size());
  req.n_new = n_new;
  req.prompt_gpa = seal(std::as_bytes(std::span(prompt)), 1);
  req.prompt_tensor_id = 1;
  req.tokens_gpa = bus.guest_alloc(vgpu::sealed_size(tokens_out_bytes(req)));
  req.tokens_tensor_id = vgpu::kDeviceTensorBit | 1;
  req.logits_gpa = bus.guest_alloc(vgpu::sealed_size(logits_out_bytes(*plan)));
  req.logits_tensor_id = vgpu::kDeviceTensorBit | 2;
  req.eos = eos;
  if (tweak) tweak(req);
  auto gen = build_generate_program(*plan, handles, req);
  EXPECT_TRUE(gen.ok()) << gen.why();
  if (!gen) return out;
  const auto st = bus.submit(ctx, *gen);
  EXPECT_EQ(st, vgpu::Status::ok) << vgpu::to_string(st) << " at op "
                                  << (bus.reg(vgpu::test::Reg32::last_error) >> 16);
  out.tokens.resize(prompt.size() + n_new);
  EXPECT_EQ(vgpu::open_tensor(std::as_writable_bytes(std::span(out.tokens)),
                              bus.guest(req.tokens_gpa, vgpu::sealed_size(tokens_out_bytes(req))),
                              vgpu::SealParams{0, req.tokens_tensor_id}, session),
            vgpu::Status::ok);
  out.logits.resize(c.vocab);
  EXPECT_EQ(
      vgpu::open_tensor(std::as_writable_bytes(std::span(out.logits)),
                        bus.guest(*req.logits_gpa, vgpu::sealed_size(logits_out_bytes(*plan))),
                        vgpu::SealParams{0, req.logits_tensor_id}, session),
      vgpu::Status::ok);
  EXPECT_EQ(bus.reg(vgpu::test::Reg32::ring_forged) + bus.reg(vgpu::test::Reg32::exec_errors), 0u);
  return out;
}

// ---- the tests ------------------------------------------------------------

struct Case {
  const char* preset;
  std::uint8_t dtype;
  bool from_file;  // through a safetensors checkpoint written from the seeded source
  std::uint64_t seed = 11;
};

class TinyModel : public ::testing::TestWithParam<Case> {};

SeededOptions seeded(DType dt, std::uint64_t seed = 11) {
  SeededOptions o;
  o.seed = seed;
  o.dtype = dt;
  // Large weights for a tiny model, so that logits are far apart and
  // greedy decoding visits varied tokens.
  o.std = 0.35f;
  o.norm_jitter = 0.1f;
  o.bias_std = 0.3f;
  return o;
}

TEST_P(TinyModel, GeneratesTheReferenceTokens) {
  const Case k = GetParam();
  auto cfg = preset(k.preset);
  ASSERT_TRUE(cfg.ok()) << cfg.why();
  const DType sdt = k.dtype == HIX_VGPU_DT_BF16 ? DType::bf16 : DType::f32;
  SeededSource seeded_src(*cfg, seeded(sdt, k.seed));
  std::unique_ptr<SafetensorsSource> file_src;
  const WeightSource* src = &seeded_src;
  if (k.from_file) {
    const auto path = std::filesystem::temp_directory_path() /
                      ("hix_model_test_" + std::string(k.preset) + ".safetensors");
    // GPT-2 checkpoints on the hub carry the "transformer." prefix.
    std::vector<TensorData> ts;
    for (const auto& n : seeded_src.names()) {
      auto t = seeded_src.get(n);
      ASSERT_TRUE(t.ok());
      ts.push_back({(cfg->arch == Arch::gpt2 ? "transformer." : "") + n,
                    t->dtype(),
                    t->shape(),
                    {t->bytes().begin(), t->bytes().end()}});
    }
    ASSERT_TRUE(write_safetensors(path, ts, {{"format", "pt"}}).ok());
    auto f = SafetensorsSource::open(path);
    ASSERT_TRUE(f.ok()) << f.why();
    file_src = std::move(*f);
    src = file_src.get();
    std::filesystem::remove(path);  // the mapping stays valid
  }
  const Weights w(*cfg, *src);

  const std::vector<std::int32_t> prompt{3, 17, 42, 9, 28};
  constexpr std::uint32_t kNew = 8;
  std::vector<std::int32_t> ref = prompt;
  Vec ref_logits;
  for (std::uint32_t i = 0; i < kNew; ++i) {
    ref_logits = reference_logits(*cfg, w, ref);
    Vec sorted = ref_logits;
    std::sort(sorted.rbegin(), sorted.rend());
    ASSERT_GT(sorted[0] - sorted[1], 1e-2) << "a near tie would make the comparison fragile";
    ref.push_back(static_cast<std::int32_t>(std::max_element(ref_logits.begin(), ref_logits.end()) -
                                            ref_logits.begin()));
  }
  EXPECT_GT(std::set<std::int32_t>(ref.begin() + 5, ref.end()).size(), 2u)
      << "a degenerate model makes a weak comparison";

  const DeviceRun dev = run_on_device(*cfg, *src, k.dtype, prompt, kNew);
  EXPECT_EQ(dev.tokens, ref);
  ASSERT_EQ(dev.logits.size(), ref_logits.size());
  for (std::size_t j = 0; j < ref_logits.size(); ++j) {
    EXPECT_NEAR(dev.logits[j], ref_logits[j], 2e-3 * (1 + std::abs(ref_logits[j])))
        << "logit " << j;
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, TinyModel,
                         ::testing::Values(Case{"tiny-gpt2", HIX_VGPU_DT_F32, false},
                                           Case{"tiny-gpt2", HIX_VGPU_DT_BF16, false},
                                           Case{"tiny-gpt2", HIX_VGPU_DT_BF16, true},
                                           Case{"tiny-llama", HIX_VGPU_DT_F32, false},
                                           Case{"tiny-llama", HIX_VGPU_DT_BF16, false},
                                           Case{"tiny-llama", HIX_VGPU_DT_F32, true},
                                           Case{"tiny-llama-tied", HIX_VGPU_DT_BF16, false, 12}),
                         [](const auto& param_info) {
                           std::string n = param_info.param.preset;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n +
                                  (param_info.param.dtype == HIX_VGPU_DT_BF16 ? "_bf16" : "_f32") +
                                  (param_info.param.from_file ? "_file" : "");
                         });

// An eos id stops the device loop; the ids after it stay -1.
TEST(TinyModelEos, StopsAtTheEosToken) {
  auto cfg = preset("tiny-llama");
  ASSERT_TRUE(cfg.ok());
  SeededSource src(*cfg, seeded(DType::f32));
  const std::vector<std::int32_t> prompt{3, 17, 42, 9, 28};
  const DeviceRun full = run_on_device(*cfg, src, HIX_VGPU_DT_F32, prompt, 8);
  ASSERT_EQ(full.tokens.size(), 13u);
  const std::int32_t eos = full.tokens[7];  // the third generated token
  const auto first = static_cast<std::size_t>(
      std::find(full.tokens.begin() + 5, full.tokens.end(), eos) - full.tokens.begin());
  const DeviceRun cut = run_on_device(*cfg, src, HIX_VGPU_DT_F32, prompt, 8, eos);
  for (std::size_t i = 0; i < cut.tokens.size(); ++i) {
    EXPECT_EQ(cut.tokens[i], i <= first ? full.tokens[i] : -1) << "token " << i;
  }
}

// SAMPLE: deterministic per seed; top_k = 1 is greedy.
TEST(TinyModelSample, TopOneIsGreedyAndSeedsRepeat) {
  auto cfg = preset("tiny-gpt2");
  ASSERT_TRUE(cfg.ok());
  SeededSource src(*cfg, seeded(DType::bf16));
  const std::vector<std::int32_t> prompt{3, 17, 42, 9, 28};
  const DeviceRun greedy = run_on_device(*cfg, src, HIX_VGPU_DT_BF16, prompt, 8);
  const auto sampled = [&](std::uint32_t top_k, std::uint64_t seed) {
    return run_on_device(*cfg, src, HIX_VGPU_DT_BF16, prompt, 8, std::nullopt,
                         [&](GenerateRequest& r) {
                           r.sample = true;
                           r.temperature = 1.5f;
                           r.top_k = top_k;
                           r.seed = seed;
                         })
        .tokens;
  };
  EXPECT_EQ(sampled(1, 5), greedy.tokens);
  const auto a = sampled(0, 5);
  EXPECT_EQ(sampled(0, 5), a);
  EXPECT_EQ(std::vector<std::int32_t>(a.begin(), a.begin() + 5), prompt);
  for (const auto t : a) EXPECT_TRUE(t >= 0 && t < static_cast<std::int32_t>(cfg->vocab));
}

// Source f32/f16 -> device bf16 rounds to nearest even; bf16 -> f32 widens.
TEST(DeviceLayout, ConvertsDtypesAndSplitsGpt2Attention) {
  auto cfg = preset("tiny-gpt2");
  ASSERT_TRUE(cfg.ok());
  for (const DType sdt : {DType::f32, DType::f16, DType::bf16}) {
    SeededOptions o;
    o.dtype = sdt;
    SeededSource src(*cfg, o);
    for (const std::uint8_t ddt : {std::uint8_t{HIX_VGPU_DT_F32}, std::uint8_t{HIX_VGPU_DT_BF16}}) {
      auto lay = make_device_layout(*cfg, ddt);
      ASSERT_TRUE(lay.ok());
      const auto i = *lay->find("layers.1.wk");
      auto bytes = device_tensor_bytes(*lay, i, src);
      ASSERT_TRUE(bytes.ok()) << bytes.why();
      auto fused = src.get("h.1.attn.c_attn.weight");
      ASSERT_TRUE(fused.ok());
      const std::uint64_t d = cfg->dim;
      for (std::uint64_t o_ = 0; o_ < d; ++o_) {
        for (std::uint64_t in = 0; in < d; ++in) {
          const float want = fused->at(in * 3 * d + d + o_);
          float got = 0;
          if (ddt == HIX_VGPU_DT_BF16) {
            std::uint16_t h = 0;
            std::memcpy(&h, bytes->data() + (o_ * d + in) * 2, 2);
            got = vgpu::bf16_to_f32(h);
            ASSERT_EQ(h, vgpu::f32_to_bf16(want));
          } else {
            std::memcpy(&got, bytes->data() + (o_ * d + in) * 4, 4);
            ASSERT_EQ(got, want);
          }
        }
      }
    }
  }
}

TEST(Plan, ChecksShapesAndLimits) {
  auto cfg = preset("tiny-llama");
  ASSERT_TRUE(cfg.ok());
  RuntimeOptions opt;
  opt.max_seq = 16;
  auto plan = make_plan(*cfg, opt);
  ASSERT_TRUE(plan.ok());
  std::vector<std::uint32_t> handles(plan->buffers.size());
  for (std::size_t i = 0; i < handles.size(); ++i) handles[i] = static_cast<std::uint32_t>(i + 1);
  GenerateRequest r;
  r.prompt_len = 10;
  r.n_new = 7;
  r.tokens_tensor_id = vgpu::kDeviceTensorBit | 1;
  auto g = build_generate_program(*plan, handles, r);
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.why().find("max_seq"), std::string::npos) << g.why();
  r.n_new = 6;
  EXPECT_TRUE(build_generate_program(*plan, handles, r).ok());
  EXPECT_TRUE(build_prefill_program(*plan, handles, r).ok());
  r.tokens_tensor_id = 1;  // device-sealed ids need bit 63
  EXPECT_FALSE(build_generate_program(*plan, handles, r).ok());
  handles.pop_back();
  EXPECT_FALSE(build_generate_program(*plan, handles, r).ok());
  opt.max_seq = 1000;  // beyond the tiny model's 64 positions
  EXPECT_FALSE(make_plan(*cfg, opt).ok());

  // The real shapes fit a context's 256 buffers and one command buffer.
  for (const char* name : {"gpt2-small", "llama-1b", "llama-8b"}) {
    auto big = preset(name);
    ASSERT_TRUE(big.ok());
    RuntimeOptions o;
    o.max_seq = name[0] == 'g' ? 1024 : 2048;
    auto p = make_plan(*big, o);
    ASSERT_TRUE(p.ok()) << name << ": " << p.why();
    std::vector<std::uint32_t> hs(p->buffers.size(), 1);
    GenerateRequest gr;
    gr.prompt_len = 128;
    gr.n_new = 64;
    gr.tokens_tensor_id = vgpu::kDeviceTensorBit | 1;
    gr.eos = 2;
    EXPECT_TRUE(build_generate_program(*p, hs, gr).ok()) << name;
    std::vector<std::uint64_t> gpas(p->layout.tensors.size(), 0x1000);
    auto load = build_load_program(*p, hs, LoadRequest{gpas, true, 0, 1});
    ASSERT_TRUE(load.ok()) << load.why();
    std::uint64_t ops = 0;
    for (const auto& cb : *load) ops += (cb.size() - 16) / sizeof(hix_vgpu_op_dma_crypt);
    EXPECT_EQ(ops, p->layout.tensors.size());
  }
}

}  // namespace
}  // namespace hix::model
