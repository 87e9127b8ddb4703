// Batched decode on the cuda backend (spec §6.4.1) against the cpu
// reference: ROPE with BATCH (every sequence at one position), ATTENTION
// with BATCH (a cache per sequence; decode positions with and without key
// splits, GQA, mixed storage types, out on top of q), and a batched decode
// loop through the executor recorded as one iteration for all (the position
// moving on the device, MATMUL at m = 8 and 32 inside the recording, where
// cuBLAS is captured by default).
#include <gtest/gtest.h>

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "cuda_backend_cases.hpp"
#include "cuda_backend_rig.hpp"
#include "fake_bus.hpp"

namespace hix::vgpu::cuda::test {
namespace {

// ---------------------------------------------------------------- ROPE

struct BatchRopeCase {
  std::uint32_t seqs, heads, head_dim, rot_dim;
  std::uint64_t pos;
  DType x_dt, out_dt;
  bool llama3;
};

class BatchedRope : public BackendParamTest<BatchRopeCase> {};

TEST_P(BatchedRope, PutsEverySequenceAtThePositionLikeTheCpu) {
  Pair& p = pair();
  const BatchRopeCase& c = GetParam();
  p.begin(strf("seqs=%u heads=%u head_dim=%u rot_dim=%u pos=%" PRIu64 " x=%s out=%s%s", c.seqs,
               c.heads, c.head_dim, c.rot_dim, c.pos, dt_name(c.x_dt), dt_name(c.out_dt),
               c.llama3 ? " llama3" : ""));
  const auto x = p.alloc(c.x_dt, cnt(c.seqs, c.heads, c.head_dim), Misalign{1});
  const auto xv = p.random(x.count, -2, 2);
  p.put(x, xv);
  const auto out = p.alloc(c.out_dt, x.count, Misalign{2});
  p.poison(out);
  const Llama3Rope scaling = c.llama3 ? Llama3Rope{8.0f, 1.0f, 4.0f, 256} : Llama3Rope{};
  p.run([&](Backend& b) {
    return b.rope(RopeArgs{out, x, c.seqs, c.heads, c.head_dim, c.rot_dim, c.pos, 10000.0f, scaling,
                           std::nullopt, true});
  });
  // As the batch-1 case: an fp32 angle off by ~2^-22 of itself (<= pos rad).
  const double angle_err = static_cast<double>(c.pos + 1) * 2.4e-7 + 2e-6;
  p.compare(out, float_tol(out.dtype, 2.0 * max_abs(xv) * angle_err, 1e-6));
  p.end();
}

std::string batch_rope_name(const ::testing::TestParamInfo<BatchRopeCase>& param_info) {
  const BatchRopeCase& c = param_info.param;
  return strf("seqs%u_heads%u_head_dim%u_rot%u_pos%" PRIu64 "_%s_%s%s", c.seqs, c.heads, c.head_dim,
              c.rot_dim, c.pos, dt_name(c.x_dt), dt_name(c.out_dt), c.llama3 ? "_llama3" : "");
}

INSTANTIATE_TEST_SUITE_P(Shapes, BatchedRope,
                         ::testing::Values(BatchRopeCase{8, 32, 64, 64, 17, F32, F32, false},
                                           BatchRopeCase{32, 8, 128, 128, 300, BF16, BF16, true},
                                           BatchRopeCase{3, 4, 64, 32, 1000, F32, BF16, false}),
                         batch_rope_name);

// ---------------------------------------------------------------- ATTENTION

struct BatchAttnCase {
  std::uint32_t seqs, q_heads, kv_heads, head_dim;
  std::uint64_t pos;
  DType qkv_dt, cache_dt, out_dt;
  bool out_is_q;
};

class BatchedAttention : public BackendParamTest<BatchAttnCase> {};

// The caches start as identical random garbage: every row a sequence may
// not see differs from the rows it may, so reading another sequence's cache
// or a row past pos shows.
TEST_P(BatchedAttention, EachSequenceAttendsOverItsOwnCacheLikeTheCpu) {
  Pair& p = pair();
  const BatchAttnCase& c = GetParam();
  const std::uint32_t max_seq = 320;
  const std::uint32_t hd = c.head_dim;
  p.begin(strf("seqs=%u q_heads=%u kv_heads=%u head_dim=%u pos=%" PRIu64
               " qkv=%s cache=%s out=%s%s",
               c.seqs, c.q_heads, c.kv_heads, hd, c.pos, dt_name(c.qkv_dt), dt_name(c.cache_dt),
               dt_name(c.out_is_q ? c.qkv_dt : c.out_dt), c.out_is_q ? " out=q" : ""));
  const auto k_cache = p.alloc(c.cache_dt, cnt(c.seqs, max_seq) * c.kv_heads * hd, Misalign{1});
  const auto v_cache = p.alloc(c.cache_dt, cnt(c.seqs, max_seq) * c.kv_heads * hd, Misalign{3});
  p.put(k_cache, p.random(k_cache.count, -1, 1));
  p.put(v_cache, p.random(v_cache.count, -1, 1));
  const auto q = p.alloc(c.qkv_dt, cnt(c.seqs, c.q_heads, hd), Misalign{2});
  const auto k = p.alloc(c.qkv_dt, cnt(c.seqs, c.kv_heads, hd));
  const auto v = p.alloc(c.qkv_dt, cnt(c.seqs, c.kv_heads, hd), Misalign{1});
  p.put(q, p.random(q.count, -1, 1));
  p.put(k, p.random(k.count, -1, 1));
  p.put(v, p.random(v.count, -1, 1));
  const TensorArg out = c.out_is_q ? q : p.alloc(c.out_dt, q.count, Misalign{3});
  if (!c.out_is_q) p.poison(out);
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const AttentionArgs args{out,        q,  k,       v,     k_cache, v_cache,      c.seqs, c.q_heads,
                           c.kv_heads, hd, max_seq, c.pos, scale,   std::nullopt, true};
  p.run([&](Backend& b) { return b.attention(args); });
  p.compare(out, float_tol(out.dtype, 2e-5, 1e-5));
  expect_flipped_bits_equal(p, out, "out");
  p.compare(k_cache, exact_tol(), "k_cache");
  p.compare(v_cache, exact_tol(), "v_cache");
  p.end();
}

std::string batch_attention_name(const ::testing::TestParamInfo<BatchAttnCase>& param_info) {
  const BatchAttnCase& c = param_info.param;
  return strf("seqs%u_q_heads%u_kv_heads%u_head_dim%u_pos%" PRIu64 "_qkv_%s_cache_%s_out_%s",
              c.seqs, c.q_heads, c.kv_heads, c.head_dim, c.pos, dt_name(c.qkv_dt),
              dt_name(c.cache_dt), c.out_is_q ? "on_q" : dt_name(c.out_dt));
}

INSTANTIATE_TEST_SUITE_P(Shapes, BatchedAttention,
                         ::testing::Values(
                             // Llama 1B's heads at batch 8 and 32; short and long histories (key
                             // splits when the blocks are few).
                             BatchAttnCase{8, 32, 8, 64, 16, F32, F32, F32, false},
                             BatchAttnCase{8, 32, 8, 64, 300, F32, F32, F32, false},
                             BatchAttnCase{32, 32, 8, 64, 200, F32, BF16, F32, false},
                             // Llama 8B's head_dim, bf16 everything; GPT-2's 12 heads without GQA.
                             BatchAttnCase{8, 32, 8, 128, 150, BF16, BF16, BF16, false},
                             BatchAttnCase{32, 12, 12, 64, 40, F32, F32, F32, false},
                             // One sequence; more query heads per kv head than a block's warps.
                             BatchAttnCase{1, 16, 1, 64, 250, F32, F32, F32, false},
                             // out on top of q (staged: q is read before out is written).
                             BatchAttnCase{4, 8, 2, 64, 33, F32, F32, F32, true}),
                         batch_attention_name);

// ---------------------------------------------------------------- a recorded loop

constexpr std::uint32_t kHq = 8, kHkv = 2, kHd = 64;

// A batched decode loop: ROPE (BATCH) of q and k into their own buffers,
// ATTENTION (BATCH) at R1, out += W · att (MATMUL with m = seqs, ACCUMULATE),
// R1 += 1; `steps` iterations from position `first`. Without BATCH (one
// sequence): the same ops as a model's decode step, tokens = 1. A max_seq
// above 128 has the attention's keys split (one tile a split while the
// position moves), the splits past R1 skipped.
struct BatchLoop {
  vgpu::test::FakeBus bus;
  std::uint32_t ctx = 0, q = 0, k = 0, v = 0, qr = 0, kr = 0, kc = 0, vc = 0, att = 0, w = 0,
                out = 0;
  std::uint32_t seqs = 0;
  std::uint8_t wdt = HIX_VGPU_DT_F32;
  std::uint32_t max_seq = 0;
  std::uint32_t batch_flag = HIX_VGPU_BATCH;

  BatchLoop(std::unique_ptr<Backend> backend, std::uint32_t n, std::uint8_t weight_dtype,
            std::uint32_t cache_rows, bool batched)
      : bus(std::move(backend)),
        seqs(n),
        wdt(weight_dtype),
        max_seq(cache_rows),
        batch_flag(batched ? HIX_VGPU_BATCH : 0) {
    bus.start_ring();
    ctx = bus.create_context();
    const std::uint64_t qn = std::uint64_t{seqs} * kHq * kHd;
    const std::uint64_t kvn = std::uint64_t{seqs} * kHkv * kHd;
    q = bus.alloc(ctx, qn * 4);
    k = bus.alloc(ctx, kvn * 4);
    v = bus.alloc(ctx, kvn * 4);
    qr = bus.alloc(ctx, qn * 4);
    kr = bus.alloc(ctx, kvn * 4);
    kc = bus.alloc(ctx, kvn * max_seq * 4);
    vc = bus.alloc(ctx, kvn * max_seq * 4);
    att = bus.alloc(ctx, qn * 4);
    w = bus.alloc(ctx, std::uint64_t{kHq} * kHd * kHq * kHd * 4);
    out = bus.alloc(ctx, qn * 4);
  }

  // Identical inputs on every backend: values from a fixed recurrence.
  static std::vector<float> values(std::uint64_t n, std::uint32_t seed) {
    std::vector<float> x(n);
    std::uint32_t s = seed;
    for (auto& e : x) {
      s = s * 1664525u + 1013904223u;
      e = static_cast<float>(s >> 8) / static_cast<float>(1u << 24) * 2.0f - 1.0f;
    }
    return x;
  }

  void load() {
    const std::uint64_t qn = std::uint64_t{seqs} * kHq * kHd;
    const std::uint64_t kvn = std::uint64_t{seqs} * kHkv * kHd;
    bus.upload({.ctx = ctx, .handle = q}, values(qn, 1));
    bus.upload({.ctx = ctx, .handle = k}, values(kvn, 2));
    bus.upload({.ctx = ctx, .handle = v}, values(kvn, 3));
    bus.upload({.ctx = ctx, .handle = kc}, values(kvn * max_seq, 4));
    bus.upload({.ctx = ctx, .handle = vc}, values(kvn * max_seq, 5));
    auto wv = values(std::uint64_t{kHq} * kHd * kHq * kHd, 6);
    for (auto& e : wv) e *= 0.1f;
    bus.upload({.ctx = ctx, .handle = w}, wv, wdt);
    bus.upload({.ctx = ctx, .handle = out}, std::vector<float>(qn, 0.0f));
  }

  std::vector<std::byte> program(std::int32_t first, std::uint32_t steps) const {
    const auto f32 = [](std::uint32_t h) { return vgpu::tref(h, HIX_VGPU_DT_F32); };
    vgpu::CmdbufBuilder body;
    for (const auto& [src, dst, heads] : {std::tuple{q, qr, kHq}, std::tuple{k, kr, kHkv}}) {
      hix_vgpu_op_rope r{};
      r.h.flags = batch_flag;
      r.out = f32(dst);
      r.x = f32(src);
      r.tokens = seqs;
      r.heads = heads;
      r.head_dim = kHd;
      r.rot_dim = kHd;
      r.pos_reg = 1;
      r.theta = 10000.0f;
      body.add(HIX_VGPU_OP_ROPE, r);
    }
    hix_vgpu_op_attention a{};
    a.h.flags = batch_flag;
    a.out = f32(att);
    a.q = f32(qr);
    a.k = f32(kr);
    a.v = f32(v);
    a.k_cache = f32(kc);
    a.v_cache = f32(vc);
    a.tokens = seqs;
    a.q_heads = kHq;
    a.kv_heads = kHkv;
    a.head_dim = kHd;
    a.max_seq = max_seq;
    a.pos_reg = 1;
    a.scale = 0.125f;
    body.add(HIX_VGPU_OP_ATTENTION, a);
    hix_vgpu_op_matmul m{};
    m.h.flags = HIX_VGPU_MATMUL_TRANS_B | HIX_VGPU_MATMUL_ACCUMULATE;
    m.out = f32(out);
    m.a = f32(att);
    m.b = vgpu::tref(w, wdt);
    m.m = seqs;
    m.n = m.k = kHq * kHd;
    body.add(HIX_VGPU_OP_MATMUL, m);
    body.add_reg(1, 1);
    vgpu::CmdbufBuilder cb;
    cb.set_reg(1, first);
    cb.loop({.count = steps, .body_ops = body.op_count()}).append(body);
    return cb.finish();
  }

  struct Outcome {
    Status status;
    std::vector<float> out, kc;
  };
  Outcome run(std::int32_t first, std::uint32_t steps) {
    Outcome o{bus.submit(ctx, program(first, steps)), {}, {}};
    o.out = bus.download({.ctx = ctx, .handle = out}, std::size_t{seqs} * kHq * kHd);
    o.kc = bus.download({.ctx = ctx, .handle = kc}, std::size_t{seqs} * kHkv * kHd * max_seq);
    return o;
  }
};

struct BatchLoopCase {
  std::uint32_t seqs;
  std::uint8_t wdt;
  std::uint32_t max_seq = 48;
  bool batched = true;
  // CudaBackendOptions::attention_merge: the split keys merged in the
  // attention kernel.
  bool merged = false;
};

class BatchedLoop : public BackendTest, public ::testing::WithParamInterface<BatchLoopCase> {};

// Two rounds of the same loop from two positions (the second replays the
// first's recording), the second 28 positions short of max_seq: the cuda
// backend's out and caches are the cpu's.
TEST_P(BatchedLoop, ARecordedBatchedDecodeLoopMatchesTheCpu) {
  const BatchLoopCase c = GetParam();
  auto cuda = CudaBackend::create(64ull << 20, CudaBackendOptions{.attention_merge = c.merged});
  ASSERT_TRUE(cuda.ok()) << "a second cuda backend did not open";
  BatchLoop gpu(std::move(*cuda), c.seqs, c.wdt, c.max_seq, c.batched);
  BatchLoop cpu(vgpu::test::FakeBus::cpu_backend(64ull << 20), c.seqs, c.wdt, c.max_seq, c.batched);
  gpu.load();
  cpu.load();
  // bf16 weights: cuBLAS rounds the activations to bf16 too.
  const double rel = c.wdt == HIX_VGPU_DT_BF16 ? 2e-2 : 1e-4;
  const auto late = static_cast<std::int32_t>(c.max_seq) - 28;
  for (const auto& [first, steps] : {std::pair{3, 5u}, std::pair{late, 5u}}) {
    const auto want = cpu.run(first, steps);
    ASSERT_EQ(want.status, Status::ok);
    const auto got = gpu.run(first, steps);
    ASSERT_EQ(got.status, Status::ok) << to_string(got.status);
    // The roped k rows (angles in double on both, sin/cos a last bit apart).
    ASSERT_EQ(got.kc.size(), want.kc.size());
    for (std::size_t i = 0; i < want.kc.size(); ++i) {
      ASSERT_NEAR(got.kc[i], want.kc[i], 1e-5) << "k cache element " << i;
    }
    double scale = 0;
    for (const float x : want.out) scale = std::max(scale, std::fabs(static_cast<double>(x)));
    for (std::size_t i = 0; i < want.out.size(); ++i) {
      ASSERT_NEAR(got.out[i], want.out[i], rel * (1 + scale)) << "round at " << first << " " << i;
    }
  }
}

std::string batch_loop_name(const ::testing::TestParamInfo<BatchLoopCase>& param_info) {
  const BatchLoopCase& c = param_info.param;
  const char* weights = c.wdt == HIX_VGPU_DT_BF16 ? "bf16" : "f32";
  const char* merged = c.merged ? "_splits_merged_in_kernel" : "";
  if (!c.batched) {
    return strf("one_sequence_unbatched_%s_weights_max_seq%u%s", weights, c.max_seq, merged);
  }
  return strf("batch%u_%s_weights_max_seq%u%s", c.seqs, weights, c.max_seq, merged);
}

INSTANTIATE_TEST_SUITE_P(Batches, BatchedLoop,
                         ::testing::Values(BatchLoopCase{8, HIX_VGPU_DT_F32},
                                           BatchLoopCase{32, HIX_VGPU_DT_F32},
                                           BatchLoopCase{32, HIX_VGPU_DT_BF16},
                                           // Split keys while the position moves.
                                           BatchLoopCase{4, HIX_VGPU_DT_F32, 400},
                                           BatchLoopCase{1, HIX_VGPU_DT_F32, 400, false},
                                           BatchLoopCase{4, HIX_VGPU_DT_F32, 400, true, true},
                                           BatchLoopCase{1, HIX_VGPU_DT_F32, 400, false, true}),
                         batch_loop_name);

}  // namespace
}  // namespace hix::vgpu::cuda::test
