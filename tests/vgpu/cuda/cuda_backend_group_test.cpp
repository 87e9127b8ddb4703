// GEMV groups (gemv_fusion.hpp) on the GPU against the cpu reference: the
// runs of a decode step that the cuda backend launches as one kernel (q, k
// and v; gate, up, SILU and MUL; a projection and GELU; a residual
// projection with ACCUMULATE), each as eager ops, recorded and replayed, and
// read back before finish(); and the runs that look alike but must go one by
// one (an output over a later op's weights, an activation written elsewhere,
// a MUL with its operands swapped), whose results only the one-by-one order
// gives; and the same runs led by the RMSNORM or LAYERNORM that writes
// their rows. Every configuration of the rig runs every case.
#include <gtest/gtest.h>

#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "cuda_backend_cases.hpp"
#include "cuda_backend_rig.hpp"

namespace hix::vgpu::cuda::test {
namespace {

enum class Run : std::uint8_t { eager, recorded };

struct GroupCase {
  std::uint32_t m, k;
  DType act, weights;
  bool bias;
  Run run;
};

std::string group_case_name(const GroupCase& c) {
  return strf("m%u_k%u_act_%s_weights_%s%s_%s", c.m, c.k, dt_name(c.act), dt_name(c.weights),
              c.bias ? "_bias" : "", c.run == Run::eager ? "eager" : "recorded");
}

// |cuda - cpu| bound of a product over k: as matmul_case() (eps 2^-8 with
// bf16 operands, else 1e-5), plus one bf16 ulp when stored as bf16.
double product_atol(std::uint32_t k, double max_a, double max_b, DType a, DType b) {
  const double eps = (a == BF16 || b == BF16) ? 1.0 / 256 : 1e-5;
  return std::sqrt(static_cast<double>(k)) * max_a * max_b * eps + 1e-6;
}

// Runs `ops` on the cpu and on every cuda backend of the pair: eagerly
// (then finish()), or recorded on the cuda backends and replayed.
void run_ops(Pair& p, Run run, const std::function<Status(Backend&)>& ops) {
  static std::uint64_t next_key = 0x6e6d7600;
  const std::uint64_t key = ++next_key;
  p.run([&](Backend& b) {
    if (run == Run::eager || &b == &p.ref()) return ops(b);
    HIX_TRY(b.begin_recording());
    const Status s = ops(b);
    if (s != Status::ok) {
      b.abort_recording();
      return s;
    }
    HIX_TRY(b.end_recording(key));
    auto fired = b.replay(key);
    b.drop_recordings();
    return fired.ok() ? Status::ok : fired.status();
  });
}

struct Proj {
  TensorArg w;
  std::optional<TensorArg> bias;
  std::vector<float> wv;
};

// Weights [n, k] in [-0.1, 0.1] and, with `bias`, an f32 bias.
Proj projection(Pair& p, DType weights, std::uint32_t n, std::uint32_t k, bool bias) {
  Proj w;
  w.w = p.alloc(weights, cnt(n, k));
  w.wv = Pair::stored(weights, p.random(w.w.count, -0.1f, 0.1f));
  p.put(w.w, w.wv);
  if (bias) {
    w.bias = p.alloc(F32, n);
    p.put(*w.bias, p.random(n, -0.5, 0.5));
  }
  return w;
}

// A poisoned output of `rows` x n.
TensorArg poisoned(Pair& p, DType dt, std::uint32_t rows, std::uint32_t n) {
  const TensorArg out = p.alloc(dt, cnt(rows, n));
  p.poison(out);
  return out;
}

// A product's bound plus, for a bf16 output, one rounding.
Tol product_tol(double atol, DType out) {
  return Tol{atol, out == BF16 ? kBf16Ulp : 0.0, false};
}

class GroupTest : public BackendParamTest<GroupCase> {
 protected:
  // The activation rows h [m, k] in [-1, 1].
  TensorArg rows(std::vector<float>& hv) {
    const GroupCase& c = GetParam();
    const TensorArg h = pair().alloc(c.act, cnt(c.m, c.k));
    hv = Pair::stored(c.act, pair().random(h.count, -1, 1));
    pair().put(h, hv);
    return h;
  }
  // With the case's bias.
  Proj weights(std::uint32_t n) {
    const GroupCase& c = GetParam();
    return projection(pair(), c.weights, n, c.k, c.bias);
  }
  TensorArg output(std::uint32_t n, DType dt) { return poisoned(pair(), dt, GetParam().m, n); }
  MatmulArgs mm(const TensorArg& out, const TensorArg& h, const Proj& w, std::uint32_t n,
                bool accumulate = false) const {
    const GroupCase& c = GetParam();
    return MatmulArgs{out, h, w.w, w.bias, c.m, n, c.k, true, accumulate};
  }
  double atol(const std::vector<float>& hv, const Proj& w) const {
    const GroupCase& c = GetParam();
    return product_atol(c.k, max_abs(hv), max_abs(w.wv), c.act, c.weights);
  }
  static Tol tol(double a, DType out) { return product_tol(a, out); }
};

TEST_P(GroupTest, TheQKAndVProjectionsMatchTheCpu) {
  Pair& p = pair();
  const GroupCase& c = GetParam();
  p.begin("q, k, v: " + group_case_name(c));
  std::vector<float> hv;
  const TensorArg h = rows(hv);
  const Proj wq = weights(512);
  const Proj wk = weights(128);
  const Proj wv = weights(128);
  const TensorArg q = output(512, c.act);
  const TensorArg k = output(128, c.act);
  const TensorArg v = output(128, c.act);
  run_ops(p, c.run, [&](Backend& b) {
    HIX_TRY(b.matmul(mm(q, h, wq, 512)));
    HIX_TRY(b.matmul(mm(k, h, wk, 128)));
    return b.matmul(mm(v, h, wv, 128));
  });
  p.compare(q, tol(atol(hv, wq), c.act), "q");
  p.compare(k, tol(atol(hv, wk), c.act), "k");
  p.compare(v, tol(atol(hv, wv), c.act), "v");
  p.end();
}

TEST_P(GroupTest, GateUpSiluAndMulMatchTheCpu) {
  Pair& p = pair();
  const GroupCase& c = GetParam();
  p.begin("gate, up, silu, mul: " + group_case_name(c));
  std::vector<float> hv;
  const TensorArg h = rows(hv);
  const std::uint32_t n = 1000;  // not a multiple of a unit's rows
  const Proj wg = weights(n);
  const Proj wu = weights(n);
  const TensorArg g = output(n, c.act);
  const TensorArg u = output(n, c.act);
  run_ops(p, c.run, [&](Backend& b) {
    HIX_TRY(b.matmul(mm(g, h, wg, n)));
    HIX_TRY(b.matmul(mm(u, h, wu, n)));
    HIX_TRY(b.unary(UnaryArgs{UnaryOp::silu, g, g}));
    return b.binary(BinaryArgs{BinaryOp::mul, g, g, u});
  });
  // silu(x) moves by at most 1.1 times x's error; the product by each
  // factor's error times the other factor.
  const double e = atol(hv, wg);
  const double up = max_abs(p.read(p.ref(), u));
  p.compare(u, tol(e, c.act), "up");
  p.compare(g, float_tol(c.act, 1.1 * e * (up + 1.0) + e * (up + 1.0), 1e-5), "silu(gate) * up");
  p.end();
}

TEST_P(GroupTest, AProjectionAndGeluInPlaceMatchTheCpu) {
  Pair& p = pair();
  const GroupCase& c = GetParam();
  p.begin("w1, gelu: " + group_case_name(c));
  std::vector<float> hv;
  const TensorArg h = rows(hv);
  const Proj w1 = weights(768);
  const TensorArg y = output(768, c.act);
  run_ops(p, c.run, [&](Backend& b) {
    HIX_TRY(b.matmul(mm(y, h, w1, 768)));
    return b.unary(UnaryArgs{UnaryOp::gelu, y, y});
  });
  p.compare(y, float_tol(c.act, 1.2 * atol(hv, w1), 1e-5), "gelu(h w1)");
  p.end();
}

TEST_P(GroupTest, AResidualProjectionAccumulatesAsTheCpu) {
  Pair& p = pair();
  const GroupCase& c = GetParam();
  p.begin("wo, accumulate: " + group_case_name(c));
  std::vector<float> hv;
  const TensorArg h = rows(hv);
  const Proj wo = weights(640);
  const TensorArg x = pair().alloc(c.act, cnt(c.m, 640));
  p.put(x, p.random(x.count, -2, 2));
  run_ops(p, c.run, [&](Backend& b) { return b.matmul(mm(x, h, wo, 640, true)); });
  p.compare(x, tol(atol(hv, wo), c.act), "x + h wo");
  p.end();
}

std::vector<GroupCase> group_cases() {
  std::vector<GroupCase> v;
  for (const Run run : {Run::eager, Run::recorded}) {
    v.push_back({1, 2048, F32, BF16, false, run});  // Llama's decode
    v.push_back({1, 768, F32, BF16, true, run});    // GPT-2's
    v.push_back({3, 1024, F32, BF16, true, run});
    v.push_back({7, 256, BF16, BF16, false, run});
    v.push_back({1, 512, F32, F32, true, run});
    v.push_back({2, 264, BF16, F32, false, run});
  }
  v.push_back({1, 14336, F32, BF16, false, Run::eager});  // Llama-8B's down projection
  return v;
}

INSTANTIATE_TEST_SUITE_P(Decode, GroupTest, ::testing::ValuesIn(group_cases()),
                         [](const ::testing::TestParamInfo<GroupCase>& param_info) {
                           return group_case_name(param_info.param);
                         });

// ---------------------------------------------------------------- norms

// A norm leading a group (gemv_fusion.hpp): x normalised into h by the
// group's launch, then the matmuls over h. h itself, written by the
// launch's first block, is compared too.
struct NormGroupCase {
  std::uint32_t m, k;
  DType act, weights;
  bool layer;
  Run run;
};

std::string norm_group_case_name(const NormGroupCase& c) {
  return strf("%s_m%u_k%u_act_%s_weights_%s_%s", c.layer ? "layernorm" : "rmsnorm", c.m, c.k,
              dt_name(c.act), dt_name(c.weights), c.run == Run::eager ? "eager" : "recorded");
}

class NormGroupTest : public BackendParamTest<NormGroupCase> {
 protected:
  // x [m, k] with an offset mean, gamma (and beta) as a model's, the norm
  // into a poisoned h.
  struct Normed {
    TensorArg x, h, gamma;
    std::optional<TensorArg> beta;
    NormArgs args() const {
      const NormGroupCase& c = GetParam();
      return NormArgs{h, x, gamma, beta, c.m, c.k, 1e-5f};
    }
  };
  Normed normed() {
    const NormGroupCase& c = GetParam();
    Pair& p = pair();
    Normed n;
    n.x = p.alloc(c.act, cnt(c.m, c.k));
    auto xv = p.random(n.x.count, -2, 2);
    for (float& v : xv) v += 1.0f;
    p.put(n.x, xv);
    n.gamma = p.alloc(c.weights, c.k);
    p.put(n.gamma, p.random(c.k, 0.5, 1.5));
    if (c.layer) {
      n.beta = p.alloc(c.weights, c.k);
      p.put(*n.beta, p.random(c.k, -0.5, 0.5));
    }
    n.h = p.alloc(c.act, cnt(c.m, c.k));
    p.poison(n.h);
    return n;
  }
  Status norm(Backend& b, const Normed& n) const {
    return GetParam().layer ? b.layernorm(n.args()) : b.rmsnorm(n.args());
  }
  // GPT-2's (LAYERNORM's) projections have biases.
  Proj weights(std::uint32_t n) {
    const NormGroupCase& c = GetParam();
    return projection(pair(), c.weights, n, c.k, c.layer);
  }
  TensorArg output(std::uint32_t n) { return poisoned(pair(), GetParam().act, GetParam().m, n); }
  MatmulArgs mm(const TensorArg& out, const TensorArg& h, const Proj& w, std::uint32_t n) const {
    const NormGroupCase& c = GetParam();
    return MatmulArgs{out, h, w.w, w.bias, c.m, n, c.k, true, false};
  }
  // The products' bound over h as the cpu computed it (|h| <= ~2.5).
  double atol(const Normed& n, const Proj& w) {
    const NormGroupCase& c = GetParam();
    const double h_max = max_abs(pair().read(pair().ref(), n.h));
    return product_atol(c.k, h_max, max_abs(w.wv), c.act, c.weights) + 5e-5 * c.k * max_abs(w.wv);
  }
  Tol tol(double a) const { return product_tol(a, GetParam().act); }
  // As the norm cases of cuda_backend_cases.cpp.
  Tol h_tol() const { return float_tol(GetParam().act, 2e-5, 2e-5); }
};

TEST_P(NormGroupTest, TheNormAndTheQKAndVProjectionsMatchTheCpu) {
  Pair& p = pair();
  const NormGroupCase& c = GetParam();
  p.begin("norm, q, k, v: " + norm_group_case_name(c));
  const Normed n = normed();
  const Proj wq = weights(512);
  const Proj wk = weights(128);
  const Proj wv = weights(128);
  const TensorArg q = output(512);
  const TensorArg k = output(128);
  const TensorArg v = output(128);
  run_ops(p, c.run, [&](Backend& b) {
    HIX_TRY(norm(b, n));
    HIX_TRY(b.matmul(mm(q, n.h, wq, 512)));
    HIX_TRY(b.matmul(mm(k, n.h, wk, 128)));
    return b.matmul(mm(v, n.h, wv, 128));
  });
  p.compare(n.h, h_tol(), "h");
  p.compare(q, tol(atol(n, wq)), "q");
  p.compare(k, tol(atol(n, wk)), "k");
  p.compare(v, tol(atol(n, wv)), "v");
  for (const auto& [t, what] : {std::pair{n.h, "h"}, {q, "q"}, {k, "k"}, {v, "v"}}) {
    expect_flipped_bits_equal(p, t, what);
  }
  p.end();
}

TEST_P(NormGroupTest, TheNormGateUpSiluAndMulMatchTheCpu) {
  Pair& p = pair();
  const NormGroupCase& c = GetParam();
  p.begin("norm, gate, up, silu, mul: " + norm_group_case_name(c));
  const Normed n = normed();
  const std::uint32_t cols = 1000;
  const Proj wg = weights(cols);
  const Proj wu = weights(cols);
  const TensorArg g = output(cols);
  const TensorArg u = output(cols);
  run_ops(p, c.run, [&](Backend& b) {
    HIX_TRY(norm(b, n));
    HIX_TRY(b.matmul(mm(g, n.h, wg, cols)));
    HIX_TRY(b.matmul(mm(u, n.h, wu, cols)));
    HIX_TRY(b.unary(UnaryArgs{UnaryOp::silu, g, g}));
    return b.binary(BinaryArgs{BinaryOp::mul, g, g, u});
  });
  const double e = atol(n, wg);
  const double up = max_abs(p.read(p.ref(), u));
  p.compare(n.h, h_tol(), "h");
  p.compare(u, tol(e), "up");
  p.compare(g, float_tol(c.act, 2.1 * e * (up + 1.0), 1e-5), "silu(gate) * up");
  for (const auto& [t, what] : {std::pair{n.h, "h"}, {u, "up"}, {g, "silu(gate) * up"}}) {
    expect_flipped_bits_equal(p, t, what);
  }
  p.end();
}

TEST_P(NormGroupTest, TheNormAProjectionAndGeluMatchTheCpu) {
  Pair& p = pair();
  const NormGroupCase& c = GetParam();
  p.begin("norm, w1, gelu: " + norm_group_case_name(c));
  const Normed n = normed();
  const Proj w1 = weights(768);
  const TensorArg y = output(768);
  run_ops(p, c.run, [&](Backend& b) {
    HIX_TRY(norm(b, n));
    HIX_TRY(b.matmul(mm(y, n.h, w1, 768)));
    return b.unary(UnaryArgs{UnaryOp::gelu, y, y});
  });
  p.compare(n.h, h_tol(), "h");
  p.compare(y, float_tol(c.act, 1.2 * atol(n, w1), 1e-5), "gelu(norm(x) w1)");
  p.end();
}

// The norm held, then an op it cannot lead: it runs alone first, and the
// matmul after reads what it wrote.
TEST_P(NormGroupTest, ANormFollowedByAnotherOpRunsAloneFirst) {
  Pair& p = pair();
  const NormGroupCase& c = GetParam();
  p.begin("norm, copy of h, matmul over the copy: " + norm_group_case_name(c));
  const Normed n = normed();
  const TensorArg h2 = p.alloc(c.act, n.h.count);
  p.poison(h2);
  const Proj wq = weights(256);
  const TensorArg q = output(256);
  run_ops(p, c.run, [&](Backend& b) {
    HIX_TRY(norm(b, n));
    HIX_TRY(b.copy(h2, n.h));
    return b.matmul(mm(q, h2, wq, 256));
  });
  p.compare(n.h, h_tol(), "h");
  p.compare(h2, h_tol(), "h copied");
  p.compare(q, tol(atol(n, wq)), "q over the copy");
  p.end();
}

std::vector<NormGroupCase> norm_group_cases() {
  std::vector<NormGroupCase> v;
  for (const Run run : {Run::eager, Run::recorded}) {
    v.push_back({1, 2048, F32, BF16, false, run});   // Llama's decode
    v.push_back({1, 768, F32, BF16, true, run});     // GPT-2's
    v.push_back({1, 2048, BF16, BF16, false, run});  // the fast mode's
    v.push_back({3, 1024, F32, BF16, true, run});
    v.push_back({5, 512, BF16, F32, false, run});
  }
  v.push_back({1, 4096, F32, BF16, false, Run::eager});  // Llama-8B's
  return v;
}

INSTANTIATE_TEST_SUITE_P(Decode, NormGroupTest, ::testing::ValuesIn(norm_group_cases()),
                         [](const ::testing::TestParamInfo<NormGroupCase>& param_info) {
                           return norm_group_case_name(param_info.param);
                         });

// ---------------------------------------------------------------- fallbacks

class GroupFallback : public BackendTest {};

// q's output (bf16) is exactly k's weights: one by one, k multiplies by
// what q wrote; one launch would read the old weights.
TEST_F(GroupFallback, AProjectionWrittenOverTheNextOnesWeightsFeedsIt) {
  Pair& p = pair();
  p.begin("q written over k's weights");
  const std::uint32_t k = 256;
  const auto h = p.alloc(F32, k);
  const auto hv = p.random(k, -1, 1);
  p.put(h, hv);
  const auto wq = p.alloc(BF16, cnt(4096, k));
  p.put(wq, p.random(wq.count, -0.05f, 0.05f));
  const auto q = p.alloc(BF16, 4096);
  p.put(q, p.random(q.count, -0.05f, 0.05f));
  const TensorArg wk{q.offset, BF16, cnt(16, k)};
  const auto out = p.alloc(F32, 16);
  p.poison(out);
  p.run([&](Backend& b) {
    HIX_TRY(b.matmul(MatmulArgs{q, h, wq, std::nullopt, 1, 4096, k, true, false}));
    return b.matmul(MatmulArgs{out, h, wk, std::nullopt, 1, 16, k, true, false});
  });
  const double wmax = max_abs(p.read(p.ref(), q));
  p.compare(q, Tol{product_atol(k, 1, 0.05, F32, BF16), kBf16Ulp, false}, "q");
  p.compare(out, Tol{product_atol(k, max_abs(hv), wmax, F32, BF16) + 1e-3, 0, false}, "k");
  p.end();
}

TEST_F(GroupFallback, SiluWrittenElsewhereAndASwappedMulGoOneByOne) {
  Pair& p = pair();
  p.begin("silu out of place, mul with a and b swapped");
  const std::uint32_t k = 512;
  const std::uint32_t n = 300;
  const auto h = p.alloc(F32, k);
  const auto hv = p.random(k, -1, 1);
  p.put(h, hv);
  const auto wg = p.alloc(BF16, cnt(n, k));
  const auto wu = p.alloc(BF16, cnt(n, k));
  p.put(wg, p.random(wg.count, -0.1f, 0.1f));
  p.put(wu, p.random(wu.count, -0.1f, 0.1f));
  const auto g = p.alloc(F32, n);
  const auto u = p.alloc(F32, n);
  const auto s = p.alloc(F32, n);
  const auto prod = p.alloc(F32, n);
  for (const TensorArg& t : {g, u, s, prod}) p.poison(t);
  p.run([&](Backend& b) {
    HIX_TRY(b.matmul(MatmulArgs{g, h, wg, std::nullopt, 1, n, k, true, false}));
    HIX_TRY(b.matmul(MatmulArgs{u, h, wu, std::nullopt, 1, n, k, true, false}));
    HIX_TRY(b.unary(UnaryArgs{UnaryOp::silu, s, g}));
    HIX_TRY(b.matmul(MatmulArgs{g, h, wg, std::nullopt, 1, n, k, true, false}));
    HIX_TRY(b.matmul(MatmulArgs{u, h, wu, std::nullopt, 1, n, k, true, false}));
    HIX_TRY(b.unary(UnaryArgs{UnaryOp::silu, g, g}));
    return b.binary(BinaryArgs{BinaryOp::mul, prod, u, g});
  });
  const double e = product_atol(k, max_abs(hv), 0.1, F32, BF16);
  const double up = max_abs(p.read(p.ref(), u));
  p.compare(s, Tol{1.1 * e, 1e-5, false}, "silu(gate) elsewhere");
  p.compare(g, Tol{1.1 * e, 1e-5, false}, "silu(gate)");
  p.compare(prod, Tol{2.2 * e * (up + 1.0), 1e-5, false}, "up * silu(gate)");
  p.end();
}

// Outside a group (a prefill's rows): SILU or GELU in place, then the MUL
// by up in place, as one pass; and a MUL that cannot join (up broadcast)
// after the activation, which then runs first on its own.
TEST_F(GroupFallback, AnActivationAndItsMulOverPrefillRowsMatchTheCpu) {
  Pair& p = pair();
  p.begin("silu then mul, gelu then mul, silu then a broadcast mul, 16 rows");
  const std::uint32_t rows = 16;
  const std::uint32_t n = 1000;
  for (const DType dt : {F32, BF16}) {
    const auto g = p.alloc(dt, cnt(rows, n));
    const auto u = p.alloc(dt, cnt(rows, n));
    const auto h = p.alloc(dt, cnt(rows, n));
    const auto b = p.alloc(dt, n);
    for (const TensorArg& t : {g, u, h, b}) p.put(t, p.random(t.count, -4, 4));
    p.run([&](Backend& be) {
      HIX_TRY(be.unary(UnaryArgs{UnaryOp::silu, g, g}));
      HIX_TRY(be.binary(BinaryArgs{BinaryOp::mul, g, g, u}));
      HIX_TRY(be.unary(UnaryArgs{UnaryOp::gelu, u, u}));
      HIX_TRY(be.binary(BinaryArgs{BinaryOp::mul, u, u, g}));
      HIX_TRY(be.unary(UnaryArgs{UnaryOp::silu, h, h}));
      return be.binary(BinaryArgs{BinaryOp::mul, h, h, b});
    });
    // expf and tanhf against the cpu's, a few ulp; products of |x| <= 4.
    p.compare(g, float_tol(dt, 1e-5, 1e-5), "silu(g) * u");
    p.compare(u, float_tol(dt, 1e-4, 1e-5), "gelu(u) * (silu(g) * u)");
    p.compare(h, float_tol(dt, 1e-5, 1e-5), "silu(h) * broadcast b");
  }
  p.end();
}

class HeldGroup : public BackendParamTest<std::size_t> {};

// A held group runs before a read of its output, with no finish() between.
TEST_P(HeldGroup, ReadBytesSeesAGroupStillHeld) {
  Pair& p = pair();
  const Target& gpu_target = gpu(GetParam());
  p.begin(gpu_target.label + ": read_bytes right after q and k");
  const std::uint32_t k = 1024;
  const auto h = p.alloc(F32, k);
  p.put(h, p.random(k, -1, 1));
  const auto wq = p.alloc(BF16, cnt(256, k));
  const auto wk = p.alloc(BF16, cnt(64, k));
  p.put(wq, p.random(wq.count, -0.1f, 0.1f));
  p.put(wk, p.random(wk.count, -0.1f, 0.1f));
  const auto q = p.alloc(F32, 256);
  const auto kk = p.alloc(F32, 64);
  p.poison(q);
  p.poison(kk);
  const auto ops = [&](Backend& b) {
    HIX_TRY(b.matmul(MatmulArgs{q, h, wq, std::nullopt, 1, 256, k, true, false}));
    return b.matmul(MatmulArgs{kk, h, wk, std::nullopt, 1, 64, k, true, false});
  };
  p.expect(ops(p.ref()) == Status::ok, "cpu ops");
  Backend& b = *gpu_target.backend;
  p.expect(ops(b) == Status::ok, "cuda ops");
  const auto want = p.read_raw(p.ref(), kk.offset, kk.count * 4);
  const auto got = p.read_raw(b, kk.offset, kk.count * 4);  // before any finish()
  p.compare_values(gpu_target.label.c_str(), F32, want, got,
                   Tol{product_atol(k, 1, 0.1, F32, BF16), 0, false}, "k");
  p.expect(b.finish() == Status::ok, "finish");
  p.end();
}

INSTANTIATE_TEST_SUITE_P(Configurations, HeldGroup, ::testing::Range<std::size_t>(0, kVariantCount),
                         variant_name);

}  // namespace
}  // namespace hix::vgpu::cuda::test
