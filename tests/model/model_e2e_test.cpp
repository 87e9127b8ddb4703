// The model compiler end to end on the device in protected mode: tiny GPT-2,
// Llama (plain and Llama 3 scaled RoPE), Qwen2 and Mistral shapes from the
// seeded source (or a checkpoint written from it, single-file or sharded)
// compiled, their weights sealed and loaded, tokens generated greedily by
// the device loop, compared with a double-precision reference written here
// on the Hugging Face layout (so the layout conversion is checked on its
// own), recomputing the whole sequence for every token.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
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

// What the reference leaves out, to show that a feature changes the result.
struct RefOptions {
  bool rope_scaling = true;  // Llama 3's frequencies
  bool qkv_bias = true;      // Qwen2's q/k/v biases
};

// Pair i's rotary frequency: theta^(-2i/hd), with Llama 3's scaling as
// transformers' _compute_llama3_parameters states it.
double inv_freq(const ModelConfig& c, std::size_t i, const RefOptions& o) {
  const double f = std::pow(double(c.rope_theta), -2.0 * double(i) / double(c.head_dim));
  if (!c.rope_scaling || !o.rope_scaling) return f;
  const Llama3Scaling& s = *c.rope_scaling;
  const double wavelen = 2 * M_PI / f;
  const double old_ctx = s.original_max_pos;
  if (wavelen > old_ctx / s.low_freq_factor) return f / s.factor;
  if (wavelen < old_ctx / s.high_freq_factor) return f;
  const double smooth = (old_ctx / wavelen - s.low_freq_factor) /
                        (double(s.high_freq_factor) - double(s.low_freq_factor));
  return (1 - smooth) * f / s.factor + smooth * f;
}

// Rotate-half rotary embedding of [t, heads, hd] at positions 0..t-1.
struct RopeShape {
  std::size_t tokens = 0;
  std::size_t heads = 0;
};

void rope(const ModelConfig& c, Vec& x, RopeShape shape, const RefOptions& o) {
  const std::size_t t = shape.tokens;
  const std::size_t heads = shape.heads;
  const std::size_t hd = c.head_dim, half = hd / 2;
  for (std::size_t p = 0; p < t; ++p) {
    for (std::size_t h = 0; h < heads; ++h) {
      double* v = &x[(p * heads + h) * hd];
      for (std::size_t i = 0; i < half; ++i) {
        const double ang = double(p) * inv_freq(c, i, o);
        const double a = v[i], b = v[i + half];
        v[i] = a * std::cos(ang) - b * std::sin(ang);
        v[i + half] = a * std::sin(ang) + b * std::cos(ang);
      }
    }
  }
}

Vec reference_logits(const ModelConfig& c, const Weights& w, const std::vector<std::int32_t>& toks,
                     const RefOptions& o = {}) {
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
      const bool biased = c.arch == Arch::qwen2 && o.qkv_bias;
      const auto bias = [&](const char* name) { return biased ? &w[L + name] : nullptr; };
      q = linear(h, {.rows = t, .in = d, .out = qd}, w[L + "self_attn.q_proj.weight"], true,
                 bias("self_attn.q_proj.bias"));
      k = linear(h, {.rows = t, .in = d, .out = kvd}, w[L + "self_attn.k_proj.weight"], true,
                 bias("self_attn.k_proj.bias"));
      v = linear(h, {.rows = t, .in = d, .out = kvd}, w[L + "self_attn.v_proj.weight"], true,
                 bias("self_attn.v_proj.bias"));
      rope(c, q, {.tokens = t, .heads = c.heads}, o);
      rope(c, k, {.tokens = t, .heads = c.kv_heads}, o);
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
                        const std::function<void(GenerateRequest&)>& tweak = {},
                        std::uint32_t batch = 0) {
  // batch 0: the batch-1 generate program on a batch-1 plan; else the
  // batched program (tokens: the prompt then [step][sequence]; logits
  // [batch, vocab]).
  DeviceRun out;
  RuntimeOptions opt;
  opt.max_seq = std::min(kMaxSeq, max_context(c));
  opt.weight_dtype = wdt;
  opt.batch = std::max(batch, 1u);
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
  const std::uint64_t tokens_bytes =
      batch == 0 ? tokens_out_bytes(req) : batch_tokens_out_bytes(*plan, req);
  const std::uint64_t logits_bytes =
      batch == 0 ? logits_out_bytes(*plan) : batch_logits_out_bytes(*plan, req);
  req.tokens_gpa = bus.guest_alloc(vgpu::sealed_size(tokens_bytes));
  req.tokens_tensor_id = vgpu::kDeviceTensorBit | 1;
  req.logits_gpa = bus.guest_alloc(vgpu::sealed_size(logits_bytes));
  req.logits_tensor_id = vgpu::kDeviceTensorBit | 2;
  req.eos = eos;
  if (tweak) tweak(req);
  auto gen = batch == 0 ? build_generate_program(*plan, handles, req)
                        : build_batch_generate_program(*plan, handles, req);
  EXPECT_TRUE(gen.ok()) << gen.why();
  if (!gen) return out;
  const auto st = bus.submit(ctx, *gen);
  EXPECT_EQ(st, vgpu::Status::ok) << vgpu::to_string(st) << " at op "
                                  << (bus.reg(vgpu::test::Reg32::last_error) >> 16);
  out.tokens.resize(tokens_bytes / 4);
  EXPECT_EQ(vgpu::open_tensor(std::as_writable_bytes(std::span(out.tokens)),
                              bus.guest(req.tokens_gpa, vgpu::sealed_size(tokens_bytes)),
                              vgpu::SealParams{0, req.tokens_tensor_id}, session),
            vgpu::Status::ok);
  out.logits.resize(logits_bytes / 4);
  EXPECT_EQ(vgpu::open_tensor(std::as_writable_bytes(std::span(out.logits)),
                              bus.guest(*req.logits_gpa, vgpu::sealed_size(logits_bytes)),
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

const std::vector<std::int32_t> kPrompt{3, 17, 42, 9, 28};
constexpr std::uint32_t kNew = 8;

// The reference's greedy tokens after kPrompt and the logits that chose the
// last one.
struct Reference {
  std::vector<std::int32_t> tokens;
  Vec logits;
};

Reference greedy_reference(const ModelConfig& c, const Weights& w, const RefOptions& o = {}) {
  Reference r{kPrompt, {}};
  for (std::uint32_t i = 0; i < kNew; ++i) {
    r.logits = reference_logits(c, w, r.tokens, o);
    r.tokens.push_back(static_cast<std::int32_t>(
        std::max_element(r.logits.begin(), r.logits.end()) - r.logits.begin()));
  }
  return r;
}

// The device's greedy tokens from `src` equal the reference's, and its last
// logits are within 2e-3 relative of the reference's.
void expect_reference_tokens(const ModelConfig& c, const WeightSource& src, std::uint8_t dtype) {
  const Weights w(c, src);
  std::vector<std::int32_t> ref = kPrompt;
  Vec ref_logits;
  for (std::uint32_t i = 0; i < kNew; ++i) {
    ref_logits = reference_logits(c, w, ref);
    Vec sorted = ref_logits;
    std::sort(sorted.rbegin(), sorted.rend());
    ASSERT_GT(sorted[0] - sorted[1], 1e-2) << "a near tie would make the comparison fragile";
    ref.push_back(static_cast<std::int32_t>(std::max_element(ref_logits.begin(), ref_logits.end()) -
                                            ref_logits.begin()));
  }
  EXPECT_GT(std::set<std::int32_t>(ref.begin() + 5, ref.end()).size(), 2u)
      << "a degenerate model makes a weak comparison";

  const DeviceRun dev = run_on_device(c, src, dtype, kPrompt, kNew);
  EXPECT_EQ(dev.tokens, ref);
  ASSERT_EQ(dev.logits.size(), ref_logits.size());
  for (std::size_t j = 0; j < ref_logits.size(); ++j) {
    EXPECT_NEAR(dev.logits[j], ref_logits[j], 2e-3 * (1 + std::abs(ref_logits[j])))
        << "logit " << j;
  }
}

// The seeded source's tensors as a Hugging Face safetensors file at `path`.
std::unique_ptr<SafetensorsSource> write_file(const ModelConfig& c, const SeededSource& src,
                                              const std::filesystem::path& path) {
  // GPT-2 checkpoints on the hub carry the "transformer." prefix.
  std::vector<TensorData> ts;
  for (const auto& n : src.names()) {
    auto t = src.get(n);
    EXPECT_TRUE(t.ok());
    if (!t) return nullptr;
    ts.push_back({(c.arch == Arch::gpt2 ? "transformer." : "") + n,
                  t->dtype(),
                  t->shape(),
                  {t->bytes().begin(), t->bytes().end()}});
  }
  EXPECT_TRUE(write_safetensors(path, ts, {{"format", "pt"}}).ok());
  auto f = SafetensorsSource::open(path);
  EXPECT_TRUE(f.ok()) << f.why();
  std::filesystem::remove(path);  // the mapping stays valid
  return f.ok() ? std::move(*f) : nullptr;
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
    file_src = write_file(*cfg, seeded_src,
                          std::filesystem::temp_directory_path() /
                              ("hix_model_test_" + std::string(k.preset) + ".safetensors"));
    ASSERT_NE(file_src, nullptr);
    src = file_src.get();
  }
  expect_reference_tokens(*cfg, *src, k.dtype);
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

// ---- the families users bring (Llama 3, Qwen2, Mistral) --------------------

// A checkpoint directory of `c`: config.json and the seeded tensors in `dt`
// split over two shards named by model.safetensors.index.json.
class ShardedDir {
 public:
  ShardedDir(const ModelConfig& c, const SeededOptions& o, const std::string& tag)
      : dir_(std::filesystem::temp_directory_path() / ("hix_families_" + tag)) {
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "config.json", std::ios::binary) << config_json_of(c);
    SeededSource src(c, o);
    std::vector<TensorData> shards[2];
    std::string map;
    const auto names = src.names();
    for (std::size_t i = 0; i < names.size(); ++i) {
      auto t = src.get(names[i]);
      EXPECT_TRUE(t.ok());
      if (!t) return;
      const std::size_t s = i < names.size() / 2 ? 0 : 1;
      shards[s].push_back(
          {names[i], t->dtype(), t->shape(), {t->bytes().begin(), t->bytes().end()}});
      map += (map.empty() ? "\"" : ",\"") + names[i] + "\":\"" + kShard[s] + "\"";
    }
    for (std::size_t s = 0; s < 2; ++s) {
      EXPECT_TRUE(write_safetensors(dir_ / kShard[s], shards[s]).ok());
    }
    std::ofstream(dir_ / "model.safetensors.index.json", std::ios::binary)
        << R"({"metadata": {"total_size": 0}, "weight_map": {)" << map << "}}";
  }
  ~ShardedDir() { std::filesystem::remove_all(dir_); }
  ShardedDir(const ShardedDir&) = delete;
  ShardedDir& operator=(const ShardedDir&) = delete;
  std::string path() const { return dir_.string(); }

 private:
  static constexpr const char* kShard[2] = {"model-00001-of-00002.safetensors",
                                            "model-00002-of-00002.safetensors"};
  std::filesystem::path dir_;
};

// A family's tiny preset generates the reference's tokens from f32 weights
// on an f32 device, from bf16 weights on a bf16 device, and from f16 and
// bf16 checkpoints sharded with an index (read back from their own
// config.json).
void expect_family_generates_reference(const char* name, std::uint64_t seed) {
  auto cfg = preset(name);
  ASSERT_TRUE(cfg.ok()) << cfg.why();
  {
    SCOPED_TRACE("f32 weights, f32 device");
    SeededSource src(*cfg, seeded(DType::f32, seed));
    expect_reference_tokens(*cfg, src, HIX_VGPU_DT_F32);
  }
  {
    SCOPED_TRACE("bf16 weights, bf16 device");
    SeededSource src(*cfg, seeded(DType::bf16, seed));
    expect_reference_tokens(*cfg, src, HIX_VGPU_DT_BF16);
  }
  // f16 widens to f32 exactly; bf16 stays bf16.
  for (const auto& [sdt, ddt] : {std::pair{DType::f16, std::uint8_t{HIX_VGPU_DT_F32}},
                                 std::pair{DType::bf16, std::uint8_t{HIX_VGPU_DT_BF16}}}) {
    SCOPED_TRACE(std::string(dtype_name(sdt)) + " sharded checkpoint");
    const ShardedDir dir(*cfg, seeded(sdt, seed), std::string(name) + "_" + dtype_name(sdt).data());
    auto cp = open_checkpoint_dir(dir.path());
    ASSERT_TRUE(cp.ok()) << cp.why();
    EXPECT_EQ(cp->weight_files.size(), 2u);
    EXPECT_EQ(cp->config.arch, cfg->arch);
    EXPECT_EQ(cp->config.rope_scaling, cfg->rope_scaling);
    EXPECT_EQ(cp->config.sliding_window, cfg->sliding_window);
    auto embed = cp->weights->get("model.embed_tokens.weight");
    ASSERT_TRUE(embed.ok()) << embed.why();
    EXPECT_EQ(embed->dtype(), sdt);
    expect_reference_tokens(cp->config, *cp->weights, ddt);
  }
}

// How far apart two logit vectors are at most.
double max_difference(const Vec& a, const Vec& b) {
  double m = 0;
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

TEST(Families, ATinyLlama3WithScaledRopeGeneratesTheReferenceTokens) {
  expect_family_generates_reference("tiny-llama3-scaled", 11);
}

// The scaling acts within the test's 13 positions: without it the
// reference's logits move, so the test above would catch a device that
// ran plain ROPE.
TEST(Families, Llama3ScalingMovesTheTinyModelsLogitsWithinAShortSequence) {
  auto cfg = preset("tiny-llama3-scaled");
  ASSERT_TRUE(cfg.ok());
  ASSERT_TRUE(cfg->rope_scaling.has_value());
  SeededSource src(*cfg, seeded(DType::f32));
  const Weights w(*cfg, src);
  const Reference scaled = greedy_reference(*cfg, w);
  const Vec plain = reference_logits(*cfg, w, scaled.tokens, {.rope_scaling = false});
  const Vec again = reference_logits(*cfg, w, scaled.tokens);
  EXPECT_GT(max_difference(plain, again), 0.1);
}

TEST(Families, ATinyQwen2WithBiasesAndTiedEmbeddingsGeneratesTheReferenceTokens) {
  auto cfg = preset("tiny-qwen2");
  ASSERT_TRUE(cfg.ok());
  EXPECT_TRUE(cfg->tied_embeddings);
  EXPECT_TRUE(qkv_bias(*cfg));
  expect_family_generates_reference("tiny-qwen2", 11);
}

// Qwen2's q/k/v biases are in the layout (o_proj has none) and change the
// logits: a device that dropped them would not pass the test above.
TEST(Families, Qwen2BiasesAreLoadedAndMoveTheTinyModelsLogits) {
  auto cfg = preset("tiny-qwen2");
  ASSERT_TRUE(cfg.ok());
  auto lay = make_device_layout(*cfg, HIX_VGPU_DT_BF16);
  ASSERT_TRUE(lay.ok()) << lay.why();
  for (const char* t : {"layers.1.bq", "layers.1.bk", "layers.1.bv"}) {
    EXPECT_TRUE(lay->find(t).has_value()) << t;
  }
  EXPECT_FALSE(lay->find("layers.1.bo").has_value());
  EXPECT_FALSE(lay->find("lm_head").has_value()) << "tied: the lm head is the embedding table";
  SeededSource src(*cfg, seeded(DType::f32));
  const Weights w(*cfg, src);
  const Vec with = reference_logits(*cfg, w, kPrompt);
  const Vec without = reference_logits(*cfg, w, kPrompt, {.qkv_bias = false});
  EXPECT_GT(max_difference(with, without), 0.1);
}

TEST(Families, ATinyMistralWithinItsSlidingWindowGeneratesTheReferenceTokens) {
  auto cfg = preset("tiny-mistral");
  ASSERT_TRUE(cfg.ok());
  ASSERT_EQ(cfg->sliding_window, 16u);
  ASSERT_LE(kPrompt.size() + kNew, cfg->sliding_window);
  EXPECT_NE(cfg->heads * cfg->head_dim, cfg->dim) << "head_dim is honoured, not derived";
  expect_family_generates_reference("tiny-mistral", 11);
}

// Past the window, sliding-window attention is no longer full attention:
// a plan or a generation that long is refused, naming sliding_window.
TEST(Families, AMistralSequencePastItsSlidingWindowIsRefusedNamingIt) {
  auto cfg = preset("tiny-mistral");
  ASSERT_TRUE(cfg.ok());
  EXPECT_EQ(max_context(*cfg), 16u);
  RuntimeOptions opt;
  opt.max_seq = 17;
  auto too_long = make_plan(*cfg, opt);
  ASSERT_FALSE(too_long.ok());
  EXPECT_NE(too_long.why().find("sliding_window"), std::string::npos) << too_long.why();
  opt.max_seq = 16;
  auto plan = make_plan(*cfg, opt);
  ASSERT_TRUE(plan.ok()) << plan.why();
  std::vector<std::uint32_t> handles(plan->buffers.size());
  for (std::size_t i = 0; i < handles.size(); ++i) handles[i] = static_cast<std::uint32_t>(i + 1);
  GenerateRequest r;
  r.prompt_len = 10;
  r.n_new = 7;
  r.tokens_tensor_id = vgpu::kDeviceTensorBit | 1;
  EXPECT_FALSE(build_generate_program(*plan, handles, r).ok());
  r.n_new = 6;
  EXPECT_TRUE(build_generate_program(*plan, handles, r).ok());
  // Without a window (v0.3's null) the context is max_position_embeddings.
  cfg->sliding_window = 0;
  EXPECT_EQ(max_context(*cfg), cfg->max_pos);
  opt.max_seq = 32;
  EXPECT_TRUE(make_plan(*cfg, opt).ok());
}

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

// ---- batched decode (spec hix-gpu §6.4.1) ----------------------------------

// Sequence `seq` of a batched run of `batch`: the prompt then its id of
// every step.
struct SequenceOf {
  std::size_t prompt_len;
  std::uint32_t batch;
  std::uint32_t seq;
};

std::vector<std::int32_t> sequence_of(const DeviceRun& run, SequenceOf which) {
  std::vector<std::int32_t> out(run.tokens.begin(),
                                run.tokens.begin() + static_cast<std::ptrdiff_t>(which.prompt_len));
  for (std::size_t i = which.prompt_len + which.seq; i < run.tokens.size(); i += which.batch) {
    out.push_back(run.tokens[i]);
  }
  return out;
}

struct BatchCase {
  const char* preset;
  std::uint32_t batch;
};

class BatchedDecode : public ::testing::TestWithParam<BatchCase> {};

// Greedy: every sequence of the batched program is the batch-1 program's
// sequence, token for token, and every row of its last logits is the
// batch-1 program's last logits (the cpu backend computes a row the same
// way whatever the batch).
TEST_P(BatchedDecode, GreedySequencesEqualTheBatchOneProgramsTokensAndLogits) {
  const BatchCase k = GetParam();
  auto cfg = preset(k.preset);
  ASSERT_TRUE(cfg.ok()) << cfg.why();
  SeededSource src(*cfg, seeded(DType::f32));
  const DeviceRun one = run_on_device(*cfg, src, HIX_VGPU_DT_F32, kPrompt, kNew);
  const DeviceRun many =
      run_on_device(*cfg, src, HIX_VGPU_DT_F32, kPrompt, kNew, std::nullopt, {}, k.batch);
  ASSERT_EQ(many.tokens.size(), kPrompt.size() + std::size_t{kNew} * k.batch);
  ASSERT_EQ(many.logits.size(), std::size_t{cfg->vocab} * k.batch);
  for (std::uint32_t b = 0; b < k.batch; ++b) {
    EXPECT_EQ(sequence_of(many, {kPrompt.size(), k.batch, b}), one.tokens) << "sequence " << b;
    for (std::uint32_t j = 0; j < cfg->vocab; ++j) {
      ASSERT_NEAR(many.logits[std::size_t{b} * cfg->vocab + j], one.logits[j],
                  1e-5 * (1 + std::abs(one.logits[j])))
          << "sequence " << b << " logit " << j;
    }
  }
}

// Sampled: the sequences differ, and each one's last logits are the
// batch-1 prefill's logits over that sequence's own tokens (the prompt and
// every generated id but the last): a sequence that attended over another
// one's cache rows would not match.
TEST_P(BatchedDecode, SampledSequencesDifferAndEachSeesOnlyItsOwnTokens) {
  const BatchCase k = GetParam();
  auto cfg = preset(k.preset);
  ASSERT_TRUE(cfg.ok()) << cfg.why();
  SeededSource src(*cfg, seeded(DType::f32));
  const auto sampling = [](GenerateRequest& r) {
    r.sample = true;
    r.temperature = 2.0f;
    r.seed = 9;
  };
  const DeviceRun many =
      run_on_device(*cfg, src, HIX_VGPU_DT_F32, kPrompt, kNew, std::nullopt, sampling, k.batch);
  std::set<std::vector<std::int32_t>> distinct;
  for (std::uint32_t b = 0; b < k.batch; ++b) {
    const auto seq = sequence_of(many, {kPrompt.size(), k.batch, b});
    ASSERT_EQ(seq.size(), kPrompt.size() + kNew);
    distinct.insert(seq);
    for (const auto id : seq) ASSERT_TRUE(id >= 0 && id < static_cast<std::int32_t>(cfg->vocab));
    // The batch-1 prefill of everything that chose the last token.
    const std::vector<std::int32_t> fed(seq.begin(), seq.end() - 1);
    const DeviceRun alone = run_on_device(*cfg, src, HIX_VGPU_DT_F32, fed, 1);
    for (std::uint32_t j = 0; j < cfg->vocab; ++j) {
      ASSERT_NEAR(many.logits[std::size_t{b} * cfg->vocab + j], alone.logits[j],
                  1e-4 * (1 + std::abs(alone.logits[j])))
          << "sequence " << b << " logit " << j;
    }
  }
  EXPECT_GT(distinct.size(), 1u) << "sampling at temperature 2 gave every sequence the same ids";
}

INSTANTIATE_TEST_SUITE_P(Shapes, BatchedDecode,
                         ::testing::Values(BatchCase{"tiny-gpt2", 3}, BatchCase{"tiny-llama", 4},
                                           BatchCase{"tiny-llama3-scaled", 2},
                                           BatchCase{"tiny-qwen2", 8}),
                         [](const auto& param_info) {
                           std::string n = param_info.param.preset;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n + "_batch_" + std::to_string(param_info.param.batch);
                         });

// The batched program's own limits: no eos stop, the plan's batch bounded,
// and the batch-1 plan (and so every batch-1 program) unchanged by the
// batch option's default.
TEST(BatchedPlan, RefusesEosAndOutOfRangeBatchesAndKeepsTheBatchOnePlan) {
  auto cfg = preset("tiny-llama");
  ASSERT_TRUE(cfg.ok());
  RuntimeOptions opt;
  opt.max_seq = 16;
  auto one = make_plan(*cfg, opt);
  ASSERT_TRUE(one.ok()) << one.why();
  opt.batch = 4;
  auto four = make_plan(*cfg, opt);
  ASSERT_TRUE(four.ok()) << four.why();
  ASSERT_EQ(one->buffers.size(), four->buffers.size());
  const std::uint64_t kvd = std::uint64_t{cfg->kv_heads} * cfg->head_dim;
  for (std::size_t i = 0; i < one->buffers.size(); ++i) {
    const BufferSpec& b1 = one->buffers[i];
    const BufferSpec& b4 = four->buffers[i];
    switch (b1.role) {
      case BufferRole::k_cache:
      case BufferRole::v_cache:
        EXPECT_EQ(b1.bytes, 16 * kvd * 4) << b1.name;
        EXPECT_EQ(b4.bytes, 4 * b1.bytes) << b1.name;
        break;
      case BufferRole::tokens:
      case BufferRole::logits:
        EXPECT_EQ(b4.bytes, 4 * b1.bytes) << b1.name;
        break;
      default:
        EXPECT_EQ(b4.bytes, b1.bytes) << b1.name << ": 16 rows hold 4 sequences";
    }
  }
  std::vector<std::uint32_t> handles(four->buffers.size());
  for (std::size_t i = 0; i < handles.size(); ++i) handles[i] = static_cast<std::uint32_t>(i + 1);
  GenerateRequest r;
  r.prompt_len = 5;
  r.n_new = 4;
  r.tokens_tensor_id = vgpu::kDeviceTensorBit | 1;
  EXPECT_TRUE(build_batch_generate_program(*four, handles, r).ok());
  r.batch = 5;  // more sequences than the plan has caches for
  auto five = build_batch_generate_program(*four, handles, r);
  ASSERT_FALSE(five.ok());
  EXPECT_NE(five.why().find("plan holds 4"), std::string::npos) << five.why();
  r.batch = 3;
  EXPECT_TRUE(build_batch_generate_program(*four, handles, r).ok());
  r.batch = 0;
  r.eos = 2;
  auto eos = build_batch_generate_program(*four, handles, r);
  ASSERT_FALSE(eos.ok());
  EXPECT_NE(eos.why().find("eos"), std::string::npos) << eos.why();
  r.eos.reset();
  r.n_new = 12;  // 5 + 12 > max_seq
  EXPECT_FALSE(build_batch_generate_program(*four, handles, r).ok());
  for (const std::uint32_t bad : {0u, 65u}) {
    opt.batch = bad;
    auto p = make_plan(*cfg, opt);
    ASSERT_FALSE(p.ok()) << bad;
    EXPECT_NE(p.why().find("batch"), std::string::npos) << p.why();
  }
  // Batch 32 of the largest shape fits one command buffer (the cache copies
  // included).
  auto big = preset("llama-8b");
  ASSERT_TRUE(big.ok());
  RuntimeOptions bo;
  bo.max_seq = 2048;
  bo.batch = 32;
  auto bp = make_plan(*big, bo);
  ASSERT_TRUE(bp.ok()) << bp.why();
  std::vector<std::uint32_t> hs(bp->buffers.size(), 1);
  GenerateRequest br;
  br.prompt_len = 16;
  br.n_new = 128;
  br.tokens_tensor_id = vgpu::kDeviceTensorBit | 1;
  auto prog = build_batch_generate_program(*bp, hs, br);
  EXPECT_TRUE(prog.ok()) << prog.why();
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
