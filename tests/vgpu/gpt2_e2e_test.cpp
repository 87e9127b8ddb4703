// A tiny GPT-2-shaped model run end to end on the device, in protected mode:
// the weights and the prompt arrive sealed (DMA_IN_DECRYPT), one
// authenticated command buffer runs the prefill and a device-side
// generation loop (LOOP, scalar registers, indexed references, KV caches),
// and the tokens and last logits leave sealed (DMA_OUT_ENCRYPT). The result
// is compared with a plain reference written here: a double-precision
// forward pass that recomputes the whole sequence for every token (no KV
// cache), greedy decoding.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <set>

#include "fake_bus.hpp"
#include "sealed_chunk.hpp"

// Shapes are small uint32 constants; their products widen exactly.
// NOLINTBEGIN(bugprone-implicit-widening-of-multiplication-result)
namespace hix::vgpu::test {
namespace {

constexpr std::uint32_t kVocab = 64, kDim = 32, kHeads = 4, kHeadDim = kDim / kHeads, kLayers = 2,
                        kSeq = 24, kMlp = 4 * kDim, kPrompt = 5, kGenerate = 10;

// Element offsets of every parameter in one packed weight tensor.
struct Layout {
  struct LayerOffsets {
    std::size_t ln1_g, ln1_b, wq, bq, wk, bk, wv, bv, wo, bo, ln2_g, ln2_b, w1, b1, w2, b2;
  };
  std::size_t wte, wpe, lnf_g, lnf_b, total = 0;
  std::vector<LayerOffsets> layers;

  Layout() {
    auto take = [this](std::size_t n) {
      const std::size_t at = total;
      total += n;
      return at;
    };
    wte = take(kVocab * kDim);
    wpe = take(kSeq * kDim);
    for (std::uint32_t l = 0; l < kLayers; ++l) {
      LayerOffsets o{};
      o.ln1_g = take(kDim);
      o.ln1_b = take(kDim);
      o.wq = take(kDim * kDim);
      o.bq = take(kDim);
      o.wk = take(kDim * kDim);
      o.bk = take(kDim);
      o.wv = take(kDim * kDim);
      o.bv = take(kDim);
      o.wo = take(kDim * kDim);
      o.bo = take(kDim);
      o.ln2_g = take(kDim);
      o.ln2_b = take(kDim);
      o.w1 = take(kMlp * kDim);
      o.b1 = take(kMlp);
      o.w2 = take(kDim * kMlp);
      o.b2 = take(kDim);
      layers.push_back(o);
    }
    lnf_g = take(kDim);
    lnf_b = take(kDim);
  }
};

std::vector<float> make_weights(const Layout& lay, std::uint8_t dtype) {
  std::mt19937 g(2024);
  std::normal_distribution<float> n(0.0f, 0.2f);
  std::vector<float> w(lay.total);
  for (auto& x : w) x = n(g);
  // Strong positional embeddings keep greedy decoding from settling on one
  // token, so the comparison covers varied tokens.
  for (std::size_t i = 0; i < kSeq * kDim; ++i) w[lay.wpe + i] *= 6.0f;
  const auto ones = [&](std::size_t at) {
    for (std::size_t i = 0; i < kDim; ++i) w[at + i] = 1.0f + 0.1f * w[at + i];
  };
  for (const auto& o : lay.layers) {
    ones(o.ln1_g);
    ones(o.ln2_g);
  }
  ones(lay.lnf_g);
  if (dtype == HIX_VGPU_DT_BF16) {
    for (auto& x : w) x = bf16_to_f32(f32_to_bf16(x));
  }
  return w;
}

// ---- the plain reference -------------------------------------------------

using Mat = std::vector<double>;  // row-major

// y[rows, out] = x[rows, in] W^T + b, with W at w[wo..] and b at w[bo..].
struct LinearRef {
  std::size_t rows = 0;
  std::size_t in = 0;
  std::size_t out = 0;
  std::size_t wo = 0;
  std::size_t bo = 0;
};

Mat linear(const Mat& x, const std::vector<float>& w, const LinearRef& l) {
  const std::size_t rows = l.rows;
  const std::size_t in = l.in;
  const std::size_t wo = l.wo;
  const std::size_t bo = l.bo;
  const std::size_t out = l.out;
  Mat y(rows * out);
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t j = 0; j < out; ++j) {
      double s = w[bo + j];
      for (std::size_t i = 0; i < in; ++i) s += x[r * in + i] * w[wo + j * in + i];
      y[r * out + j] = s;
    }
  }
  return y;
}

Mat layer_norm(const Mat& x, std::size_t rows, const std::vector<float>& w, std::size_t g,
               std::size_t b) {
  Mat y(x.size());
  for (std::size_t r = 0; r < rows; ++r) {
    double mean = 0, var = 0;
    for (std::size_t c = 0; c < kDim; ++c) mean += x[r * kDim + c];
    mean /= kDim;
    for (std::size_t c = 0; c < kDim; ++c) var += std::pow(x[r * kDim + c] - mean, 2);
    var /= kDim;
    for (std::size_t c = 0; c < kDim; ++c) {
      y[r * kDim + c] = (x[r * kDim + c] - mean) / std::sqrt(var + 1e-5) * w[g + c] + w[b + c];
    }
  }
  return y;
}

// Logits of the last position for the token sequence `toks`.
std::vector<double> reference_logits(const std::vector<float>& w, const Layout& lay,
                                     const std::vector<std::int32_t>& toks) {
  const std::size_t t = toks.size();
  Mat x(t * kDim);
  for (std::size_t p = 0; p < t; ++p) {
    for (std::size_t c = 0; c < kDim; ++c) {
      x[p * kDim + c] =
          double(w[lay.wte + std::size_t(toks[p]) * kDim + c]) + w[lay.wpe + p * kDim + c];
    }
  }
  for (const auto& o : lay.layers) {
    const Mat h = layer_norm(x, t, w, o.ln1_g, o.ln1_b);
    const Mat q = linear(h, w, {.rows = t, .in = kDim, .out = kDim, .wo = o.wq, .bo = o.bq});
    const Mat k = linear(h, w, {.rows = t, .in = kDim, .out = kDim, .wo = o.wk, .bo = o.bk});
    const Mat v = linear(h, w, {.rows = t, .in = kDim, .out = kDim, .wo = o.wv, .bo = o.bv});
    Mat att(t * kDim, 0.0);
    for (std::size_t hd = 0; hd < kHeads; ++hd) {
      for (std::size_t i = 0; i < t; ++i) {
        std::vector<double> s(i + 1);
        double mx = -1e300, sum = 0;
        for (std::size_t j = 0; j <= i; ++j) {
          double d = 0;
          for (std::size_t c = 0; c < kHeadDim; ++c) {
            d += q[i * kDim + hd * kHeadDim + c] * k[j * kDim + hd * kHeadDim + c];
          }
          s[j] = d / std::sqrt(double(kHeadDim));
          mx = std::max(mx, s[j]);
        }
        for (auto& e : s) sum += (e = std::exp(e - mx));
        for (std::size_t j = 0; j <= i; ++j) {
          for (std::size_t c = 0; c < kHeadDim; ++c) {
            att[i * kDim + hd * kHeadDim + c] += s[j] / sum * v[j * kDim + hd * kHeadDim + c];
          }
        }
      }
    }
    const Mat proj = linear(att, w, {.rows = t, .in = kDim, .out = kDim, .wo = o.wo, .bo = o.bo});
    for (std::size_t i = 0; i < x.size(); ++i) x[i] += proj[i];
    const Mat h2 = layer_norm(x, t, w, o.ln2_g, o.ln2_b);
    Mat m = linear(h2, w, {.rows = t, .in = kDim, .out = kMlp, .wo = o.w1, .bo = o.b1});
    for (auto& e : m) {
      e = 0.5 * e * (1 + std::tanh(std::sqrt(2 / M_PI) * (e + 0.044715 * e * e * e)));
    }
    const Mat down = linear(m, w, {.rows = t, .in = kMlp, .out = kDim, .wo = o.w2, .bo = o.b2});
    for (std::size_t i = 0; i < x.size(); ++i) x[i] += down[i];
  }
  const Mat hf = layer_norm(x, t, w, lay.lnf_g, lay.lnf_b);
  std::vector<double> logits(kVocab);
  for (std::size_t j = 0; j < kVocab; ++j) {
    double s = 0;
    for (std::size_t c = 0; c < kDim; ++c) s += hf[(t - 1) * kDim + c] * w[lay.wte + j * kDim + c];
    logits[j] = s;
  }
  return logits;
}

// ---- the device program --------------------------------------------------

struct Buffers {
  std::uint32_t weights, tokens, x, h, q, k, v, att, tmp, mlp, logits;
  std::vector<std::uint32_t> kcache, vcache;
};

class ModelProgram {
 public:
  ModelProgram(const Layout& lay, const Buffers& b, std::uint8_t wdt)
      : lay_(lay), b_(b), wdt_(wdt) {}

  hix_vgpu_tref w(std::size_t elem) const {
    return tref(b_.weights, wdt_, elem * hix_vgpu_dtype_bytes(wdt_));
  }
  static hix_vgpu_tref f(std::uint32_t h, std::size_t elem = 0) {
    return tref(h, HIX_VGPU_DT_F32, elem * 4);
  }

  // out[rows, n] (+)= in[rows, k] W^T + b.
  struct MatmulShape {
    std::uint32_t rows = 0;
    std::uint32_t n = 0;
    std::uint32_t k = 0;
  };

  void linear(CmdbufBuilder& cb, hix_vgpu_tref out, hix_vgpu_tref in, std::size_t wo,
              std::size_t bo, MatmulShape shape, bool accumulate) const {
    const std::uint32_t rows = shape.rows;
    const std::uint32_t n = shape.n;
    const std::uint32_t k = shape.k;
    hix_vgpu_op_matmul r{};
    r.h.flags = HIX_VGPU_MATMUL_TRANS_B | (accumulate ? HIX_VGPU_MATMUL_ACCUMULATE : 0);
    r.out = out;
    r.a = in;
    r.b = w(wo);
    r.bias = w(bo);
    r.m = rows;
    r.n = n;
    r.k = k;
    cb.add(HIX_VGPU_OP_MATMUL, r);
  }
  void layer_norm(CmdbufBuilder& cb, std::uint32_t out, std::uint32_t in, std::size_t g,
                  std::size_t b, std::uint32_t rows) const {
    hix_vgpu_op_layernorm r{};
    r.out = f(out);
    r.x = f(in);
    r.gamma = w(g);
    r.beta = w(b);
    r.rows = rows;
    r.cols = kDim;
    r.eps = 1e-5f;
    cb.add(HIX_VGPU_OP_LAYERNORM, r);
  }

  // The transformer over `rows` tokens whose embeddings are in x, the first
  // at position R1; increments R0 and leaves the next token in tokens[R0].
  void body(CmdbufBuilder& cb, std::uint32_t rows) const {
    for (std::size_t l = 0; l < lay_.layers.size(); ++l) {
      const auto& o = lay_.layers[l];
      layer_norm(cb, b_.h, b_.x, o.ln1_g, o.ln1_b, rows);
      linear(cb, f(b_.q), f(b_.h), o.wq, o.bq, {.rows = rows, .n = kDim, .k = kDim}, false);
      linear(cb, f(b_.k), f(b_.h), o.wk, o.bk, {.rows = rows, .n = kDim, .k = kDim}, false);
      linear(cb, f(b_.v), f(b_.h), o.wv, o.bv, {.rows = rows, .n = kDim, .k = kDim}, false);
      hix_vgpu_op_attention a{};
      a.out = f(b_.att);
      a.q = f(b_.q);
      a.k = f(b_.k);
      a.v = f(b_.v);
      a.k_cache = f(b_.kcache[l]);
      a.v_cache = f(b_.vcache[l]);
      a.tokens = rows;
      a.q_heads = kHeads;
      a.kv_heads = kHeads;
      a.head_dim = kHeadDim;
      a.max_seq = kSeq;
      a.pos = 0;
      a.pos_reg = 1;
      a.scale = 1.0f / std::sqrt(float(kHeadDim));
      cb.add(HIX_VGPU_OP_ATTENTION, a);
      linear(cb, f(b_.x), f(b_.att), o.wo, o.bo, {.rows = rows, .n = kDim, .k = kDim},
             true);  // residual
      layer_norm(cb, b_.h, b_.x, o.ln2_g, o.ln2_b, rows);
      linear(cb, f(b_.mlp), f(b_.h), o.w1, o.b1, {.rows = rows, .n = kMlp, .k = kDim}, false);
      hix_vgpu_op_unary ge{};
      ge.out = ge.x = f(b_.mlp);
      ge.count = std::uint64_t{rows} * kMlp;
      cb.add(HIX_VGPU_OP_GELU, ge);
      linear(cb, f(b_.x), f(b_.mlp), o.w2, o.b2, {.rows = rows, .n = kDim, .k = kMlp},
             true);  // residual
    }
    layer_norm(cb, b_.h, b_.x, lay_.lnf_g, lay_.lnf_b, rows);
    hix_vgpu_op_matmul lm{};  // tied embeddings: logits = h[last] . wte^T
    lm.h.flags = HIX_VGPU_MATMUL_TRANS_B;
    lm.out = f(b_.logits);
    lm.a = f(b_.h, std::size_t{rows - 1} * kDim);
    lm.b = w(lay_.wte);
    lm.m = 1;
    lm.n = kVocab;
    lm.k = kDim;
    cb.add(HIX_VGPU_OP_MATMUL, lm);
    cb.add_reg(0, 1);
    hix_vgpu_op_rows am{};
    am.out = tref_indexed(b_.tokens, HIX_VGPU_DT_I32, 0, 0, 4);
    am.x = f(b_.logits);
    am.rows = 1;
    am.cols = kVocab;
    cb.add(HIX_VGPU_OP_ARGMAX, am);
  }

  // Embeddings of `rows` tokens from tokens[R0...] at positions R1...
  void embed(CmdbufBuilder& cb, std::uint32_t rows) const {
    hix_vgpu_op_embedding e{};
    e.out = f(b_.x);
    e.table = w(lay_.wte);
    e.ids = tref_indexed(b_.tokens, HIX_VGPU_DT_I32, 0, 0, 4);
    e.rows = rows;
    e.dim = kDim;
    e.vocab = kVocab;
    cb.add(HIX_VGPU_OP_EMBEDDING, e);
    hix_vgpu_tref pos = w(lay_.wpe);
    pos.index_reg = 1;
    pos.index_stride = kDim * hix_vgpu_dtype_bytes(wdt_);
    cb.copy(f(b_.tmp), pos, std::uint64_t{rows} * kDim);
    hix_vgpu_op_binary add{};
    add.out = add.a = f(b_.x);
    add.b = f(b_.tmp);
    add.n = add.nb = std::uint64_t{rows} * kDim;
    cb.add(HIX_VGPU_OP_ADD, add);
  }

 private:
  const Layout& lay_;
  const Buffers& b_;
  std::uint8_t wdt_;
};

class TinyGpt2 : public ::testing::TestWithParam<std::uint8_t> {};

TEST_P(TinyGpt2, GeneratesTheReferenceTokensOnTheDevice) {
  const std::uint8_t wdt = GetParam();
  const std::size_t wes = hix_vgpu_dtype_bytes(wdt);
  const Layout lay;
  const auto weights = make_weights(lay, wdt);
  const std::vector<std::int32_t> prompt{7, 3, 42, 11, 5};
  ASSERT_EQ(prompt.size(), kPrompt);

  // Reference: greedy decoding, full recompute each step.
  std::vector<std::int32_t> ref = prompt;
  std::vector<double> ref_logits;
  for (std::uint32_t i = 0; i < kGenerate; ++i) {
    ref_logits = reference_logits(weights, lay, ref);
    std::vector<double> sorted = ref_logits;
    std::sort(sorted.rbegin(), sorted.rend());
    ASSERT_GT(sorted[0] - sorted[1], 1e-3) << "a near tie would make the comparison fragile";
    ref.push_back(static_cast<std::int32_t>(std::max_element(ref_logits.begin(), ref_logits.end()) -
                                            ref_logits.begin()));
  }

  // A degenerate model (one token repeated) would make the comparison weak.
  EXPECT_GT(std::set<std::int32_t>(ref.begin() + kPrompt, ref.end()).size(), 2u);

  // The device, set up as the GPU enclave would: channel key, context,
  // buffers, a session key in slot 0.
  FakeBus bus(16 << 20);
  bus.start_ring();
  const Key session = make_key(42);
  bus.install_channel_key(make_key(41));
  const auto ctx = bus.create_context();
  bus.install_slot(ctx, 0, session);
  Buffers b{};
  b.weights = bus.alloc(ctx, lay.total * wes);
  b.tokens = bus.alloc(ctx, kSeq * 4);
  for (auto* h : {&b.x, &b.h, &b.q, &b.k, &b.v, &b.att, &b.tmp})
    *h = bus.alloc(ctx, kSeq * kDim * 4);
  b.mlp = bus.alloc(ctx, kSeq * kMlp * 4);
  b.logits = bus.alloc(ctx, kVocab * 4);
  for (std::uint32_t l = 0; l < kLayers; ++l) {
    b.kcache.push_back(bus.alloc(ctx, kSeq * kDim * 4));
    b.vcache.push_back(bus.alloc(ctx, kSeq * kDim * 4));
  }

  // The user seals the weights and the prompt for slot 0.
  const auto seal_to_guest = [&](std::span<const std::byte> plain, std::uint64_t id) {
    std::vector<std::byte> s(sealed_size(plain.size()));
    EXPECT_EQ(seal_tensor(s, plain, SealParams{0, id}, session), Status::ok);
    const auto gpa = bus.guest_alloc(s.size());
    bus.guest_write(gpa, s);
    return gpa;
  };
  const auto wbytes = FakeBus::encode(weights, wdt);
  const auto w_gpa = seal_to_guest(wbytes, 1);
  const auto p_gpa = seal_to_guest(std::as_bytes(std::span(prompt)), 2);

  CmdbufBuilder load;
  load.dma_crypt(HIX_VGPU_OP_DMA_IN_DECRYPT, tref(b.weights, wdt),
                 {.gpa = w_gpa, .bytes = wbytes.size()}, {.tensor_id = 1, .key_slot = 0});
  ASSERT_EQ(bus.submit(ctx, load), Status::ok);

  const ModelProgram prog(lay, b, wdt);
  CmdbufBuilder run;
  run.dma_crypt(HIX_VGPU_OP_DMA_IN_DECRYPT, tref(b.tokens, HIX_VGPU_DT_I32),
                {.gpa = p_gpa, .bytes = kPrompt * 4}, {.tensor_id = 2, .key_slot = 0});
  // Prefill: embed the prompt (tokens[0..] at positions 0..), then run the
  // model with R0 = kPrompt - 1 so that its argmax lands in tokens[kPrompt].
  run.set_reg(0, 0).set_reg(1, 0);
  prog.embed(run, kPrompt);
  run.set_reg(0, kPrompt - 1);
  prog.body(run, kPrompt);
  // The decode loop: each iteration embeds tokens[R0] at position R1 and
  // appends the next token, with no host round trip.
  run.set_reg(1, kPrompt);
  CmdbufBuilder body;
  prog.embed(body, 1);
  prog.body(body, 1);
  body.add_reg(1, 1);
  run.loop({.count = kGenerate - 1, .body_ops = body.op_count()}).append(body);
  const std::uint64_t out_gpa = bus.guest_alloc(sealed_size(kSeq * 4));
  const std::uint64_t logits_gpa = bus.guest_alloc(sealed_size(kVocab * 4));
  run.dma_crypt(HIX_VGPU_OP_DMA_OUT_ENCRYPT, tref(b.tokens, HIX_VGPU_DT_I32),
                {.gpa = out_gpa, .bytes = kSeq * 4},
                {.tensor_id = kDeviceTensorBit | 1, .key_slot = 0});
  run.dma_crypt(HIX_VGPU_OP_DMA_OUT_ENCRYPT, tref(b.logits, HIX_VGPU_DT_F32),
                {.gpa = logits_gpa, .bytes = kVocab * 4},
                {.tensor_id = kDeviceTensorBit | 2, .key_slot = 0});
  const auto full = run.finish();
  ASSERT_EQ(bus.submit(ctx, full), Status::ok) << "op " << (bus.reg(Reg32::last_error) >> 16);

  // The user opens the results.
  std::vector<std::int32_t> tokens(kSeq);
  ASSERT_EQ(open_tensor(std::as_writable_bytes(std::span(tokens)),
                        bus.guest(out_gpa, sealed_size(kSeq * 4)),
                        SealParams{0, kDeviceTensorBit | 1}, session),
            Status::ok);
  std::vector<float> logits(kVocab);
  ASSERT_EQ(open_tensor(std::as_writable_bytes(std::span(logits)),
                        bus.guest(logits_gpa, sealed_size(kVocab * 4)),
                        SealParams{0, kDeviceTensorBit | 2}, session),
            Status::ok);
  tokens.resize(kPrompt + kGenerate);
  EXPECT_EQ(tokens, ref);
  for (std::uint32_t j = 0; j < kVocab; ++j) {
    EXPECT_NEAR(logits[j], ref_logits[j], 2e-3) << "logit " << j;
  }
  EXPECT_EQ(bus.reg(Reg32::ring_forged) + bus.reg(Reg32::exec_errors), 0u);
}

INSTANTIATE_TEST_SUITE_P(Weights, TinyGpt2, ::testing::Values(HIX_VGPU_DT_F32, HIX_VGPU_DT_BF16),
                         [](const auto& param_info) {
                           return std::string(param_info.param == HIX_VGPU_DT_F32 ? "f32" : "bf16");
                         });

}  // namespace
}  // namespace hix::vgpu::test
// NOLINTEND(bugprone-implicit-widening-of-multiplication-result)
