// The cpu backend's tensor ISA (spec §6.4), op by op, through command
// buffers on the device, against values computed here independently (in
// double precision, straight from the formulas) and a few published values.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>
#include <random>
#include <span>

#include "fake_bus.hpp"

// Shapes here are small uint32 constants, as in the op records; their
// products widen to size_t exactly.
// NOLINTBEGIN(bugprone-implicit-widening-of-multiplication-result)
namespace hix::vgpu::test {
namespace {

std::vector<float> randv(std::size_t n, std::uint32_t seed, float lo = -2.0f, float hi = 2.0f) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

std::vector<float> round_bf16(std::vector<float> v) {
  for (auto& x : v) x = bf16_to_f32(f32_to_bf16(x));
  return v;
}

void expect_near(const std::vector<float>& got, const std::vector<double>& want, double tol) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    ASSERT_NEAR(got[i], want[i], tol * std::max(1.0, std::fabs(want[i]))) << "element " << i;
  }
}

std::uint32_t bits(float f) {
  std::uint32_t b = 0;
  std::memcpy(&b, &f, 4);
  return b;
}

// One context, buffers on demand, ops run through the ring in plain mode.
class Ops : public ::testing::TestWithParam<std::uint8_t> {
 protected:
  void SetUp() override {
    bus.start_ring();
    ctx = bus.create_context();
  }
  std::uint8_t dt() const { return GetParam(); }
  double tol() const { return dt() == HIX_VGPU_DT_BF16 ? 1e-2 : 2e-5; }
  // Input as stored: bf16 inputs are rounded before the reference sees them.
  std::vector<float> stored(std::vector<float> v) const {
    return dt() == HIX_VGPU_DT_BF16 ? round_bf16(std::move(v)) : v;
  }
  std::uint32_t put(const std::vector<float>& v) {
    const auto h = bus.alloc(ctx, v.size() * 4);
    bus.upload({.ctx = ctx, .handle = h}, v, dt());
    return h;
  }
  std::uint32_t put_i32(const std::vector<std::int32_t>& v) {
    const auto h = bus.alloc(ctx, v.size() * 4);
    bus.upload_i32({.ctx = ctx, .handle = h}, v);
    return h;
  }
  std::uint32_t out(std::size_t n) { return bus.alloc(ctx, n * 4); }
  std::vector<float> get(std::uint32_t h, std::size_t n) {
    return bus.download({.ctx = ctx, .handle = h}, n, dt());
  }
  hix_vgpu_tref t(std::uint32_t h) const { return tref(h, dt()); }
  template <class Rec>
  void run(std::uint16_t opcode, const Rec& r) {
    CmdbufBuilder b;
    b.add(opcode, r);
    ASSERT_EQ(bus.submit(ctx, b), Status::ok);
  }

  FakeBus bus{8 << 20};
  std::uint32_t ctx = 0;
};

TEST_P(Ops, FillAndCopyConvert) {
  const auto h = out(8);
  CmdbufBuilder b;
  b.fill(t(h), 8, bits(1.00390625f));  // halfway between two bf16 values: rounds to even
  ASSERT_EQ(bus.submit(ctx, b), Status::ok);
  const float want = dt() == HIX_VGPU_DT_BF16 ? 1.0f : 1.00390625f;
  EXPECT_EQ(get(h, 8), std::vector<float>(8, want));
  const auto src = randv(8, 1);
  const auto hs = bus.alloc(ctx, 32);
  bus.upload({.ctx = ctx, .handle = hs}, src, HIX_VGPU_DT_F32);
  CmdbufBuilder c;
  c.copy(t(h), tref(hs, HIX_VGPU_DT_F32), 8);
  ASSERT_EQ(bus.submit(ctx, c), Status::ok);
  EXPECT_EQ(get(h, 8), stored(src));
}

TEST_P(Ops, Embedding) {
  const std::uint32_t vocab = 10, dim = 6;
  const auto table = stored(randv(vocab * dim, 2));
  const std::vector<std::int32_t> ids{3, 0, 9, 3};
  const auto ht = put(table);
  const auto hi = put_i32(ids);
  const auto ho = out(ids.size() * dim);
  hix_vgpu_op_embedding r{};
  r.out = t(ho);
  r.table = t(ht);
  r.ids = tref(hi, HIX_VGPU_DT_I32);
  r.rows = 4;
  r.dim = dim;
  r.vocab = vocab;
  run(HIX_VGPU_OP_EMBEDDING, r);
  std::vector<double> want;
  for (const auto id : ids) {
    for (std::uint32_t d = 0; d < dim; ++d) want.push_back(table[std::size_t(id) * dim + d]);
  }
  expect_near(get(ho, want.size()), want, 0);
  // An id outside the vocabulary is an execution error, not a read past the table.
  const auto bad = put_i32({10});
  r.ids = tref(bad, HIX_VGPU_DT_I32);
  r.rows = 1;
  CmdbufBuilder b;
  b.add(HIX_VGPU_OP_EMBEDDING, r);
  EXPECT_EQ(bus.submit(ctx, b), Status::index_out_of_range);
}

TEST_P(Ops, MatmulBothLayoutsBiasAndAccumulate) {
  const std::uint32_t m = 3, n = 5, k = 7;
  const auto a = stored(randv(m * k, 3));
  const auto bkn = stored(randv(k * n, 4));
  const auto bias = stored(randv(n, 5));
  std::vector<float> bnk(n * k);
  for (std::uint32_t p = 0; p < k; ++p) {
    for (std::uint32_t j = 0; j < n; ++j) bnk[j * k + p] = bkn[p * n + j];
  }
  std::vector<double> want(m * n);
  for (std::uint32_t i = 0; i < m; ++i) {
    for (std::uint32_t j = 0; j < n; ++j) {
      double s = bias[j];
      for (std::uint32_t p = 0; p < k; ++p) s += double(a[i * k + p]) * bkn[p * n + j];
      want[i * n + j] = s;
    }
  }
  const auto ha = put(a), hb = put(bkn), hbt = put(bnk), hbias = put(bias);
  for (const bool trans : {false, true}) {
    const auto ho = out(m * n);
    hix_vgpu_op_matmul r{};
    r.h.flags = trans ? HIX_VGPU_MATMUL_TRANS_B : 0;
    r.out = t(ho);
    r.a = t(ha);
    r.b = t(trans ? hbt : hb);
    r.bias = t(hbias);
    r.m = m;
    r.n = n;
    r.k = k;
    run(HIX_VGPU_OP_MATMUL, r);
    const auto got = get(ho, m * n);
    expect_near(got, want, tol() * 4);
    // ACCUMULATE without bias adds a·b to what is there.
    r.h.flags |= HIX_VGPU_MATMUL_ACCUMULATE;
    r.bias = hix_vgpu_tref{};
    run(HIX_VGPU_OP_MATMUL, r);
    std::vector<double> twice(m * n);
    for (std::size_t i = 0; i < twice.size(); ++i) {
      twice[i] = got[i] + (want[i] - bias[i % n]);
    }
    expect_near(get(ho, m * n), twice, tol() * 4);
  }
}

TEST_P(Ops, AddAndMulBroadcastARow) {
  const auto a = stored(randv(12, 6));
  const auto b = stored(randv(4, 7));
  const auto ha = put(a), hb = put(b);
  for (const std::uint16_t op : {std::uint16_t{HIX_VGPU_OP_ADD}, std::uint16_t{HIX_VGPU_OP_MUL}}) {
    const auto ho = out(12);
    hix_vgpu_op_binary r{};
    r.out = t(ho);
    r.a = t(ha);
    r.b = t(hb);
    r.n = 12;
    r.nb = 4;
    run(op, r);
    std::vector<double> want(12);
    for (std::size_t i = 0; i < 12; ++i) {
      want[i] = op == HIX_VGPU_OP_ADD ? double(a[i]) + b[i % 4] : double(a[i]) * b[i % 4];
    }
    expect_near(get(ho, 12), want, tol());
  }
}

TEST_P(Ops, LayerNormAndRmsNorm) {
  const std::uint32_t rows = 3, cols = 16;
  const auto x = stored(randv(rows * cols, 8, -3, 5));
  const auto g = stored(randv(cols, 9));
  const auto be = stored(randv(cols, 10));
  const auto hx = put(x), hg = put(g), hb = put(be), ho = out(rows * cols), hr = out(rows * cols);
  hix_vgpu_op_layernorm ln{};
  ln.out = t(ho);
  ln.x = t(hx);
  ln.gamma = t(hg);
  ln.beta = t(hb);
  ln.rows = rows;
  ln.cols = cols;
  ln.eps = 1e-5f;
  run(HIX_VGPU_OP_LAYERNORM, ln);
  hix_vgpu_op_rmsnorm rn{};
  rn.out = t(hr);
  rn.x = t(hx);
  rn.gamma = t(hg);
  rn.rows = rows;
  rn.cols = cols;
  rn.eps = 1e-6f;
  run(HIX_VGPU_OP_RMSNORM, rn);
  std::vector<double> wl, wr;
  for (std::uint32_t r = 0; r < rows; ++r) {
    double mean = 0, var = 0, ss = 0;
    for (std::uint32_t c = 0; c < cols; ++c) mean += x[r * cols + c];
    mean /= cols;
    for (std::uint32_t c = 0; c < cols; ++c) {
      const double d = x[r * cols + c] - mean;
      var += d * d;
      ss += double(x[r * cols + c]) * x[r * cols + c];
    }
    var /= cols;
    for (std::uint32_t c = 0; c < cols; ++c) {
      wl.push_back((x[r * cols + c] - mean) / std::sqrt(var + 1e-5) * g[c] + be[c]);
      wr.push_back(x[r * cols + c] / std::sqrt(ss / cols + 1e-6) * g[c]);
    }
  }
  expect_near(get(ho, rows * cols), wl, tol() * 2);
  expect_near(get(hr, rows * cols), wr, tol() * 2);
}

TEST_P(Ops, GeluAndSiluMatchPublishedValues) {
  const std::vector<float> x{-3.0f, -1.0f, 0.0f, 0.5f, 1.0f, 2.0f};
  const auto hx = put(x), hg = out(6), hs = out(6);
  hix_vgpu_op_unary r{};
  r.x = t(hx);
  r.count = 6;
  r.out = t(hg);
  run(HIX_VGPU_OP_GELU, r);
  r.out = t(hs);
  run(HIX_VGPU_OP_SILU, r);
  // GPT-2's tanh GELU and x*sigmoid(x), to 7 digits.
  expect_near(get(hg, 6), {-0.0036373, -0.1588080, 0.0, 0.3457140, 0.8411920, 1.9545977},
              std::max(tol(), 1e-6));
  expect_near(get(hs, 6), {-0.1422776, -0.2689414, 0.0, 0.3112297, 0.7310586, 1.7615942},
              std::max(tol(), 1e-6));
}

TEST_P(Ops, SoftmaxArgmax) {
  const std::vector<float> x{1, 2, 3, 0, 5, 5, -1, 0};
  const auto hx = put(x), ho = out(8), ha = out(2);
  hix_vgpu_op_rows r{};
  r.x = t(hx);
  r.rows = 2;
  r.cols = 4;
  r.out = t(ho);
  run(HIX_VGPU_OP_SOFTMAX, r);
  const double e = std::exp(1.0);
  const double s1 = 1 + e + e * e + 1 / e;  // row 0 shifted by -1: e^0, e^1, e^2, e^-1
  const double s2 = 2 * std::exp(5.0) + std::exp(-1.0) + 1;
  expect_near(get(ho, 8),
              {1 / s1, e / s1, e * e / s1, 1 / e / s1, std::exp(5.0) / s2, std::exp(5.0) / s2,
               std::exp(-1.0) / s2, 1 / s2},
              tol());
  r.out = tref(ha, HIX_VGPU_DT_I32);
  run(HIX_VGPU_OP_ARGMAX, r);
  EXPECT_EQ(bus.download_i32({.ctx = ctx, .handle = ha}, 2), (std::vector<std::int32_t>{2, 0}))
      << "ties go to the lower index";
}

// RoPE's reference: x [tokens, heads, hd] with pair i (i < inv_freq.size())
// of token t rotated by (pos + t) * inv_freq[i] (rotate-half form); the other
// dims as they were.
struct RopeShapeRef {
  std::uint32_t tokens, heads, hd, pos;
};
std::vector<double> rotated(const std::vector<float>& x, RopeShapeRef s,
                            const std::vector<double>& inv_freq) {
  std::vector<double> want(x.begin(), x.end());
  const std::size_t half = inv_freq.size();
  for (std::uint32_t tk = 0; tk < s.tokens; ++tk) {
    for (std::uint32_t h = 0; h < s.heads; ++h) {
      const std::size_t base = (std::size_t{tk} * s.heads + h) * s.hd;
      for (std::size_t i = 0; i < half; ++i) {
        const double ang = (s.pos + tk) * inv_freq[i];
        const double x1 = x[base + i], x2 = x[base + i + half];
        want[base + i] = x1 * std::cos(ang) - x2 * std::sin(ang);
        want[base + i + half] = x2 * std::cos(ang) + x1 * std::sin(ang);
      }
    }
  }
  return want;
}

TEST_P(Ops, RopeRotatesPairsAtEachTokensPosition) {
  const std::uint32_t tokens = 3, heads = 2, hd = 8, rot = 6, pos = 5;
  const float theta = 10000.0f;
  const auto x = stored(randv(tokens * heads * hd, 11));
  const auto hx = put(x), ho = out(x.size());
  hix_vgpu_op_rope r{};
  r.out = t(ho);
  r.x = t(hx);
  r.tokens = tokens;
  r.heads = heads;
  r.head_dim = hd;
  r.rot_dim = rot;
  r.pos = pos;
  r.pos_reg = HIX_VGPU_REG_NONE;
  r.theta = theta;
  run(HIX_VGPU_OP_ROPE, r);
  std::vector<double> inv_freq(rot / 2);
  for (std::uint32_t i = 0; i < rot / 2; ++i)
    inv_freq[i] = 1 / std::pow(double(theta), 2.0 * i / rot);
  expect_near(get(ho, x.size()),
              rotated(x, {.tokens = tokens, .heads = heads, .hd = hd, .pos = pos}, inv_freq),
              tol());
}

// Llama 3's frequencies, straight from transformers' _compute_llama3_parameters:
// long wavelengths divided by factor, short ones kept, the band between
// blended. `band` counts the pairs of each kind (0 kept, 1 blended, 2 scaled).
double llama3_reference_inv_freq(double theta, std::uint32_t i, std::uint32_t rot,
                                 const hix_vgpu_op_rope_llama3& r, std::array<int, 3>& band) {
  const double inv = 1.0 / std::pow(theta, 2.0 * i / rot);
  const double wavelen = 2 * M_PI / inv;
  const double old_ctx = r.original_max_pos;
  const double low_wavelen = old_ctx / r.low_freq_factor;
  const double high_wavelen = old_ctx / r.high_freq_factor;
  const double scaled = wavelen > low_wavelen ? inv / r.factor : inv;
  const double smooth = (old_ctx / wavelen - r.low_freq_factor) /
                        (double(r.high_freq_factor) - double(r.low_freq_factor));
  const bool medium = !(wavelen < high_wavelen) && !(wavelen > low_wavelen);
  ++band[medium ? 1 : wavelen > low_wavelen ? 2 : 0];
  return medium ? (1 - smooth) * scaled / r.factor + smooth * scaled : scaled;
}

TEST_P(Ops, RopeLlama3ScalesLongWavelengthsKeepsShortOnesAndBlendsTheBandBetween) {
  const std::uint32_t tokens = 4, heads = 3, hd = 16, pos = 700;
  const float theta = 10000.0f;
  const auto x = stored(randv(tokens * heads * hd, 12));
  const auto hx = put(x), ho = out(x.size());
  hix_vgpu_op_rope_llama3 r{};
  r.out = t(ho);
  r.x = t(hx);
  r.tokens = tokens;
  r.heads = heads;
  r.head_dim = hd;
  r.rot_dim = hd;
  r.pos = pos;
  r.pos_reg = HIX_VGPU_REG_NONE;
  r.theta = theta;
  // Wavelengths 2pi*10000^(i/8): kept below 1024/8, scaled above 1024/1.
  r.factor = 8.0f;
  r.low_freq_factor = 1.0f;
  r.high_freq_factor = 8.0f;
  r.original_max_pos = 1024;
  run(HIX_VGPU_OP_ROPE_LLAMA3, r);
  std::array<int, 3> band{};
  std::vector<double> inv_freq(hd / 2);
  for (std::uint32_t i = 0; i < hd / 2; ++i) {
    inv_freq[i] = llama3_reference_inv_freq(theta, i, hd, r, band);
  }
  EXPECT_EQ(band, (std::array<int, 3>{3, 2, 3})) << "every band holds pairs";
  expect_near(get(ho, x.size()),
              rotated(x, {.tokens = tokens, .heads = heads, .hd = hd, .pos = pos}, inv_freq),
              tol());
}

TEST_P(Ops, RopeLlama3RefusesBandsThatCannotBeBlended) {
  const auto hx = put(std::vector<float>(16, 1.0f));
  hix_vgpu_op_rope_llama3 r{};
  r.out = r.x = t(hx);
  r.tokens = r.heads = 1;
  r.head_dim = r.rot_dim = 16;
  r.pos_reg = HIX_VGPU_REG_NONE;
  r.theta = 10000.0f;
  r.factor = 8.0f;
  r.low_freq_factor = 4.0f;
  r.high_freq_factor = 4.0f;  // no band between: the blend would divide by zero
  r.original_max_pos = 1024;
  const auto submit = [&] {
    CmdbufBuilder b;
    b.add(HIX_VGPU_OP_ROPE_LLAMA3, r);
    return bus.submit(ctx, b);
  };
  EXPECT_EQ(submit(), Status::invalid_arg);
  r.high_freq_factor = 4.5f;
  r.original_max_pos = 0;
  EXPECT_EQ(submit(), Status::invalid_arg);
  r.original_max_pos = 1024;
  r.factor = 0.0f;  // not positive
  EXPECT_EQ(submit(), Status::invalid_arg);
  r.factor = 8.0f;
  r.rot_dim = 18;  // wider than the head
  EXPECT_EQ(submit(), Status::bad_shape);
  r.rot_dim = 16;
  EXPECT_EQ(submit(), Status::ok);
}

// Reference causal attention with a cache, computed from scratch each time.
// Tokens [first, first + tokens) of hq query heads over hkv kv heads of hd.
struct AttentionShape {
  std::uint32_t first = 0;
  std::uint32_t tokens = 0;
  std::uint32_t hq = 0;
  std::uint32_t hkv = 0;
  std::uint32_t hd = 0;
};

std::vector<double> ref_attention(const std::vector<float>& q_all, const std::vector<float>& k_all,
                                  const std::vector<float>& v_all, AttentionShape shape,
                                  double scale) {
  const std::uint32_t first = shape.first;
  const std::uint32_t tokens = shape.tokens;
  const std::uint32_t hq = shape.hq;
  const std::uint32_t hkv = shape.hkv;
  const std::uint32_t hd = shape.hd;
  std::vector<double> out;
  for (std::uint32_t tk = first; tk < first + tokens; ++tk) {
    for (std::uint32_t h = 0; h < hq; ++h) {
      const std::uint32_t g = h / (hq / hkv);
      std::vector<double> s(tk + 1);
      double mx = -1e300;
      for (std::uint32_t j = 0; j <= tk; ++j) {
        double d = 0;
        for (std::uint32_t c = 0; c < hd; ++c) {
          d += double(q_all[(tk * hq + h) * hd + c]) * k_all[(j * hkv + g) * hd + c];
        }
        s[j] = d * scale;
        mx = std::max(mx, s[j]);
      }
      double sum = 0;
      for (auto& w : s) sum += (w = std::exp(w - mx));
      for (std::uint32_t c = 0; c < hd; ++c) {
        double o = 0;
        for (std::uint32_t j = 0; j <= tk; ++j) o += s[j] / sum * v_all[(j * hkv + g) * hd + c];
        out.push_back(o);
      }
    }
  }
  return out;
}

TEST_P(Ops, CausalAttentionWithKvCacheAndGqa) {
  const std::uint32_t hq = 4, hkv = 2, hd = 8, max_seq = 16, prefill = 5;
  const float scale = 1.0f / std::sqrt(float(hd));
  const std::uint32_t total = prefill + 2;
  const auto q = stored(randv(total * hq * hd, 12));
  const auto k = stored(randv(total * hkv * hd, 13));
  const auto v = stored(randv(total * hkv * hd, 14));
  const auto hqb = put(q), hkb = put(k), hvb = put(v);
  const auto kc = out(max_seq * hkv * hd), vc = out(max_seq * hkv * hd);
  // Prefill 5 tokens at position 0, then decode two single tokens, with the
  // position taken from scalar register 2.
  for (const auto& [first, n] :
       {std::pair<std::uint32_t, std::uint32_t>{0, prefill}, {prefill, 1}, {prefill + 1, 1}}) {
    const auto ho = out(n * hq * hd);
    hix_vgpu_op_attention r{};
    r.out = t(ho);
    r.q = tref(hqb, dt(), std::uint64_t{first} * hq * hd * hix_vgpu_dtype_bytes(dt()));
    r.k = tref(hkb, dt(), std::uint64_t{first} * hkv * hd * hix_vgpu_dtype_bytes(dt()));
    r.v = tref(hvb, dt(), std::uint64_t{first} * hkv * hd * hix_vgpu_dtype_bytes(dt()));
    r.k_cache = t(kc);
    r.v_cache = t(vc);
    r.tokens = n;
    r.q_heads = hq;
    r.kv_heads = hkv;
    r.head_dim = hd;
    r.max_seq = max_seq;
    r.pos = 0;
    r.pos_reg = 2;
    r.scale = scale;
    CmdbufBuilder b;
    b.set_reg(2, static_cast<std::int32_t>(first));
    b.add(HIX_VGPU_OP_ATTENTION, r);
    ASSERT_EQ(bus.submit(ctx, b), Status::ok);
    expect_near(get(ho, n * hq * hd),
                ref_attention(q, k, v,
                              {.first = first, .tokens = n, .hq = hq, .hkv = hkv, .hd = hd}, scale),
                tol() * 2);
  }
  // The cache holds every token's k, v.
  expect_near(get(kc, total * hkv * hd), std::vector<double>(k.begin(), k.end()), 0);
  // Past the cache's end is an error.
  hix_vgpu_op_attention r{};
  r.out = r.q = t(hqb);
  r.k = r.v = t(hkb);
  r.k_cache = t(kc);
  r.v_cache = t(vc);
  r.tokens = 1;
  r.q_heads = hq;
  r.kv_heads = hkv;
  r.head_dim = hd;
  r.max_seq = max_seq;
  r.pos = max_seq;
  r.pos_reg = HIX_VGPU_REG_NONE;
  r.scale = scale;
  CmdbufBuilder b;
  b.add(HIX_VGPU_OP_ATTENTION, r);
  EXPECT_EQ(bus.submit(ctx, b), Status::index_out_of_range);
}

// ROPE with HIX_VGPU_BATCH: the first dimension counts sequences, every row
// at pos (+R[pos_reg]), as each row alone at that position.
TEST_P(Ops, BatchedRopePutsEverySequenceAtTheSamePosition) {
  const std::uint32_t seqs = 3, heads = 2, hd = 8, rot = 8, pos = 4;
  const float theta = 10000.0f;
  const auto x = stored(randv(seqs * heads * hd, 31));
  const auto hx = put(x), ho = out(x.size());
  hix_vgpu_op_rope r{};
  r.h.flags = HIX_VGPU_BATCH;
  r.out = t(ho);
  r.x = t(hx);
  r.tokens = seqs;
  r.heads = heads;
  r.head_dim = hd;
  r.rot_dim = rot;
  r.pos = 1;
  r.pos_reg = 3;  // + R3 = 3
  r.theta = theta;
  CmdbufBuilder b;
  b.set_reg(3, pos - 1);
  b.add(HIX_VGPU_OP_ROPE, r);
  ASSERT_EQ(bus.submit(ctx, b), Status::ok);
  std::vector<double> inv_freq(rot / 2);
  for (std::uint32_t i = 0; i < rot / 2; ++i)
    inv_freq[i] = 1 / std::pow(double(theta), 2.0 * i / rot);
  std::vector<double> want;
  const std::size_t row = heads * hd;
  for (std::uint32_t s = 0; s < seqs; ++s) {
    const auto row_s = std::span<const float>(x).subspan(s * row, row);
    const std::vector<float> one(row_s.begin(), row_s.end());
    const auto r1 = rotated(one, {.tokens = 1, .heads = heads, .hd = hd, .pos = pos}, inv_freq);
    want.insert(want.end(), r1.begin(), r1.end());
  }
  expect_near(get(ho, x.size()), want, tol());
}

// ATTENTION with HIX_VGPU_BATCH: sequence b's k, v row lands at row p of
// cache b, and its query attends over rows 0..p of that cache only (GQA as
// without the flag).
TEST_P(Ops, BatchedAttentionGivesEachSequenceItsOwnCache) {
  const std::uint32_t seqs = 3, hq = 4, hkv = 2, hd = 8, max_seq = 8, hist = 4;
  const float scale = 1.0f / std::sqrt(float(hd));
  const std::size_t qrow = hq * hd, kvrow = hkv * hd, cache = max_seq * kvrow;
  const std::uint64_t es = hix_vgpu_dtype_bytes(dt());
  // Each sequence's own history of hist + 1 tokens.
  std::vector<std::vector<float>> q(seqs), k(seqs), v(seqs);
  for (std::uint32_t s = 0; s < seqs; ++s) {
    q[s] = stored(randv((hist + 1) * qrow, 40 + s));
    k[s] = stored(randv((hist + 1) * kvrow, 50 + s));
    v[s] = stored(randv((hist + 1) * kvrow, 60 + s));
  }
  const auto kc = out(seqs * cache), vc = out(seqs * cache);
  // Rows 0..hist-1 of each cache from a batch-1 prefill into that cache.
  for (std::uint32_t s = 0; s < seqs; ++s) {
    const auto hqs = put(q[s]), hks = put(k[s]), hvs = put(v[s]);
    const auto ho = out(hist * qrow);
    hix_vgpu_op_attention r{};
    r.out = t(ho);
    r.q = t(hqs);
    r.k = t(hks);
    r.v = t(hvs);
    r.k_cache = tref(kc, dt(), s * cache * es);
    r.v_cache = tref(vc, dt(), s * cache * es);
    r.tokens = hist;
    r.q_heads = hq;
    r.kv_heads = hkv;
    r.head_dim = hd;
    r.max_seq = max_seq;
    r.pos_reg = HIX_VGPU_REG_NONE;
    r.scale = scale;
    run(HIX_VGPU_OP_ATTENTION, r);
  }
  // Then every sequence's token `hist` at once.
  std::vector<float> qb, kb, vb;
  for (std::uint32_t s = 0; s < seqs; ++s) {
    qb.insert(qb.end(), q[s].begin() + hist * qrow, q[s].end());
    kb.insert(kb.end(), k[s].begin() + hist * kvrow, k[s].end());
    vb.insert(vb.end(), v[s].begin() + hist * kvrow, v[s].end());
  }
  const auto hqb = put(qb), hkb = put(kb), hvb = put(vb), ho = out(seqs * qrow);
  hix_vgpu_op_attention r{};
  r.h.flags = HIX_VGPU_BATCH;
  r.out = t(ho);
  r.q = t(hqb);
  r.k = t(hkb);
  r.v = t(hvb);
  r.k_cache = t(kc);
  r.v_cache = t(vc);
  r.tokens = seqs;
  r.q_heads = hq;
  r.kv_heads = hkv;
  r.head_dim = hd;
  r.max_seq = max_seq;
  r.pos = 0;
  r.pos_reg = 2;
  r.scale = scale;
  CmdbufBuilder b;
  b.set_reg(2, hist);
  b.add(HIX_VGPU_OP_ATTENTION, r);
  ASSERT_EQ(bus.submit(ctx, b), Status::ok);
  std::vector<double> want;
  for (std::uint32_t s = 0; s < seqs; ++s) {
    const auto o = ref_attention(
        q[s], k[s], v[s], {.first = hist, .tokens = 1, .hq = hq, .hkv = hkv, .hd = hd}, scale);
    want.insert(want.end(), o.begin(), o.end());
  }
  expect_near(get(ho, seqs * qrow), want, tol() * 2);
  // Each cache holds its own sequence's rows 0..hist and nothing past them.
  const auto kcs = get(kc, seqs * cache);
  for (std::uint32_t s = 0; s < seqs; ++s) {
    for (std::size_t i = 0; i < cache; ++i) {
      const float want_k = i < (hist + 1) * kvrow ? k[s][i] : 0.0f;
      ASSERT_EQ(kcs[s * cache + i], want_k) << "sequence " << s << " element " << i;
    }
  }
}

TEST_P(Ops, SampleFollowsTheSpecsDraws) {
  const std::uint32_t rows = 3, cols = 10;
  const auto x = stored(randv(rows * cols, 15, -1, 1));
  const auto hx = put(x);
  const auto ho = bus.alloc(ctx, rows * 4);
  for (const std::uint32_t top_k : {0u, 3u}) {
    hix_vgpu_op_sample r{};
    r.out = tref(ho, HIX_VGPU_DT_I32);
    r.x = t(hx);
    r.rows = rows;
    r.cols = cols;
    r.temperature = 0.7f;
    r.top_k = top_k;
    r.seed = 1234;
    CmdbufBuilder b;
    b.add(HIX_VGPU_OP_SAMPLE, r);
    ASSERT_EQ(bus.submit(ctx, b), Status::ok);
    const auto got = bus.download_i32({.ctx = ctx, .handle = ho}, rows);
    for (std::uint32_t row = 0; row < rows; ++row) {
      // Spec §6.5, computed here from the formula.
      std::vector<std::uint32_t> idx(cols);
      std::iota(idx.begin(), idx.end(), 0u);
      const float* xr = &x[row * cols];
      std::stable_sort(idx.begin(), idx.end(), [&](auto i, auto j) { return xr[i] > xr[j]; });
      const std::size_t kk = top_k == 0 ? cols : top_k;
      std::vector<double> w(kk);
      double total = 0;
      for (std::size_t i = 0; i < kk; ++i)
        total += (w[i] = std::exp((xr[idx[i]] - xr[idx[0]]) / 0.7));
      std::uint64_t z = 1234 + (row + 1) * 0x9E3779B97F4A7C15ull;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      z ^= z >> 31;
      const double u = double(z >> 40) / 16777216.0;
      double run_sum = 0;
      std::size_t pick = kk - 1;
      for (std::size_t i = 0; i < kk; ++i) {
        if ((run_sum += w[i]) > u * total) {
          pick = i;
          break;
        }
      }
      EXPECT_EQ(got[row], static_cast<std::int32_t>(idx[pick])) << "row " << row;
      if (top_k == 3) {
        EXPECT_TRUE(pick < 3);
      }
    }
  }
}

TEST_P(Ops, SampleWithTopKOneIsArgmax) {
  const auto x = stored(randv(4 * 50, 16));
  const auto hx = put(x);
  const auto hs = bus.alloc(ctx, 16), ha = bus.alloc(ctx, 16);
  hix_vgpu_op_sample s{};
  s.out = tref(hs, HIX_VGPU_DT_I32);
  s.x = t(hx);
  s.rows = 4;
  s.cols = 50;
  s.temperature = 1.0f;
  s.top_k = 1;
  s.seed = 99;
  hix_vgpu_op_rows a{};
  a.out = tref(ha, HIX_VGPU_DT_I32);
  a.x = t(hx);
  a.rows = 4;
  a.cols = 50;
  CmdbufBuilder b;
  b.add(HIX_VGPU_OP_SAMPLE, s).add(HIX_VGPU_OP_ARGMAX, a);
  ASSERT_EQ(bus.submit(ctx, b), Status::ok);
  EXPECT_EQ(bus.download_i32({.ctx = ctx, .handle = hs}, 4),
            bus.download_i32({.ctx = ctx, .handle = ha}, 4));
}

INSTANTIATE_TEST_SUITE_P(Storage, Ops, ::testing::Values(HIX_VGPU_DT_F32, HIX_VGPU_DT_BF16),
                         [](const auto& param_info) {
                           return std::string(param_info.param == HIX_VGPU_DT_F32 ? "f32" : "bf16");
                         });

TEST(ControlFlow, LoopRegistersIndexedStoresAndBreak) {
  FakeBus bus(1 << 20);
  bus.start_ring();
  const auto ctx = bus.create_context();
  const auto h = bus.alloc(ctx, 64);
  const auto stop = bus.alloc(ctx, 4);
  CmdbufBuilder b;
  b.fill(tref(h, HIX_VGPU_DT_I32), 16, 0);
  b.fill(tref(stop, HIX_VGPU_DT_I32), 1, 7);
  b.set_reg(0, 0);
  b.set_reg(1, 10);
  b.loop({.count = 100, .body_ops = 4});
  // h[R0] = R1 (copied from an indexed FILL of R1's value is not possible;
  // the loop writes a constant and moves the index), then R0 += 1, R1 += 1.
  b.fill(tref_indexed(h, HIX_VGPU_DT_I32, 0, 0, 4), 1, 5);
  b.add_reg(0, 1);
  b.add_reg(1, 1);
  hix_vgpu_op_break_if_eq br{};
  br.x = tref_indexed(h, HIX_VGPU_DT_I32, 0, 0, 4);  // h[R0]: 0 until written
  br.value = 0;
  b.add(HIX_VGPU_OP_BREAK_IF_EQ, br);
  // The break fires after the first iteration (h[1] is still 0), so only
  // h[0] is written; then a second loop runs to its count.
  b.loop({.count = 3, .body_ops = 2});
  b.fill(tref_indexed(h, HIX_VGPU_DT_I32, 0, 0, 4), 1, 6);
  b.add_reg(0, 1);
  ASSERT_EQ(bus.submit(ctx, b), Status::ok);
  const auto v = bus.download_i32({.ctx = ctx, .handle = h}, 16);
  EXPECT_EQ(v[0], 5);
  EXPECT_EQ(v[1], 6);
  EXPECT_EQ(v[2], 6);
  EXPECT_EQ(v[3], 6);
  EXPECT_EQ(v[4], 0);
}

}  // namespace
}  // namespace hix::vgpu::test
// NOLINTEND(bugprone-implicit-widening-of-multiplication-result)
