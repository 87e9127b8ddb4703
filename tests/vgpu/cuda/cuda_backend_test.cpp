// hix-cuda-backend-test: the cuda compute backend (cuda_backend.hpp) op by op
// against the cpu reference backend (spec §6.4-§6.6): identical random inputs
// at identical VRAM offsets, the op on both, finish(), outputs compared
// within a tolerance stated per op (exact where the spec makes the result
// exact: conversions, argmax, sampling). Also loop recording and replay, the
// in-device crypto engine and host pinning. One line per case, a summary,
// exit 1 on any failure; without a GPU or driver it prints "skipped: no GPU"
// and exits 0, and a driver or device that is there but fails is a failure. `--only group,group`
// runs some groups; `--seed N` reseeds.
#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "backend_pair.hpp"
#include "cpu_backend.hpp"
#include "cuda_backend.hpp"
#include "gpu_presence.hpp"
#include "sealed_chunk.hpp"

namespace hix::vgpu::cuda::test {
namespace {

using Pair = BackendPair;

constexpr DType F32 = DType::f32;
constexpr DType BF16 = DType::bf16;
constexpr DType I32 = DType::i32;

std::uint64_t cnt(std::uint64_t a, std::uint64_t b = 1, std::uint64_t c = 1) {
  return a * b * c;
}

float max_abs(std::span<const float> v) {
  float m = 0;
  for (float x : v) m = std::max(m, std::fabs(x));
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

// Elementwise fp32 compute rounded once to the output's type: one unit in
// the last place of the output type, relative to the value.
Tol ulp_tol(DType out) {
  return out == BF16 ? Tol{1e-30, kBf16Ulp, false} : Tol{1e-30, 2.4e-7, false};
}

// fp32 compute of transcendental or reduced values (sum order, expf/tanhf
// differ by a few ulp): `rel` for an f32 output, one bf16 ulp more for bf16.
Tol float_tol(DType out, double atol, double rel) {
  return Tol{atol, out == BF16 ? kBf16Ulp + rel : rel, false};
}

// ---------------------------------------------------------------- io

void test_io(Pair& p) {
  if (!p.group("io")) return;
  // write_bytes / read_bytes at odd byte offsets and sizes, then zero() of
  // an odd sub-range.
  const std::uint64_t sizes[] = {1, 3, 4097, (1u << 20) + 1, (32u << 20) + 3};
  const std::uint64_t mis[] = {1, 3, 0, 7, 5};
  for (std::size_t i = 0; i < std::size(sizes); ++i) {
    const std::uint64_t n = sizes[i];
    p.begin(strf("write/read/zero %" PRIu64 " bytes at +%" PRIu64, n, mis[i]));
    const VramOffset off = p.alloc_bytes(n, mis[i]);
    const auto data = p.random_bytes(n);
    p.put_bytes(off, data);
    for (const Target& g : p.gpus()) {
      p.expect(p.read_raw(*g.backend, off, n) == data, (g.label + ": read back differs").c_str());
    }
    const std::uint64_t z_off = n / 3;
    const std::uint64_t z_len = n - n / 3 - n / 5;
    p.expect(p.ref().zero(VramOffset{off.value + z_off}, z_len) == Status::ok, "cpu zero");
    for (const Target& g : p.gpus()) {
      p.expect(g.backend->zero(VramOffset{off.value + z_off}, z_len) == Status::ok, "zero");
      p.expect(g.backend->finish() == Status::ok, "finish after zero");
    }
    auto want = data;
    std::fill(want.begin() + static_cast<std::ptrdiff_t>(z_off),
              want.begin() + static_cast<std::ptrdiff_t>(z_off + z_len), std::byte{0});
    for (const Target& g : p.gpus()) {
      p.expect(p.read_raw(*g.backend, off, n) == want, (g.label + ": after zero").c_str());
      p.check_guards(g, off, n, "range");
    }
    p.end();
  }
}

// ---------------------------------------------------------------- fill, copy

// Values that bf16 rounding must treat exactly: ties both ways, values that
// round to infinity, NaNs (signalling, negative), denormals, signed zero.
std::vector<std::uint32_t> special_bits() {
  return {0x00000000u,
          0x80000000u,
          0x3F808000u /* 1+2^-8: tie, even down */,
          0x3F818000u /* tie, odd up */,
          0x3F808001u,
          0x3F807FFFu,
          0x7F7FFFFFu /* -> inf */,
          0x7F7F7FFFu,
          0x7F800000u,
          0xFF800000u,
          0x7FC00000u,
          0x7F800001u /* sNaN */,
          0xFFC12345u,
          0x00000001u /* denormal */,
          0x80008000u,
          0x007FFFFFu,
          0x00800000u,
          0xC0490FDBu,
          0x3EAAAAABu};
}

void test_fill(Pair& p) {
  if (!p.group("fill")) return;
  const std::uint64_t counts[] = {1, 5, 7, 255, 257, 100003};
  std::size_t c = 0;
  for (const DType dt : {F32, BF16, I32}) {
    auto values = special_bits();
    values.push_back(static_cast<std::uint32_t>(p.rng()()));
    for (const std::uint32_t v : values) {
      const std::uint64_t n = counts[c % std::size(counts)];
      const std::uint64_t mis = c % 4;
      ++c;
      p.begin(strf("%s count=%" PRIu64 " +%" PRIu64 " bits=0x%08x", dt_name(dt), n, mis, v));
      const auto t = p.alloc(dt, n, mis);
      p.poison(t);
      p.run([&](Backend& b) { return b.fill(t, v); });
      p.compare(t, exact_tol());
      p.end();
    }
  }
}

void test_copy(Pair& p) {
  if (!p.group("copy")) return;
  const std::uint64_t counts[] = {1, 7, 33, 1000, 65537, 262147};
  const std::pair<DType, DType> kinds[] = {
      {F32, BF16}, {BF16, F32}, {F32, F32}, {BF16, BF16}, {I32, I32}};
  std::size_t c = 0;
  for (const auto& [src_dt, dst_dt] : kinds) {
    for (const std::uint64_t n : counts) {
      const std::uint64_t ms = c % 4;
      const std::uint64_t md = (c + 1) % 4;
      ++c;
      p.begin(strf("%s -> %s count=%" PRIu64 " src+%" PRIu64 " dst+%" PRIu64, dt_name(src_dt),
                   dt_name(dst_dt), n, ms, md));
      const auto src = p.alloc(src_dt, n, ms);
      const auto dst = p.alloc(dst_dt, n, md);
      if (src_dt == I32) {
        std::vector<std::int32_t> v(n);
        for (auto& x : v) x = static_cast<std::int32_t>(p.rng()());
        p.put_i32(src, v);
      } else {
        // Random bit patterns (every class of float), the specials, and
        // plain values: bf16 round-to-nearest-even must match bit for bit.
        std::vector<std::uint32_t> bits(n);
        const auto specials = special_bits();
        for (std::uint64_t i = 0; i < n; ++i) {
          const std::uint64_t r = p.rng()();
          const auto hi = static_cast<std::uint32_t>(r >> 32);
          if (i < specials.size()) {
            bits[i] = specials[i];
          } else if ((r & 3) == 0) {
            bits[i] = hi;  // any bit pattern
          } else if ((r & 3) == 1) {
            bits[i] = 0x3F800000u | (hi & 0x1FFFFu);  // near 1: many ties and near-ties
          } else {
            bits[i] = f32_bits(static_cast<float>(static_cast<std::int32_t>(hi >> 8) - (1 << 23)) /
                               65536.0f);
          }
        }
        std::vector<float> f(n);
        for (std::uint64_t i = 0; i < n; ++i) f[i] = bits_f32(bits[i]);
        if (src_dt == F32) {
          p.put_bytes(src.offset, std::as_bytes(std::span(bits)));
        } else {
          p.put(src, f);
        }
      }
      p.poison(dst);
      p.run([&](Backend& b) { return b.copy(dst, src); });
      p.compare(dst, exact_tol());
      p.end();
    }
  }
}

// ---------------------------------------------------------------- embedding

std::vector<std::int32_t> random_ids(Pair& p, std::uint32_t rows, std::uint32_t vocab) {
  std::vector<std::int32_t> ids(rows);
  for (auto& id : ids) id = static_cast<std::int32_t>(p.rng()() % vocab);
  if (rows > 2) {
    ids[0] = 0;
    ids[1] = static_cast<std::int32_t>(vocab - 1);
  }
  return ids;
}

void test_embedding(Pair& p) {
  if (!p.group("embedding")) return;
  const std::uint32_t vocab = 1000;
  const std::uint32_t dims[] = {1, 5, 768, 1023};
  const std::uint32_t rows_list[] = {1, 7, 17};
  std::size_t c = 0;
  for (const DType tdt : {F32, BF16}) {
    for (const DType odt : {F32, BF16}) {
      for (const std::uint32_t dim : dims) {
        const std::uint32_t rows = rows_list[c % 3];
        const std::uint64_t mis = c % 4;
        ++c;
        p.begin(strf("table=%s out=%s rows=%u dim=%u vocab=%u +%" PRIu64, dt_name(tdt),
                     dt_name(odt), rows, dim, vocab, mis));
        const auto table = p.alloc(tdt, cnt(vocab, dim), mis);
        const auto ids = p.alloc(I32, rows, (mis + 1) % 4);
        const auto out = p.alloc(odt, cnt(rows, dim), (mis + 3) % 4);
        p.put(table, p.random(table.count, -3, 3));
        p.put_i32(ids, random_ids(p, rows, vocab));
        p.poison(out);
        p.run([&](Backend& b) {
          return b.embedding(EmbeddingArgs{out, table, ids, rows, dim, vocab});
        });
        p.compare(out, exact_tol());
        p.end();
      }
    }
  }
  // Ids outside [0, vocab): the cpu op answers at once, the cuda backend by
  // the next finish() at the latest; afterwards it works as before.
  for (const std::int32_t bad : {static_cast<std::int32_t>(vocab), -1, 0x7FFFFFFF}) {
    p.begin(strf("id %d out of range (vocab %u), then a valid lookup", bad, vocab));
    const std::uint32_t rows = 9;
    const std::uint32_t dim = 64;
    const auto table = p.alloc(F32, cnt(vocab, dim), 1);
    const auto ids = p.alloc(I32, rows, 3);
    const auto out = p.alloc(F32, cnt(rows, dim));
    p.put(table, p.random(table.count, -1, 1));
    auto id_v = random_ids(p, rows, vocab);
    id_v[5] = bad;
    p.put_i32(ids, id_v);
    const EmbeddingArgs args{out, table, ids, rows, dim, vocab};
    const Status cs = p.ref().embedding(args);
    p.expect(cs == Status::index_out_of_range, "cpu: index_out_of_range");
    for (const Target& g : p.gpus()) {
      Status s = g.backend->embedding(args);
      if (s == Status::ok) s = g.backend->finish();
      if (s != Status::index_out_of_range) {
        p.fail("%s: op+finish gave %s, want index_out_of_range", g.label.c_str(),
               status_name(s).c_str());
      }
      const Status again = g.backend->finish();
      if (again != Status::ok) {
        p.fail("%s: the finish() after the error gave %s", g.label.c_str(),
               status_name(again).c_str());
      }
    }
    id_v[5] = 3;
    p.put_i32(ids, id_v);
    p.poison(out);
    p.run([&](Backend& b) { return b.embedding(args); });
    p.compare(out, exact_tol());
    p.end();
  }
}

// ---------------------------------------------------------------- matmul

struct MatmulCase {
  std::uint32_t m, n, k;
  DType a_dt, b_dt, out_dt, bias_dt;
  bool trans_b, bias, accumulate;
  std::uint64_t mis;
};

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
  const auto a = p.alloc(c.a_dt, cnt(m, k), c.mis);
  const auto b = p.alloc(c.b_dt, cnt(k, n), (c.mis + 1) % 4);
  const auto out = p.alloc(c.out_dt, cnt(m, n), (c.mis + 3) % 4);
  std::optional<TensorArg> bias;
  const auto av = Pair::stored(c.a_dt, p.random(a.count, -1, 1));
  const auto bv = Pair::stored(c.b_dt, p.random(b.count, -1, 1));
  p.put(a, av);
  p.put(b, bv);
  if (c.bias) {
    bias = p.alloc(c.bias_dt, n, c.mis % 2);
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

void test_matmul(Pair& p) {
  if (!p.group("matmul")) return;
  struct Dts {
    DType a, b, out;
  };
  const Dts combos[] = {{F32, BF16, F32} /* the model's case */,
                        {F32, F32, F32},
                        {BF16, BF16, F32},
                        {F32, BF16, BF16},
                        {BF16, BF16, BF16}};
  const std::uint32_t ms[] = {1, 2, 3, 7, 8, 17, 128};
  const std::pair<std::uint32_t, std::uint32_t> nks[] = {{1, 1},    {5, 5},     {64, 257},
                                                         {257, 64}, {1024, 64}, {5, 1024}};
  std::uint64_t i = 0;
  for (const Dts& d : combos) {
    for (const std::uint32_t m : ms) {
      for (const auto& [n, k] : nks) {
        for (const bool tb : {false, true}) {
          // bias and accumulate rotate, so each path sees all four.
          matmul_case(p, MatmulCase{m, n, k, d.a, d.b, d.out, (i & 4) != 0 ? BF16 : F32, tb,
                                    (i & 1) != 0, (i & 2) != 0, i % 4});
          ++i;
        }
      }
    }
  }
  // Model-sized shapes: decode GEMVs over wide weights and a prefill GEMM.
  const MatmulCase big[] = {
      {1, 4096, 1024, F32, BF16, F32, F32, true, true, false, 0},
      {1, 4096, 1024, F32, BF16, F32, F32, false, false, true, 1},
      {1, 1024, 4096, F32, BF16, F32, F32, true, false, false, 3},
      {3, 2304, 768, F32, BF16, F32, BF16, true, true, false, 0},
      {17, 4096, 1024, F32, BF16, F32, F32, true, true, true, 1},
      {128, 1024, 1024, F32, BF16, F32, F32, true, true, false, 0},
      {128, 1024, 1024, F32, F32, F32, F32, false, false, true, 3},
      {128, 50257 / 8, 768, F32, BF16, F32, F32, true, false, false, 0},
  };
  for (const MatmulCase& c : big) matmul_case(p, c);
}

// ---------------------------------------------------------------- elementwise

void test_binary(Pair& p) {
  if (!p.group("binary")) return;
  const std::pair<std::uint64_t, std::uint64_t> shapes[] = {
      {1, 1}, {5, 1}, {7, 7}, {768 * 3, 768}, {4099 * 2, 4099}, {5000 * 7, 5000}, {262147, 262147}};
  const DType dts[][3] = {
      {F32, F32, F32}, {F32, BF16, F32}, {BF16, F32, BF16}, {BF16, BF16, BF16}, {F32, F32, BF16}};
  std::size_t c = 0;
  for (const BinaryOp op : {BinaryOp::add, BinaryOp::mul}) {
    for (const auto& [n, nb] : shapes) {
      const auto& d = dts[c % std::size(dts)];
      const std::uint64_t mis = c % 4;
      ++c;
      p.begin(strf("%s n=%" PRIu64 " nb=%" PRIu64 " a=%s b=%s out=%s +%" PRIu64,
                   op == BinaryOp::add ? "add" : "mul", n, nb, dt_name(d[0]), dt_name(d[1]),
                   dt_name(d[2]), mis));
      const auto a = p.alloc(d[0], n, mis);
      const auto b = p.alloc(d[1], nb, (mis + 1) % 4);
      const auto out = p.alloc(d[2], n, (mis + 2) % 4);
      p.put(a, p.random(n, -4, 4));
      p.put(b, p.random(nb, -4, 4));
      p.poison(out);
      p.run([&](Backend& be) { return be.binary(BinaryArgs{op, out, a, b}); });
      p.compare(out, ulp_tol(d[2]));
      p.end();
    }
  }
}

void norm_case(Pair& p, bool layer, std::uint32_t rows, std::uint32_t cols, DType x_dt, DType g_dt,
               DType out_dt, std::uint64_t mis, bool in_place) {
  p.begin(strf("%s rows=%u cols=%u x=%s gamma=%s out=%s%s +%" PRIu64,
               layer ? "layernorm" : "rmsnorm", rows, cols, dt_name(x_dt), dt_name(g_dt),
               dt_name(in_place ? x_dt : out_dt), in_place ? " in-place" : "", mis));
  const auto x = p.alloc(x_dt, cnt(rows, cols), mis);
  const auto gamma = p.alloc(g_dt, cols, (mis + 1) % 4);
  std::optional<TensorArg> beta;
  // An offset mean (LayerNorm must subtract it stably) and a spread.
  auto xv = p.random(x.count, -2, 2);
  for (float& v : xv) v += 3.0f;
  p.put(x, xv);
  p.put(gamma, p.random(cols, -1.5, 1.5));
  if (layer) {
    beta = p.alloc(g_dt, cols, (mis + 2) % 4);
    p.put(*beta, p.random(cols, -1, 1));
  }
  const TensorArg out = in_place ? x : p.alloc(out_dt, cnt(rows, cols), (mis + 3) % 4);
  if (!in_place) p.poison(out);
  const NormArgs args{out, x, gamma, beta, rows, cols, 1e-5f};
  p.run([&](Backend& b) { return layer ? b.layernorm(args) : b.rmsnorm(args); });
  // Normalised values are O(1) times gamma (<= 1.5): fp32 sums in another
  // order and rsqrtf differ by ~1e-6 relative.
  p.compare(out, float_tol(out.dtype, 2e-5, 2e-5));
  p.end();
}

void test_norm(Pair& p) {
  if (!p.group("norm")) return;
  const std::uint32_t cols_list[] = {1, 5, 768, 4096, 5000};
  const std::uint32_t rows_list[] = {1, 3, 17};
  std::size_t c = 0;
  for (const bool layer : {true, false}) {
    for (const std::uint32_t cols : cols_list) {
      for (const DType dt : {F32, BF16}) {
        const DType other = dt == F32 ? BF16 : F32;
        norm_case(p, layer, rows_list[c % 3], cols, dt, other, dt, c % 4, false);
        norm_case(p, layer, rows_list[(c + 1) % 3], cols, other, dt, dt, (c + 1) % 4, false);
        ++c;
      }
    }
  }
}

void unary_case(Pair& p, UnaryOp op, std::uint64_t n, DType x_dt, DType out_dt, std::uint64_t mis,
                bool in_place) {
  p.begin(strf("%s count=%" PRIu64 " x=%s out=%s%s +%" PRIu64,
               op == UnaryOp::gelu ? "gelu" : "silu", n, dt_name(x_dt),
               dt_name(in_place ? x_dt : out_dt), in_place ? " in-place" : "", mis));
  const auto x = p.alloc(x_dt, n, mis);
  p.put(x, p.random(n, -8, 8));
  const TensorArg out = in_place ? x : p.alloc(out_dt, n, (mis + 1) % 4);
  if (!in_place) p.poison(out);
  p.run([&](Backend& b) { return b.unary(UnaryArgs{op, out, x}); });
  // tanhf/expf (or their fast forms) against libm: a few ulp, and near
  // the zero crossings an absolute 1e-6.
  p.compare(out, float_tol(out.dtype, 1e-6, 1e-5));
  p.end();
}

void test_unary(Pair& p) {
  if (!p.group("unary")) return;
  const std::uint64_t counts[] = {1, 5, 257, 100003};
  std::size_t c = 0;
  for (const UnaryOp op : {UnaryOp::gelu, UnaryOp::silu}) {
    for (const std::uint64_t n : counts) {
      for (const auto& [xd, od] : {std::pair{F32, F32}, std::pair{BF16, F32}, std::pair{F32, BF16},
                                   std::pair{BF16, BF16}}) {
        unary_case(p, op, n, xd, od, c % 4, false);
        ++c;
      }
    }
  }
}

void softmax_case(Pair& p, std::uint32_t rows, std::uint32_t cols, DType x_dt, DType out_dt,
                  std::uint64_t mis, bool in_place) {
  p.begin(strf("rows=%u cols=%u x=%s out=%s%s +%" PRIu64, rows, cols, dt_name(x_dt),
               dt_name(in_place ? x_dt : out_dt), in_place ? " in-place" : "", mis));
  const auto x = p.alloc(x_dt, cnt(rows, cols), mis);
  p.put(x, p.random(x.count, -10, 10));
  const TensorArg out = in_place ? x : p.alloc(out_dt, cnt(rows, cols), (mis + 1) % 4);
  if (!in_place) p.poison(out);
  p.run([&](Backend& b) { return b.softmax(RowsArgs{out, x, rows, cols}); });
  // Probabilities: expf a few ulp, the row sum in another order.
  p.compare(out, float_tol(out.dtype, 1e-8, 2e-5));
  p.end();
}

void test_softmax(Pair& p) {
  if (!p.group("softmax")) return;
  const std::uint32_t cols_list[] = {1, 5, 768, 4096, 5000, 50257};
  std::size_t c = 0;
  for (const std::uint32_t cols : cols_list) {
    for (const auto& [xd, od] : {std::pair{F32, F32}, std::pair{BF16, F32}, std::pair{F32, BF16}}) {
      softmax_case(p, c % 2 == 0 ? 3 : 1, cols, xd, od, c % 4, false);
      ++c;
    }
  }
}

// ---------------------------------------------------------------- rope, attention

void rope_case(Pair& p, std::uint32_t tokens, std::uint32_t heads, std::uint32_t head_dim,
               std::uint32_t rot_dim, std::uint64_t pos, DType x_dt, DType out_dt,
               std::uint64_t mis, bool in_place) {
  p.begin(strf("tokens=%u heads=%u head_dim=%u rot_dim=%u pos=%" PRIu64 " x=%s out=%s%s +%" PRIu64,
               tokens, heads, head_dim, rot_dim, pos, dt_name(x_dt),
               dt_name(in_place ? x_dt : out_dt), in_place ? " in-place" : "", mis));
  const auto x = p.alloc(x_dt, cnt(tokens, heads, head_dim), mis);
  const auto xv = p.random(x.count, -2, 2);
  p.put(x, xv);
  const TensorArg out = in_place ? x : p.alloc(out_dt, x.count, (mis + 1) % 4);
  if (!in_place) p.poison(out);
  p.run([&](Backend& b) {
    return b.rope(RopeArgs{out, x, tokens, heads, head_dim, rot_dim, pos, 10000.0f});
  });
  // The cpu takes the angle p*theta^(-2i/rot_dim) in double; an fp32 angle
  // is off by ~2^-22 of itself (<= (pos+tokens) rad), which moves each
  // output by at most 2*max|x| times that, plus sinf/cosf's few ulp.
  const double angle_err = static_cast<double>(pos + tokens) * 2.4e-7 + 2e-6;
  p.compare(out, float_tol(out.dtype, 2.0 * max_abs(xv) * angle_err, 1e-6));
  p.end();
}

void test_rope(Pair& p) {
  if (!p.group("rope")) return;
  rope_case(p, 1, 12, 64, 64, 0, F32, F32, 0, false);
  rope_case(p, 1, 12, 64, 64, 37, F32, F32, 1, false);
  rope_case(p, 17, 4, 128, 64, 5, F32, BF16, 3, false);
  rope_case(p, 3, 2, 64, 32, 1000, BF16, F32, 2, false);
  rope_case(p, 7, 8, 128, 128, 1, BF16, BF16, 1, false);
  rope_case(p, 5, 3, 80, 2, 12, F32, F32, 3, false);
  rope_case(p, 33, 32, 128, 128, 100, BF16, BF16, 0, false);
}

struct AttnCfg {
  std::uint32_t q_heads, kv_heads, head_dim;
  DType qkv_dt, cache_dt, out_dt;
  float scale;
  bool out_is_q;
};

// Prefill of 17 tokens at position 0, decode of one token at 17 and at 18,
// then a chunk that fills the cache to max_seq exactly. The cache starts as
// random garbage (identical on both): rows past the causal limit must not
// be read. Each step compares out and both caches (the cache rows are
// conversions: exact).
void attention_sequence(Pair& p, const AttnCfg& c) {
  const std::uint32_t max_seq = 64;
  const std::uint32_t hd = c.head_dim;
  const std::string cfg =
      strf("q_heads=%u kv_heads=%u head_dim=%u qkv=%s cache=%s out=%s%s", c.q_heads, c.kv_heads, hd,
           dt_name(c.qkv_dt), dt_name(c.cache_dt), dt_name(c.out_is_q ? c.qkv_dt : c.out_dt),
           c.out_is_q ? " out=q" : "");
  p.reset_arena();
  const auto k_cache = p.alloc(c.cache_dt, cnt(max_seq, c.kv_heads, hd), 1);
  const auto v_cache = p.alloc(c.cache_dt, cnt(max_seq, c.kv_heads, hd), 3);
  p.put(k_cache, p.random(k_cache.count, -1, 1));
  p.put(v_cache, p.random(v_cache.count, -1, 1));
  const std::pair<std::uint32_t, std::uint64_t> steps[] = {{17, 0}, {1, 17}, {1, 18}, {45, 19}};
  std::uint64_t mis = 0;
  for (const auto& [tokens, pos] : steps) {
    p.begin(strf("%s tokens=%u pos=%" PRIu64, cfg.c_str(), tokens, pos), false);
    const auto q = p.alloc(c.qkv_dt, cnt(tokens, c.q_heads, hd), mis % 4);
    const auto k = p.alloc(c.qkv_dt, cnt(tokens, c.kv_heads, hd), (mis + 1) % 4);
    const auto v = p.alloc(c.qkv_dt, cnt(tokens, c.kv_heads, hd), (mis + 2) % 4);
    ++mis;
    p.put(q, p.random(q.count, -1, 1));
    p.put(k, p.random(k.count, -1, 1));
    p.put(v, p.random(v.count, -1, 1));
    const TensorArg out = c.out_is_q ? q : p.alloc(c.out_dt, q.count, mis % 4);
    if (!c.out_is_q) p.poison(out);
    const AttentionArgs args{out,       q,          k,  v,       k_cache, v_cache, tokens,
                             c.q_heads, c.kv_heads, hd, max_seq, pos,     c.scale};
    p.run([&](Backend& b) { return b.attention(args); });
    // Weighted means of values in [-1, 1]: fp32 dots, expf and sums in
    // another order, ~1e-6.
    p.compare(out, float_tol(out.dtype, 2e-5, 1e-5));
    p.compare(k_cache, exact_tol(), "k_cache");
    p.compare(v_cache, exact_tol(), "v_cache");
    p.end();
  }
}

void test_attention(Pair& p) {
  if (!p.group("attention")) return;
  const AttnCfg cfgs[] = {
      {8, 2, 64, F32, F32, F32, 0.125f, false},
      {8, 2, 64, BF16, BF16, BF16, 0.125f, false},
      {8, 2, 128, F32, BF16, F32, 1.0f / std::sqrt(128.0f), false},
      {4, 4, 128, F32, F32, F32, 0.3f, false},
      {4, 4, 64, BF16, F32, F32, 0.125f, false},
      {12, 12, 64, F32, BF16, F32, 0.125f, false},
      {8, 1, 64, F32, F32, F32, 0.125f, false},
  };
  for (const AttnCfg& c : cfgs) attention_sequence(p, c);
}

// ---------------------------------------------------------------- argmax, sample

void argmax_case(Pair& p, const std::string& name, std::uint32_t rows, std::uint32_t cols, DType dt,
                 const std::vector<float>& xv, std::uint64_t mis) {
  p.begin(strf("%s rows=%u cols=%u x=%s +%" PRIu64, name.c_str(), rows, cols, dt_name(dt), mis));
  const auto x = p.alloc(dt, cnt(rows, cols), mis);
  const auto out = p.alloc(I32, rows, (mis + 1) % 4);
  p.put(x, xv);
  p.poison(out);
  p.run([&](Backend& b) { return b.argmax(RowsArgs{out, x, rows, cols}); });
  p.compare(out, exact_tol());
  p.end();
}

void test_argmax(Pair& p) {
  if (!p.group("argmax")) return;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  std::size_t c = 0;
  for (const DType dt : {F32, BF16}) {
    for (const std::uint32_t rows : {1u, 3u, 7u}) {
      for (const std::uint32_t cols : {1u, 5u, 1000u, 50257u}) {
        argmax_case(p, "random", rows, cols, dt, p.random(cnt(rows, cols), -10, 10), c++ % 4);
      }
    }
    // Ties: few distinct values, so the maximum repeats; the lowest index wins.
    {
      const std::uint32_t rows = 5;
      const std::uint32_t cols = 4099;
      std::vector<float> v(cnt(rows, cols));
      for (float& x : v) x = static_cast<float>(p.rng()() % 4);
      argmax_case(p, "ties", rows, cols, dt, v, c++ % 4);
    }
    // NaN never wins; an all-NaN or all -inf row gives 0 (the cpu's rule).
    {
      const std::uint32_t rows = 6;
      const std::uint32_t cols = 300;
      auto v = p.random(cnt(rows, cols), -1, 1);
      v[0] = nan;  // row 0: NaN first
      v[17] = nan;
      v[cols + 299] = nan;  // row 1: NaN last
      v[cols + 298] = 5.0f;
      for (std::uint32_t i = 0; i < cols; ++i) v[2 * cols + i] = nan;   // row 2: all NaN
      for (std::uint32_t i = 0; i < cols; ++i) v[3 * cols + i] = -inf;  // row 3: all -inf
      v[4 * cols + 10] = inf;                                           // row 4: +inf twice
      v[4 * cols + 20] = inf;
      for (std::uint32_t i = 0; i < cols; ++i) v[5 * cols + i] = i % 2 == 0 ? nan : -inf;
      v[5 * cols + 251] = -1e30f;  // row 5: NaN, -inf, one finite
      argmax_case(p, "NaN/inf", rows, cols, dt, v, c++ % 4);
    }
  }
}

void sample_case(Pair& p, std::uint32_t rows, std::uint32_t cols, DType dt, float temperature,
                 std::uint32_t top_k, std::uint64_t first_draw, bool ties, std::uint64_t mis) {
  const std::uint64_t seed = p.rng()();
  p.begin(strf("rows=%u cols=%u x=%s temp=%.2f top_k=%u first_draw=%" PRIu64 "%s +%" PRIu64, rows,
               cols, dt_name(dt), static_cast<double>(temperature), top_k, first_draw,
               ties ? " ties" : "", mis));
  const auto x = p.alloc(dt, cnt(rows, cols), mis);
  const auto out = p.alloc(I32, rows, (mis + 2) % 4);
  auto v = p.random(x.count, -5, 5);
  if (ties) {
    for (float& f : v) f = static_cast<float>(p.rng()() % 6) * 0.5f;
  }
  p.put(x, v);
  p.poison(out);
  p.run([&](Backend& b) {
    return b.sample(SampleArgs{out, x, rows, cols, temperature, top_k, seed, first_draw});
  });
  p.compare(out, exact_tol());
  p.end();
}

void test_sample(Pair& p) {
  if (!p.group("sample")) return;
  std::uint64_t c = 0;
  for (const DType dt : {F32, BF16}) {
    for (const float temp : {0.7f, 1.0f}) {
      for (const std::uint32_t top_k : {0u, 1u, 40u}) {
        sample_case(p, 1, 5, dt, temp, top_k, 0, false, c++ % 4);
        sample_case(p, 4, 1000, dt, temp, top_k, 3, false, c++ % 4);
        sample_case(p, 3, 50257, dt, temp, top_k, c % 5, false, (c + 2) % 4);
        ++c;
        sample_case(p, 8, 100, dt, temp, top_k, 1, true, c++ % 4);
      }
    }
  }
  // top_k larger than the row, and a sharp temperature.
  sample_case(p, 2, 30, F32, 0.05f, 64, 2, false, 1);
  sample_case(p, 16, 2000, BF16, 1.3f, 7, 100, false, 3);
}

// ---------------------------------------------------------------- aliasing

void test_alias(Pair& p) {
  if (!p.group("alias")) return;
  // Ops that read everything before writing (spec §6.2): outputs on top of
  // their inputs.
  norm_case(p, true, 3, 768, F32, F32, F32, 1, true);
  norm_case(p, true, 2, 4096, BF16, BF16, BF16, 3, true);
  norm_case(p, false, 3, 768, F32, BF16, F32, 0, true);
  norm_case(p, false, 5, 5000, BF16, F32, BF16, 1, true);
  softmax_case(p, 3, 5000, F32, F32, 1, true);
  softmax_case(p, 2, 50257, BF16, BF16, 3, true);
  unary_case(p, UnaryOp::gelu, 100003, F32, F32, 1, true);
  unary_case(p, UnaryOp::silu, 4097, BF16, BF16, 3, true);
  rope_case(p, 17, 4, 128, 64, 5, F32, F32, 1, true);
  rope_case(p, 3, 8, 64, 64, 9, BF16, BF16, 0, true);
  attention_sequence(p, AttnCfg{8, 2, 64, F32, F32, F32, 0.125f, true});
  attention_sequence(p, AttnCfg{4, 4, 128, BF16, BF16, BF16, 0.2f, true});

  // binary: out == a, and out == b where nb == n.
  for (const bool on_b : {false, true}) {
    p.begin(strf("add out == %s n=4099", on_b ? "b" : "a"));
    const auto a = p.alloc(F32, 4099, 1);
    const auto b = p.alloc(BF16, 4099, 3);
    p.put(a, p.random(a.count, -2, 2));
    p.put(b, p.random(b.count, -2, 2));
    const TensorArg out = on_b ? b : a;
    p.run([&](Backend& be) { return be.binary(BinaryArgs{BinaryOp::add, out, a, b}); });
    p.compare(out, ulp_tol(out.dtype));
    p.end();
  }

  // matmul with out on top of a (n == k), partly over a, and over b.
  struct MmAlias {
    std::uint32_t m, n, k;
    DType a_dt, b_dt;
    bool trans_b;
    std::int64_t out_shift;  // out's offset from a's, in elements of a
    bool over_b;
  };
  const MmAlias mm[] = {
      {1, 257, 257, F32, BF16, true, 0, false},   {1, 257, 257, F32, F32, false, 0, false},
      {17, 64, 64, F32, BF16, true, 0, false},    {128, 256, 256, F32, F32, false, 0, false},
      {128, 256, 256, F32, BF16, true, 0, false}, {7, 64, 64, F32, BF16, true, 5, false},
      {7, 64, 64, F32, F32, false, -5, false},    {20, 64, 64, F32, BF16, true, 37, false},
      {8, 64, 64, F32, F32, false, 0, true},      {2, 64, 64, F32, F32, true, 0, true},
  };
  for (const MmAlias& c : mm) {
    p.begin(strf("matmul m=%u n=%u k=%u a=%s b=%s%s out %s%+" PRId64, c.m, c.n, c.k,
                 dt_name(c.a_dt), dt_name(c.b_dt), c.trans_b ? " trans_b" : "",
                 c.over_b ? "= b" : "= a", c.out_shift));
    const std::uint64_t slack = 64;
    const TensorArg region = p.alloc(c.a_dt, cnt(c.m, c.k) + 2 * slack, 1);
    const TensorArg a{VramOffset{region.offset.value + slack * 4}, c.a_dt, cnt(c.m, c.k)};
    const TensorArg b = p.alloc(c.b_dt, cnt(c.k, c.n), 3);
    p.put(region, p.random(region.count, -1, 1));
    const auto bv = Pair::stored(c.b_dt, p.random(b.count, -1, 1));
    p.put(b, bv);
    TensorArg out{};
    if (c.over_b) {
      out = TensorArg{b.offset, c.b_dt, cnt(c.m, c.n)};
    } else {
      const auto shift = static_cast<std::uint64_t>(static_cast<std::int64_t>(slack) + c.out_shift);
      out = TensorArg{VramOffset{region.offset.value + shift * 4}, c.a_dt, cnt(c.m, c.n)};
    }
    const MatmulArgs args{out, a, b, std::nullopt, c.m, c.n, c.k, c.trans_b, false};
    p.run([&](Backend& be) { return be.matmul(args); });
    const double eps = (c.a_dt == BF16 || c.b_dt == BF16) ? 1.0 / 256 : 1e-5;
    const double atol = std::sqrt(static_cast<double>(c.k)) * max_abs(bv) * eps + 1e-6;
    p.compare(out, Tol{atol, out.dtype == BF16 ? kBf16Ulp : 0.0, false});
    p.compare(region, Tol{atol, out.dtype == BF16 ? kBf16Ulp : 0.0, false}, "a's region");
    p.end();
  }

  // copy between overlapping ranges, also of different element sizes.
  struct CpAlias {
    DType src_dt, dst_dt;
    std::int64_t dst_shift_bytes;
    std::uint64_t count;
  };
  const CpAlias cp[] = {{F32, F32, 12, 1000},  {F32, F32, -12, 1000}, {BF16, F32, 0, 1001},
                        {F32, BF16, 0, 1001},  {BF16, F32, 8, 70001}, {F32, BF16, -4, 70001},
                        {BF16, BF16, 2, 65537}};
  for (const CpAlias& c : cp) {
    p.begin(strf("copy %s -> %s count=%" PRIu64 " dst = src%+" PRId64 " bytes", dt_name(c.src_dt),
                 dt_name(c.dst_dt), c.count, c.dst_shift_bytes));
    const std::uint64_t slack = 64;
    const TensorArg region = p.alloc(F32, c.count * 2 + 2 * slack, 0);
    p.put(region, p.random(region.count, -100, 100));
    const TensorArg src{VramOffset{region.offset.value + slack * 4}, c.src_dt, c.count};
    const TensorArg dst{VramOffset{static_cast<std::uint64_t>(
                            static_cast<std::int64_t>(src.offset.value) + c.dst_shift_bytes)},
                        c.dst_dt, c.count};
    p.run([&](Backend& b) { return b.copy(dst, src); });
    p.compare(dst, exact_tol());
    p.compare(TensorArg{region.offset, I32, region.count}, exact_tol(), "region bytes");
    p.end();
  }
}

// ---------------------------------------------------------------- ordering

// The backend queues ops; memory calls and the crypto engine must see the
// queue's effects in issue order, as the executor interleaves them without
// finish() (DMA_IN after an op, BREAK_IF_EQ reads, DMA_OUT_ENCRYPT).
void test_ordering(Pair& p) {
  if (!p.group("ordering")) return;
  for (const Target& g : p.gpus()) {
    Backend& b = *g.backend;
    p.begin(strf("%s: write_bytes and read_bytes after queued ops", g.label.c_str()));
    const std::uint32_t m = 1;
    const std::uint32_t n = 2048;
    const std::uint32_t k = 2048;
    const auto a = p.alloc(F32, cnt(m, k));
    const auto w = p.alloc(BF16, cnt(n, k));
    const auto h = p.alloc(F32, n);
    const auto h2 = p.alloc(F32, n);
    const auto av = p.random(a.count, -1, 1);
    p.put(a, av);
    p.put(w, p.random(w.count, -1, 1));
    p.poison(h);
    p.poison(h2);
    // cpu: h = a.w^T; h2 = copy(h); then a is overwritten.
    const MatmulArgs mm{h, a, w, std::nullopt, m, n, k, true, false};
    p.expect(p.ref().matmul(mm) == Status::ok, "cpu matmul");
    p.expect(p.ref().copy(h2, h) == Status::ok, "cpu copy");
    const auto av2 = p.random(a.count, -1, 1);
    const auto a2_bytes = Pair::encode(F32, av2);
    p.expect(p.ref().write_bytes(a.offset, a2_bytes) == Status::ok, "cpu write");
    // cuda: the same with no finish() in between: the write must not
    // overtake the matmul that reads a, and read_bytes must see h2.
    p.expect(b.matmul(mm) == Status::ok, "matmul");
    p.expect(b.copy(h2, h) == Status::ok, "copy");
    p.expect(b.write_bytes(a.offset, a2_bytes) == Status::ok, "write_bytes");
    const auto want = p.read_raw(p.ref(), h2.offset, h2.count * 4);
    const auto got = p.read_raw(b, h2.offset, h2.count * 4);  // no finish() before
    p.compare_values(g.label.c_str(), F32, want, got,
                     Tol{std::sqrt(2048.0) * max_abs(av) / 256 + 1e-6, 0, false}, "h2");
    p.expect(p.read_raw(b, a.offset, a2_bytes.size()) == a2_bytes, "a after write_bytes");
    p.expect(b.finish() == Status::ok, "finish");
    p.end();  // the next case zeroes VRAM on every backend again

    if (b.device_crypto() == nullptr) continue;
    p.begin(strf("%s: device seal after a queued fill, op after device open", g.label.c_str()));
    std::array<std::uint8_t, kKeyBytes> key{};
    for (auto& x : key) x = static_cast<std::uint8_t>(p.rng()());
    const std::uint64_t count = 100000;
    const auto t = p.alloc(F32, count, 1);
    const auto t2 = p.alloc(F32, count, 3);
    p.expect(b.fill(t, f32_bits(2.5f)) == Status::ok, "fill");
    std::vector<std::byte> sealed(sealed_size(count * 4));
    const SealParams sp{1, kDeviceTensorBit | 77};
    p.expect(b.device_crypto()->seal(sealed, t.offset, count * 4, sp,
                                     std::span<const std::uint8_t, kKeyBytes>(key)) == Status::ok,
             "seal");
    std::vector<std::byte> plain(count * 4);
    p.expect(open_tensor(plain, sealed, sp, key) == Status::ok, "cpu open of the device seal");
    p.expect(plain == Pair::encode(F32, std::vector<float>(count, 2.5f)),
             "sealed plaintext is the fill's result");
    // open, then an op reading what it wrote, no finish() in between.
    const auto fresh = Pair::encode(F32, p.random(count, -1, 1));
    std::vector<std::byte> sealed_in(sealed_size(fresh.size()));
    const SealParams ip{1, 78};
    p.expect(seal_tensor(sealed_in, fresh, ip, key) == Status::ok, "cpu seal");
    p.expect(b.device_crypto()->open(t.offset, count * 4, sealed_in, ip,
                                     std::span<const std::uint8_t, kKeyBytes>(key)) == Status::ok,
             "open");
    p.expect(b.copy(t2, t) == Status::ok, "copy");
    p.expect(b.finish() == Status::ok, "finish");
    p.expect(p.read_raw(b, t2.offset, count * 4) == fresh, "copy after open saw the plaintext");
    p.end();
  }
}

// ---------------------------------------------------------------- loop recording

// The recorded body: a decode-like step. h = a . w^T (m = 1: the GEMV
// path), hn = rmsnorm(h), hs = hn + spike, tok = argmax(hs); after the
// break: marker = 1.5 and h4 = bf16(hs).
struct LoopBufs {
  TensorArg a, w, h, gamma, hn, spike, hs, tok, marker, h4;
  std::uint32_t n, k;
};

Status body_before(Backend& b, const LoopBufs& L) {
  HIX_TRY(b.matmul(MatmulArgs{L.h, L.a, L.w, std::nullopt, 1, L.n, L.k, true, false}));
  HIX_TRY(b.rmsnorm(NormArgs{L.hn, L.h, L.gamma, std::nullopt, 1, L.n, 1e-5f}));
  HIX_TRY(b.binary(BinaryArgs{BinaryOp::add, L.hs, L.hn, L.spike}));
  return b.argmax(RowsArgs{L.tok, L.hs, 1, L.n});
}

Status body_after(Backend& b, const LoopBufs& L) {
  HIX_TRY(b.fill(L.marker, f32_bits(1.5f)));
  return b.copy(L.h4, L.hs);
}

void test_recording(Pair& p) {
  if (!p.group("record")) return;
  for (const Target& g : p.gpus()) {
    Backend& b = *g.backend;
    Backend& cpu = p.ref();
    const auto ck = [&](bool ok, const char* what) {
      p.expect(ok, (g.label + ": " + what).c_str());
    };
    p.begin(strf("%s: record two bodies (break matches / not), replay", g.label.c_str()));
    ck(b.can_record(), "can_record()");
    LoopBufs L{};
    L.n = 520;
    L.k = 320;
    L.a = p.alloc(F32, L.k, 1);
    L.w = p.alloc(BF16, cnt(L.n, L.k), 0);
    L.h = p.alloc(F32, L.n, 3);
    L.gamma = p.alloc(BF16, L.n, 1);
    L.hn = p.alloc(F32, L.n, 2);
    L.spike = p.alloc(F32, L.n, 0);
    L.hs = p.alloc(F32, L.n, 1);
    L.tok = p.alloc(I32, 1, 3);
    L.marker = p.alloc(F32, 16, 1);
    L.h4 = p.alloc(BF16, L.n, 1);
    p.put(L.a, p.random(L.k, -1, 1));
    p.put(L.w, p.random(L.w.count, -1, 1));
    p.put(L.gamma, p.random(L.n, 0.5f, 1.5f));
    std::vector<float> spike(L.n, 0.0f);
    spike[77] = 100.0f;  // argmax is 77 whatever the rounding
    p.put(L.spike, spike);
    const auto reset_outputs = [&]() {
      for (const TensorArg& t : {L.h, L.hn, L.hs, L.tok, L.h4}) p.poison(t);
      p.put(L.marker, std::vector<float>(16, -7.0f));
    };
    reset_outputs();
    const auto snapshot = [&](Backend& be) {
      std::vector<std::vector<std::byte>> s;
      for (const TensorArg& t : {L.h, L.hn, L.hs, L.tok, L.marker, L.h4}) {
        s.push_back(p.read_raw(be, t.offset, t.count * dtype_size(t.dtype)));
      }
      return s;
    };
    const auto before = snapshot(b);
    // Two recordings: the break fires on tok == 77 (key 1) / on 78 (key 2).
    ck(b.finish() == Status::ok, "finish before recording");
    for (const auto& [key, value, id] : {std::tuple{1u, 77, 11u}, std::tuple{2u, 78, 12u}}) {
      ck(b.begin_recording() == Status::ok, "begin_recording");
      ck(body_before(b, L) == Status::ok, "recorded ops");
      ck(b.record_break_if_eq(L.tok, value, id) == Status::ok, "record_break_if_eq");
      ck(body_after(b, L) == Status::ok, "recorded ops after the break");
      ck(b.end_recording(key) == Status::ok, "end_recording");
    }
    ck(b.finish() == Status::ok, "finish after recording");
    ck(snapshot(b) == before, "nothing ran while recording");

    const auto compare_body = [&](bool after_ran, const char* when) {
      const Tol mm_tol{std::sqrt(320.0) / 256 + 1e-5, 1e-5, false};
      const std::string w = strf("%s %s", g.label.c_str(), when);
      p.compare_one(g, L.h, mm_tol, (w + " h").c_str(), p.read_raw(cpu, L.h.offset, L.h.count * 4));
      p.compare_one(g, L.hn, Tol{1e-2, 1e-3, false}, (w + " hn").c_str(),
                    p.read_raw(cpu, L.hn.offset, L.h.count * 4));
      p.compare_one(g, L.tok, exact_tol(), (w + " tok").c_str(), p.read_raw(cpu, L.tok.offset, 4));
      p.compare_one(g, L.marker, exact_tol(), (w + " marker").c_str(),
                    p.read_raw(cpu, L.marker.offset, 64));
      if (after_ran) {
        p.compare_one(g, L.h4, Tol{1e-2, kBf16Ulp, false}, (w + " h4").c_str(),
                      p.read_raw(cpu, L.h4.offset, L.h4.count * 2));
      } else {
        ck(p.read_raw(b, L.h4.offset, L.h4.count * 2) ==
               p.read_raw(cpu, L.h4.offset, L.h4.count * 2),
           "h4 untouched after the break");
      }
    };
    // The cpu runs the same ops eagerly; the break fired, so not the rest.
    ck(body_before(cpu, L) == Status::ok, "cpu body");
    auto r = b.replay(1);
    ck(r.ok() && r->has_value() && **r == 11u, "replay(1) reports break 11");
    compare_body(false, "replay(1)");
    r = b.replay(2);
    ck(r.ok() && !r->has_value(), "replay(2) reports no break");
    ck(body_after(cpu, L) == Status::ok, "cpu after");
    compare_body(true, "replay(2)");
    p.end();

    // A replay reads VRAM as it is now: with the spike moved the argmax is
    // 78, so key 1's break no longer fires and key 2's does.
    p.begin(strf("%s: replays see new data; the break is decided on the device", g.label.c_str()));
    const auto a2 = p.random(L.k, -1, 1);
    p.put(L.a, a2);
    spike[77] = 0.0f;
    spike[78] = 100.0f;
    p.put(L.spike, spike);
    reset_outputs();
    ck(body_before(cpu, L) == Status::ok && body_after(cpu, L) == Status::ok, "cpu body");
    r = b.replay(1);
    ck(r.ok() && !r->has_value(), "replay(1) now reports no break");
    compare_body(true, "replay(1) new data");
    p.put(L.marker, std::vector<float>(16, -7.0f));
    p.expect(cpu.write_bytes(L.h4.offset, p.read_raw(b, L.h4.offset, L.h4.count * 2)) == Status::ok,
             "");
    r = b.replay(2);
    ck(r.ok() && r->has_value() && **r == 12u, "replay(2) now reports break 12");
    compare_body(false, "replay(2) new data");
    // Replaying again gives the same.
    r = b.replay(2);
    ck(r.ok() && r->has_value() && **r == 12u, "replay(2) again");
    compare_body(false, "replay(2) again");
    p.end();

    p.begin(strf("%s: key replaced, abort, unknown key, drop_recordings", g.label.c_str()));
    ck(b.begin_recording() == Status::ok, "begin_recording");
    ck(b.fill(L.marker, f32_bits(2.5f)) == Status::ok, "recorded fill");
    ck(b.end_recording(1) == Status::ok, "end_recording(1) again");
    ck(b.finish() == Status::ok, "finish");
    p.put(L.marker, std::vector<float>(16, -7.0f));
    r = b.replay(1);
    ck(r.ok() && !r->has_value(), "replay of the replacing recording");
    ck(p.read(b, L.marker) == std::vector<float>(16, 2.5f), "the replacing recording ran");
    ck(b.begin_recording() == Status::ok, "begin_recording");
    ck(b.fill(L.marker, f32_bits(9.0f)) == Status::ok, "recorded fill");
    b.abort_recording();
    ck(b.finish() == Status::ok, "finish after abort");
    ck(p.read(b, L.marker) == std::vector<float>(16, 2.5f), "aborted recording did not run");
    r = b.replay(99);
    ck(!r.ok() && r.status() == Status::invalid_arg, "replay of an unknown key: invalid_arg");
    r = b.replay(2);
    ck(r.ok(), "key 2 still kept");
    b.drop_recordings();
    r = b.replay(1);
    ck(!r.ok() && r.status() == Status::invalid_arg, "replay(1) after drop: invalid_arg");
    r = b.replay(2);
    ck(!r.ok() && r.status() == Status::invalid_arg, "replay(2) after drop: invalid_arg");
    // Eager ops still run after all of that.
    for (const Target& o : p.gpus()) {
      if (o.backend == &b) continue;
      p.expect(o.backend->write_bytes(VramOffset{0}, p.read_raw(b, VramOffset{0}, 1 << 20)) ==
                   Status::ok,
               "sync other");
    }
    p.expect(cpu.write_bytes(VramOffset{0}, p.read_raw(b, VramOffset{0}, 1 << 20)) == Status::ok,
             "sync cpu");
    p.poison(L.h);
    p.run([&](Backend& be) {
      return be.matmul(MatmulArgs{L.h, L.a, L.w, std::nullopt, 1, L.n, L.k, true, false});
    });
    p.compare(L.h, Tol{std::sqrt(320.0) / 256 + 1e-5, 0, false}, "eager h");
    p.end();
  }
}

// ---------------------------------------------------------------- crypto, pinning

void test_crypto(Pair& p) {
  if (!p.group("crypto")) return;
  std::array<std::uint8_t, kKeyBytes> key{};
  for (auto& x : key) x = static_cast<std::uint8_t>(p.rng()());
  const std::span<const std::uint8_t, kKeyBytes> ks(key);
  const std::uint64_t sizes[] = {2, 4096 + 2, 65536, 65538, 3 * 65536 + 100, (4u << 20) + 6};
  std::uint64_t tid = 0x100;
  for (const Target& g : p.gpus()) {
    Backend& b = *g.backend;
    DeviceCrypto* dc = b.device_crypto();
    for (const std::uint64_t bytes : sizes) {
      p.begin(strf("%s: open/seal %" PRIu64 " bytes, forgeries", g.label.c_str(), bytes));
      if (!p.expect(dc != nullptr, "device_crypto() is null")) {
        p.end();
        break;
      }
      const auto ck = [&](bool ok, const char* what) {
        p.expect(ok, (g.label + ": " + what).c_str());
      };
      const VramOffset dst = p.alloc_bytes(bytes, 2);
      const auto plain = p.random_bytes(bytes);
      const SealParams sp{3, ++tid};
      std::vector<std::byte> sealed(sealed_size(bytes));
      ck(seal_tensor(sealed, plain, sp, ks) == Status::ok, "cpu seal");
      const auto before = p.random_bytes(bytes);
      ck(b.write_bytes(dst, before) == Status::ok, "write");
      ck(b.finish() == Status::ok, "finish");
      ck(dc->open(dst, bytes, sealed, sp, ks) == Status::ok, "open");
      ck(p.read_raw(b, dst, bytes) == plain, "opened plaintext");
      // Forgeries: the destination zeroed (the engine's default open mode,
      // concurrent, decrypts while it verifies and zeroes on a bad tag).
      const std::uint64_t chunks = sealed_chunk_count(bytes);
      const std::uint64_t last = (chunks - 1) * kChunkStride;
      struct Forgery {
        const char* what;
        std::uint64_t flip;  // byte to flip, or ~0 for none
        SealParams params;
        bool other_key;
      };
      const Forgery forgeries[] = {
          {"flipped ciphertext byte", last + kChunkHeaderBytes + (bytes - 1) % kChunkBytes, sp,
           false},
          {"flipped header byte", last + 8, sp, false},
          {"flipped tag byte", sealed.size() - 1, sp, false},
          {"flipped first ciphertext byte", kChunkHeaderBytes, sp, false},
          {"wrong tensor id", ~0ull, SealParams{3, tid + 1000}, false},
          {"wrong key slot", ~0ull, SealParams{4, tid}, false},
          {"wrong key", ~0ull, sp, true},
      };
      auto other = key;
      other[5] ^= 1;
      for (const Forgery& f : forgeries) {
        const auto fill = p.random_bytes(bytes);
        ck(b.write_bytes(dst, fill) == Status::ok, "write");
        auto bad = sealed;
        if (f.flip != ~0ull) bad[f.flip] ^= std::byte{0x20};
        const Status s =
            dc->open(dst, bytes, bad, f.params,
                     f.other_key ? std::span<const std::uint8_t, kKeyBytes>(other) : ks);
        if (s != Status::auth_failed) {
          p.fail("%s: %s: open gave %s", g.label.c_str(), f.what, status_name(s).c_str());
        }
        if (p.read_raw(b, dst, bytes) != std::vector<std::byte>(bytes)) {
          p.fail("%s: %s: VRAM not zeroed", g.label.c_str(), f.what);
        }
      }
      // Seal from VRAM: the cpu opens it; the bytes are the cpu's seal.
      const VramOffset src = p.alloc_bytes(bytes, 4);
      ck(b.write_bytes(src, plain) == Status::ok, "write");
      const SealParams op{3, kDeviceTensorBit | tid};
      std::vector<std::byte> out(sealed_size(bytes));
      ck(dc->seal(out, src, bytes, op, ks) == Status::ok, "seal");
      std::vector<std::byte> opened(bytes);
      ck(open_tensor(opened, out, op, ks) == Status::ok, "cpu open of the device seal");
      ck(opened == plain, "cpu-opened plaintext");
      std::vector<std::byte> cpu_sealed(sealed_size(bytes));
      ck(seal_tensor(cpu_sealed, plain, op, ks) == Status::ok, "cpu seal");
      ck(out == cpu_sealed, "device seal equals the cpu seal byte for byte");
      ck(dc->wipe() == Status::ok, "wipe");
      // Leave the other backends' VRAM as this one's for the next cases.
      p.reset_arena();
      p.end();
    }
  }
}

void test_pin(Pair& p) {
  if (!p.group("pin")) return;
  const std::uint64_t page = 4096;
  const std::uint64_t len = (8u << 20) + 3;
  for (const Target& g : p.gpus()) {
    Backend& b = *g.backend;
    p.begin(strf("%s: pin_host, write_bytes/read_bytes through it, unpin", g.label.c_str()));
    const std::uint64_t span_len = 2 * (len + page);
    // Page-aligned anonymous memory, as guest RAM is.
    void* mem = mmap(nullptr, span_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (!p.expect(mem != MAP_FAILED, "mmap")) {
      p.end();
      return;
    }
    const std::span<std::byte> host(static_cast<std::byte*>(mem), span_len);
    p.expect(b.pin_host(host) == Status::ok, "pin_host");
    const auto data = p.random_bytes(len);
    std::memcpy(host.data(), data.data(), len);
    const VramOffset off = p.alloc_bytes(len, 5);
    p.expect(b.write_bytes(off, host.subspan(0, len)) == Status::ok, "write_bytes from pinned");
    const std::span<std::byte> back = host.subspan(len + page + 1, len);
    p.expect(b.read_bytes(off, back) == Status::ok, "read_bytes into pinned");
    p.expect(std::memcmp(back.data(), data.data(), len) == 0, "round trip through pinned memory");
    b.unpin_host(host);
    // A sub-range that does not start on a page.
    const auto sub = host.subspan(100, 5000);
    p.expect(b.pin_host(sub) == Status::ok, "pin_host of an unaligned range");
    b.unpin_host(sub);
    // Unpinned memory still works after unpin.
    const auto data2 = p.random_bytes(len);
    std::memcpy(host.data(), data2.data(), len);
    p.expect(b.write_bytes(off, host.subspan(0, len)) == Status::ok, "write after unpin");
    p.expect(p.read_raw(b, off, len) == data2, "round trip after unpin");
    p.expect(b.finish() == Status::ok, "finish");
    munmap(mem, span_len);
    p.reset_arena();
    p.end();
  }
}

struct Options {
  std::vector<std::string> only;
  std::uint64_t seed = 0x48495847;
  bool ok = true;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--only" && i + 1 < argc) {
      std::string list = argv[++i];
      std::size_t pos = 0;
      while (pos <= list.size()) {
        const std::size_t comma = std::min(list.find(',', pos), list.size());
        if (comma > pos) o.only.push_back(list.substr(pos, comma - pos));
        pos = comma + 1;
      }
    } else if (arg == "--seed" && i + 1 < argc) {
      o.seed = std::strtoull(argv[++i], nullptr, 0);
    } else {
      std::fprintf(stderr,
                   "usage: hix-cuda-backend-test [--only group,...] [--seed N]\n"
                   "groups: io fill copy embedding matmul binary norm unary softmax rope "
                   "attention argmax sample alias ordering record crypto pin\n");
      o.ok = false;
    }
  }
  return o;
}

int run_all(int argc, char** argv) {
  const Options opt = parse(argc, argv);
  if (!opt.ok) return 2;
  constexpr std::uint64_t kVram = 256ull << 20;
  // Absence skips; a driver or device that is there but fails does not.
  const auto gpu = probe_gpu();
  if (gpu.state == Gpu::absent) {
    std::printf("hix-cuda-backend-test: skipped: no GPU (%s)\n", gpu.why.c_str());
    return 0;
  }
  if (gpu.state == Gpu::broken) {
    std::printf("hix-cuda-backend-test: FAIL: the GPU is there but broken: %s\n", gpu.why.c_str());
    return 1;
  }

  // Three cuda backends: cuBLAS for m >= 8 (the default), never cuBLAS, and
  // cuBLAS for every GEMM (m = 1 too), so every GEMM path meets the cpu.
  struct Variant {
    const char* label;
    CudaBackendOptions options;
  };
  const Variant variants[] = {
      {"cuda", CudaBackendOptions{}},
      {"cuda/no-cublas",
       CudaBackendOptions{.device = 0, .cublas_min_rows = 8, .use_cublas = false}},
      {"cuda/cublas-all",
       CudaBackendOptions{.device = 0, .cublas_min_rows = 1, .use_cublas = true}},
  };
  std::vector<std::unique_ptr<CudaBackend>> owned;
  std::vector<Target> targets;
  for (const Variant& v : variants) {
    auto created = CudaBackend::create(kVram, v.options);
    if (!created.ok()) {
      std::printf("hix-cuda-backend-test: FAIL: CudaBackend::create (%s): %s\n", v.label,
                  std::string(to_string(created.status())).c_str());
      return 1;
    }
    owned.push_back(std::move(*created));
    targets.push_back(Target{v.label, owned.back().get()});
  }
  auto cpu = CpuBackend::create(kVram);
  if (!cpu.ok()) {
    std::printf("hix-cuda-backend-test: FAIL: CpuBackend::create\n");
    return 1;
  }
  for (const Target& t : targets) {
    // VRAM starts as whatever the allocation held; the cpu's is zero.
    if (t.backend->vram_size() != kVram || t.backend->zero(VramOffset{0}, kVram) != Status::ok ||
        t.backend->finish() != Status::ok) {
      std::printf("hix-cuda-backend-test: FAIL: %s: vram_size or zero\n", t.label.c_str());
      return 1;
    }
  }
  std::printf("hix-cuda-backend-test: %zu cuda backends of %llu MiB against cpu, seed 0x%llx\n",
              targets.size(), static_cast<unsigned long long>(kVram >> 20),
              static_cast<unsigned long long>(opt.seed));

  BackendPair p(**cpu, targets, opt.seed);
  p.set_only(opt.only);
  test_io(p);
  test_fill(p);
  test_copy(p);
  test_embedding(p);
  test_matmul(p);
  test_binary(p);
  test_norm(p);
  test_unary(p);
  test_softmax(p);
  test_rope(p);
  test_attention(p);
  test_argmax(p);
  test_sample(p);
  test_alias(p);
  test_ordering(p);
  test_recording(p);
  test_crypto(p);
  test_pin(p);

  if (p.failed_cases() != 0) {
    std::printf("hix-cuda-backend-test: FAIL (%d of %d cases failed)\n", p.failed_cases(),
                p.cases());
    return 1;
  }
  std::printf("hix-cuda-backend-test: PASS (%d cases)\n", p.cases());
  return 0;
}

}  // namespace
}  // namespace hix::vgpu::cuda::test

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  // The harness allocates host vectors as it goes: running out of memory is
  // a failed run, reported as one.
  try {
    return hix::vgpu::cuda::test::run_all(argc, argv);
  } catch (const std::exception& e) {
    std::printf("hix-cuda-backend-test: FAIL: %s\n", e.what());
  } catch (...) {
    std::printf("hix-cuda-backend-test: FAIL: unknown exception\n");
  }
  return 1;
}
