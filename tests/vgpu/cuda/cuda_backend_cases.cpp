// The cuda backend's op cases shared between test files (cuda_backend_cases.hpp).
#include "cuda_backend_cases.hpp"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstring>
#include <optional>
#include <utility>

#include "attention_plan.hpp"

namespace hix::vgpu::cuda::test {

float max_abs(std::span<const float> v) {
  float m = 0;
  for (const float x : v) m = std::max(m, std::fabs(x));
  return m;
}

std::uint32_t f32_bits(float f) {
  std::uint32_t b = 0;
  std::memcpy(&b, &f, 4);
  return b;
}

float bits_f32(std::uint32_t b) {
  float f = 0;
  std::memcpy(&f, &b, 4);
  return f;
}

Tol ulp_tol(DType out) {
  return out == BF16 ? Tol{1e-30, kBf16Ulp, false} : Tol{1e-30, 2.4e-7, false};
}

Tol float_tol(DType out, double atol, double rel) {
  return Tol{atol, out == BF16 ? kBf16Ulp + rel : rel, false};
}

Tol tc_attention_tol(DType out, double v_max) {
  constexpr double kBf16Unit = 1.0 / 512;  // 2^-9: bf16's unit roundoff
  return float_tol(out, 2e-5 + kBf16Unit * v_max, 1e-5);
}

void expect_flipped_bits_equal(Pair& p, const TensorArg& t, const char* what) {
  const auto find = [&](const char* label) -> Backend* {
    for (const Target& g : p.gpus()) {
      if (g.label == label) return g.backend;
    }
    return nullptr;
  };
  if (p.gpus().empty()) return;  // no GPU: the case is skipped
  Backend* defaults = find("cuda");
  Backend* flipped = find("cuda/flipped-switches");
  if (defaults == nullptr || flipped == nullptr) {
    p.fail("%s: the rig has no \"cuda\" or \"cuda/flipped-switches\" configuration", what);
    return;
  }
  const std::uint64_t bytes = t.count * dtype_size(t.dtype);
  const auto a = p.read_raw(*defaults, t.offset, bytes);
  const auto b = p.read_raw(*flipped, t.offset, bytes);
  if (a != b) {
    const auto at = std::mismatch(a.begin(), a.end(), b.begin()).first - a.begin();
    p.fail("%s: cuda/flipped-switches differs from the defaults' bits at byte %td", what, at);
  }
}

std::string plus(std::uint64_t misalign) {
  return "plus" + std::to_string(misalign);
}

// ---------------------------------------------------------------- matmul

std::string matmul_name(const MatmulCase& c) {
  std::string s = strf("m%u_n%u_k%u_a_%s_b_%s_out_%s", c.m, c.n, c.k, dt_name(c.a_dt),
                       dt_name(c.b_dt), dt_name(c.out_dt));
  if (c.trans_b) s += "_trans_b";
  if (c.bias) s += c.bias_dt == BF16 ? "_bf16_bias" : "_bias";
  if (c.accumulate) s += "_accumulate";
  return s + "_" + plus(c.mis);
}

// Tolerance: |cuda - cpu| <= sqrt(k) * max|a| * max|b| * eps + 1e-6
// (+ one bf16 ulp of the value when out is bf16: both round the fp32 result
// once, and nearly equal results can round to neighbours). eps = 2^-8 when
// a or b is stored as bf16 (the cuBLAS path converts f32 activations to bf16
// next to bf16 weights; each rounding is at most 2^-9 relative and the k
// errors add as a random walk, so this is ~10 sigma), else 1e-5 (fp32
// throughout, only the summation order differs: ~sqrt(k) * 2^-24).
void matmul_case(Pair& p, const MatmulCase& c) {
  const std::uint32_t m = c.m;
  const std::uint32_t n = c.n;
  const std::uint32_t k = c.k;
  p.begin(strf("m=%u n=%u k=%u a=%s b=%s out=%s%s%s%s +%" PRIu64, m, n, k, dt_name(c.a_dt),
               dt_name(c.b_dt), dt_name(c.out_dt), c.trans_b ? " trans_b" : "",
               c.bias ? (c.bias_dt == BF16 ? " bias(bf16)" : " bias") : "",
               c.accumulate ? " accumulate" : "", c.mis));
  const auto a = p.alloc(c.a_dt, cnt(m, k), Misalign{c.mis});
  const auto b = p.alloc(c.b_dt, cnt(k, n), Misalign{(c.mis + 1) % 4});
  const auto out = p.alloc(c.out_dt, cnt(m, n), Misalign{(c.mis + 3) % 4});
  std::optional<TensorArg> bias;
  const auto av = Pair::stored(c.a_dt, p.random(a.count, -1, 1));
  const auto bv = Pair::stored(c.b_dt, p.random(b.count, -1, 1));
  p.put(a, av);
  p.put(b, bv);
  if (c.bias) {
    bias = p.alloc(c.bias_dt, n, Misalign{c.mis % 2});
    p.put(*bias, p.random(n, -1, 1));
  }
  if (c.accumulate) {
    p.put(out, p.random(out.count, -1, 1));
  } else {
    p.poison(out);
  }
  const MatmulArgs args{out, a, b, bias, m, n, k, c.trans_b, c.accumulate};
  p.run([&](Backend& be) { return be.matmul(args); });
  const double eps = (c.a_dt == BF16 || c.b_dt == BF16) ? 1.0 / 256 : 1e-5;
  const double atol = std::sqrt(static_cast<double>(k)) * max_abs(av) * max_abs(bv) * eps + 1e-6;
  p.compare(out, Tol{atol, c.out_dt == BF16 ? kBf16Ulp : 0.0, false});
  p.end();
}

// ---------------------------------------------------------------- norm

std::string norm_name(const NormCase& c) {
  return strf("%s_rows%u_cols%u_x_%s_gamma_%s_out_%s%s_", c.layer ? "layernorm" : "rmsnorm", c.rows,
              c.cols, dt_name(c.x_dt), dt_name(c.g_dt), dt_name(c.in_place ? c.x_dt : c.out_dt),
              c.in_place ? "_in_place" : "") +
         plus(c.mis);
}

void norm_case(Pair& p, const NormCase& c) {
  const std::uint32_t rows = c.rows;
  const std::uint32_t cols = c.cols;
  const std::uint64_t mis = c.mis;
  p.begin(strf("%s rows=%u cols=%u x=%s gamma=%s out=%s%s +%" PRIu64,
               c.layer ? "layernorm" : "rmsnorm", rows, cols, dt_name(c.x_dt), dt_name(c.g_dt),
               dt_name(c.in_place ? c.x_dt : c.out_dt), c.in_place ? " in-place" : "", mis));
  const auto x = p.alloc(c.x_dt, cnt(rows, cols), Misalign{mis});
  const auto gamma = p.alloc(c.g_dt, cols, Misalign{(mis + 1) % 4});
  std::optional<TensorArg> beta;
  // An offset mean (LayerNorm must subtract it stably) and a spread.
  auto xv = p.random(x.count, -2, 2);
  for (float& v : xv) v += 3.0f;
  p.put(x, xv);
  p.put(gamma, p.random(cols, -1.5, 1.5));
  if (c.layer) {
    beta = p.alloc(c.g_dt, cols, Misalign{(mis + 2) % 4});
    p.put(*beta, p.random(cols, -1, 1));
  }
  const TensorArg out =
      c.in_place ? x : p.alloc(c.out_dt, cnt(rows, cols), Misalign{(mis + 3) % 4});
  if (!c.in_place) p.poison(out);
  const NormArgs args{out, x, gamma, beta, rows, cols, 1e-5f};
  p.run([&](Backend& b) { return c.layer ? b.layernorm(args) : b.rmsnorm(args); });
  // Normalised values are O(1) times gamma (<= 1.5): fp32 sums in another
  // order and rsqrtf differ by ~1e-6 relative.
  p.compare(out, float_tol(out.dtype, 2e-5, 2e-5));
  p.end();
}

// ---------------------------------------------------------------- unary

std::string unary_name(const UnaryCase& c) {
  return strf("%s_count%" PRIu64 "_x_%s_out_%s%s_", c.op == UnaryOp::gelu ? "gelu" : "silu", c.n,
              dt_name(c.x_dt), dt_name(c.in_place ? c.x_dt : c.out_dt),
              c.in_place ? "_in_place" : "") +
         plus(c.mis);
}

void unary_case(Pair& p, const UnaryCase& c) {
  p.begin(strf("%s count=%" PRIu64 " x=%s out=%s%s +%" PRIu64,
               c.op == UnaryOp::gelu ? "gelu" : "silu", c.n, dt_name(c.x_dt),
               dt_name(c.in_place ? c.x_dt : c.out_dt), c.in_place ? " in-place" : "", c.mis));
  const auto x = p.alloc(c.x_dt, c.n, Misalign{c.mis});
  p.put(x, p.random(c.n, -8, 8));
  const TensorArg out = c.in_place ? x : p.alloc(c.out_dt, c.n, Misalign{(c.mis + 1) % 4});
  if (!c.in_place) p.poison(out);
  p.run([&](Backend& b) { return b.unary(UnaryArgs{c.op, out, x}); });
  // tanhf/expf (or their fast forms) against libm: a few ulp, and near
  // the zero crossings an absolute 1e-6.
  p.compare(out, float_tol(out.dtype, 1e-6, 1e-5));
  p.end();
}

// ---------------------------------------------------------------- softmax

std::string softmax_name(const SoftmaxCase& c) {
  return strf("rows%u_cols%u_x_%s_out_%s%s_", c.rows, c.cols, dt_name(c.x_dt),
              dt_name(c.in_place ? c.x_dt : c.out_dt), c.in_place ? "_in_place" : "") +
         plus(c.mis);
}

void softmax_case(Pair& p, const SoftmaxCase& c) {
  const std::uint32_t rows = c.rows;
  const std::uint32_t cols = c.cols;
  p.begin(strf("rows=%u cols=%u x=%s out=%s%s +%" PRIu64, rows, cols, dt_name(c.x_dt),
               dt_name(c.in_place ? c.x_dt : c.out_dt), c.in_place ? " in-place" : "", c.mis));
  const auto x = p.alloc(c.x_dt, cnt(rows, cols), Misalign{c.mis});
  p.put(x, p.random(x.count, -10, 10));
  const TensorArg out =
      c.in_place ? x : p.alloc(c.out_dt, cnt(rows, cols), Misalign{(c.mis + 1) % 4});
  if (!c.in_place) p.poison(out);
  p.run([&](Backend& b) { return b.softmax(RowsArgs{out, x, rows, cols}); });
  // Probabilities: expf a few ulp, the row sum in another order.
  p.compare(out, float_tol(out.dtype, 1e-8, 2e-5));
  p.end();
}

// ---------------------------------------------------------------- rope

std::string rope_name(const RopeCase& c) {
  return strf("tokens%u_heads%u_head_dim%u_rot_dim%u_pos%" PRIu64 "_x_%s_out_%s%s_", c.tokens,
              c.heads, c.head_dim, c.rot_dim, c.pos, dt_name(c.x_dt),
              dt_name(c.in_place ? c.x_dt : c.out_dt), c.in_place ? "_in_place" : "") +
         plus(c.mis);
}

namespace {

void rope_case_with(Pair& p, const RopeCase& c, const Llama3Rope& scaling) {
  p.begin(strf("tokens=%u heads=%u head_dim=%u rot_dim=%u pos=%" PRIu64 " x=%s out=%s%s +%" PRIu64
               "%s",
               c.tokens, c.heads, c.head_dim, c.rot_dim, c.pos, dt_name(c.x_dt),
               dt_name(c.in_place ? c.x_dt : c.out_dt), c.in_place ? " in-place" : "", c.mis,
               scaling.factor != 0.0f ? " llama3" : ""));
  const auto x = p.alloc(c.x_dt, cnt(c.tokens, c.heads, c.head_dim), Misalign{c.mis});
  const auto xv = p.random(x.count, -2, 2);
  p.put(x, xv);
  const TensorArg out = c.in_place ? x : p.alloc(c.out_dt, x.count, Misalign{(c.mis + 1) % 4});
  if (!c.in_place) p.poison(out);
  p.run([&](Backend& b) {
    return b.rope(
        RopeArgs{out, x, c.tokens, c.heads, c.head_dim, c.rot_dim, c.pos, 10000.0f, scaling});
  });
  // The cpu takes the angle p*theta^(-2i/rot_dim) in double; an fp32 angle
  // is off by ~2^-22 of itself (<= (pos+tokens) rad), which moves each
  // output by at most 2*max|x| times that, plus sinf/cosf's few ulp.
  const double angle_err = static_cast<double>(c.pos + c.tokens) * 2.4e-7 + 2e-6;
  p.compare(out, float_tol(out.dtype, 2.0 * max_abs(xv) * angle_err, 1e-6));
  p.end();
}

}  // namespace

void rope_case(Pair& p, const RopeCase& c) {
  rope_case_with(p, c, Llama3Rope{});
}

void rope_llama3_case(Pair& p, const RopeCase& c) {
  // Wavelengths 2pi * 10000^(2i/rot_dim) run from 2pi to ~6e4: with an
  // original context of 256, pairs below 64 are kept, above 256 scaled,
  // and the ones between blended.
  rope_case_with(p, c, Llama3Rope{8.0f, 1.0f, 4.0f, 256});
}

// ---------------------------------------------------------------- attention

std::string attention_name(const AttnCfg& c) {
  return strf("q_heads%u_kv_heads%u_head_dim%u_qkv_%s_cache_%s_out_%s%s%s", c.q_heads, c.kv_heads,
              c.head_dim, dt_name(c.qkv_dt), dt_name(c.cache_dt),
              c.out_is_q ? "on_q" : dt_name(c.out_dt), c.rope ? "_after_rope" : "",
              c.history == 0 ? "" : strf("_after_%u_keys", c.history).c_str());
}

// The cache starts as random garbage (identical on both): rows past the
// causal limit must not be read. Each step compares out and both caches (the
// cache rows are conversions: exact).
void attention_sequence(Pair& p, const AttnCfg& c) {
  const std::uint32_t max_seq = c.history == 0 ? 64 : c.history + 16;
  const std::uint32_t hd = c.head_dim;
  const std::string cfg =
      strf("q_heads=%u kv_heads=%u head_dim=%u qkv=%s cache=%s out=%s%s", c.q_heads, c.kv_heads, hd,
           dt_name(c.qkv_dt), dt_name(c.cache_dt), dt_name(c.out_is_q ? c.qkv_dt : c.out_dt),
           c.out_is_q ? " out=q" : "");
  p.reset_arena();
  const auto k_cache = p.alloc(c.cache_dt, cnt(max_seq, c.kv_heads, hd), Misalign{1});
  const auto v_cache = p.alloc(c.cache_dt, cnt(max_seq, c.kv_heads, hd), Misalign{3});
  p.put(k_cache, p.random(k_cache.count, -1, 1));
  p.put(v_cache, p.random(v_cache.count, -1, 1));
  const std::vector<std::pair<std::uint32_t, std::uint64_t>> steps =
      c.history == 0 ? std::vector<std::pair<std::uint32_t, std::uint64_t>>{{17, 0},
                                                                            {1, 17},
                                                                            {1, 18},
                                                                            {45, 19}}
                     : std::vector<std::pair<std::uint32_t, std::uint64_t>>{{1, c.history},
                                                                            {1, c.history + 1}};
  std::uint64_t mis = 0;
  for (const auto& [tokens, pos] : steps) {
    p.begin(strf("%s tokens=%u pos=%" PRIu64, cfg.c_str(), tokens, pos), false);
    const auto q = p.alloc(c.qkv_dt, cnt(tokens, c.q_heads, hd), Misalign{mis % 4});
    const auto k = p.alloc(c.qkv_dt, cnt(tokens, c.kv_heads, hd), Misalign{(mis + 1) % 4});
    const auto v = p.alloc(c.qkv_dt, cnt(tokens, c.kv_heads, hd), Misalign{(mis + 2) % 4});
    ++mis;
    p.put(q, p.random(q.count, -1, 1));
    p.put(k, p.random(k.count, -1, 1));
    p.put(v, p.random(v.count, -1, 1));
    const TensorArg out = c.out_is_q ? q : p.alloc(c.out_dt, q.count, Misalign{mis % 4});
    if (!c.out_is_q) p.poison(out);
    const AttentionArgs args{out,       q,          k,  v,       k_cache, v_cache, tokens,
                             c.q_heads, c.kv_heads, hd, max_seq, pos,     c.scale};
    const std::uint32_t rows = tokens;  // bindings are not captured
    const std::uint64_t at = pos;
    const auto roped = [&](const TensorArg& t, std::uint32_t heads) {
      RopeArgs r{t, t, rows, heads, hd, hd, at, 500000.0f};
      r.llama3 = Llama3Rope{32.0f, 1.0f, 4.0f, 8192};
      return r;
    };
    p.run([&](Backend& b) {
      if (c.rope) {
        HIX_TRY(b.rope(roped(q, c.q_heads)));
        HIX_TRY(b.rope(roped(k, c.kv_heads)));
      }
      return b.attention(args);
    });
    // Roped: as rope_case_with's bound, |x| <= 1; a bf16 element may round
    // the other way (2^-8). Each logit moves by at most scale * sqrt(hd)
    // times twice that (errors of either sign), each output by about twice
    // the logits' move.
    const double rope_err = 2.0 * (static_cast<double>(pos + tokens) * 2.4e-7 + 2e-6);
    const bool bf16 = c.qkv_dt == BF16 || c.cache_dt == BF16;
    const double elem_err = rope_err + (bf16 ? 1.0 / 256 : 0.0);
    const double rope_out_err = 4.0 * c.scale * std::sqrt(static_cast<double>(hd)) * elem_err;
    if (c.rope && !c.out_is_q) {
      p.compare(q, float_tol(q.dtype, rope_err, 1e-6), "q roped");
      p.compare(k, float_tol(k.dtype, rope_err, 1e-6), "k roped");
    }
    // Weighted means of values in [-1, 1]: fp32 dots, expf and sums in
    // another order, ~1e-6; on the tensor-core kernel (bf16 q and caches,
    // 16 tokens or more) the bf16 weights' bound, v in [-1, 1].
    const bool tc = attention_kernel(args) == AttentionKernel::tensor_cores;
    Tol out_tol = tc ? tc_attention_tol(out.dtype, 1.0) : float_tol(out.dtype, 2e-5, 1e-5);
    if (c.rope) out_tol.atol += rope_out_err;
    p.compare(out, out_tol);
    p.compare(k_cache, c.rope ? float_tol(k_cache.dtype, rope_err, 1e-6) : exact_tol(), "k_cache");
    p.compare(v_cache, exact_tol(), "v_cache");
    for (const auto& [t, what] :
         {std::pair{out, "out"}, {q, "q"}, {k, "k"}, {k_cache, "k_cache"}, {v_cache, "v_cache"}}) {
      expect_flipped_bits_equal(p, t, what);
    }
    p.end();
  }
}

}  // namespace hix::vgpu::cuda::test
