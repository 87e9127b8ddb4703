// Prefill attention against the cpu reference (spec §6.4 ATTENTION): chunks
// of bf16 q over bf16 caches that the cuda backend runs on its tensor-core
// kernel (attention_plan.hpp) — 16 to 1024 tokens, at position 0 and after
// an earlier chunk, GQA groups of 1, 4 and 8, head_dim 64 and 128, out f32
// and bf16, caches aligned for 16-byte loads and not — within the bf16
// weights' bound (tc_attention_tol), and the chunks that stay on the
// cuda-core kernel (head_dim 80, f32 caches) within the f32 bound, which
// the tensor-core kernel's rounding would miss.
#include <gtest/gtest.h>

#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "attention_plan.hpp"
#include "cuda_backend_cases.hpp"
#include "cuda_backend_rig.hpp"

namespace hix::vgpu::cuda::test {
namespace {

struct PrefillCase {
  std::uint32_t tokens;
  std::uint64_t pos;  // cache rows an earlier chunk wrote
  std::uint32_t q_heads, kv_heads, head_dim;
  DType qkv_dt, cache_dt, out_dt;
  bool aligned;  // caches 256-byte aligned (16-byte loads), else 2 bytes past
};

std::string prefill_name(const ::testing::TestParamInfo<PrefillCase>& info) {
  const PrefillCase& c = info.param;
  return strf("tokens%u_pos%" PRIu64 "_q_heads%u_kv_heads%u_head_dim%u_qkv_%s_cache_%s_out_%s_%s",
              c.tokens, c.pos, c.q_heads, c.kv_heads, c.head_dim, dt_name(c.qkv_dt),
              dt_name(c.cache_dt), dt_name(c.out_dt), c.aligned ? "aligned" : "misaligned");
}

// The cache rows before pos hold an earlier chunk's keys and values (random
// in [-1, 1]); rows from pos + tokens on hold NaN, which the reference never
// reads: a kernel that reads them, even with weight 0, writes NaN.
void prefill_case(Pair& p, const PrefillCase& c, AttentionKernel expected) {
  const std::uint32_t hd = c.head_dim;
  const std::uint32_t max_seq = static_cast<std::uint32_t>(c.pos) + c.tokens + 40;
  const Misalign cache_mis{c.aligned ? 0U : 1U};
  p.begin(strf("tokens=%u pos=%" PRIu64 " q_heads=%u kv_heads=%u head_dim=%u qkv=%s cache=%s "
               "out=%s %s",
               c.tokens, c.pos, c.q_heads, c.kv_heads, hd, dt_name(c.qkv_dt), dt_name(c.cache_dt),
               dt_name(c.out_dt), c.aligned ? "aligned" : "misaligned"));
  const auto k_cache = p.alloc(c.cache_dt, cnt(max_seq, c.kv_heads, hd), cache_mis);
  const auto v_cache = p.alloc(c.cache_dt, cnt(max_seq, c.kv_heads, hd), cache_mis);
  const std::uint64_t filled = (c.pos + c.tokens) * c.kv_heads * hd;
  for (const TensorArg& cache : {k_cache, v_cache}) {
    auto rows = p.random(cache.count, -1, 1);
    for (std::uint64_t i = filled; i < rows.size(); ++i) {
      rows[i] = std::numeric_limits<float>::quiet_NaN();
    }
    p.put(cache, rows);
  }
  const auto q = p.alloc(c.qkv_dt, cnt(c.tokens, c.q_heads, hd), Misalign{c.aligned ? 0U : 3U});
  const auto k = p.alloc(c.qkv_dt, cnt(c.tokens, c.kv_heads, hd));
  const auto v = p.alloc(c.qkv_dt, cnt(c.tokens, c.kv_heads, hd), Misalign{2});
  p.put(q, p.random(q.count, -1, 1));
  p.put(k, p.random(k.count, -1, 1));
  p.put(v, p.random(v.count, -1, 1));
  const auto out = p.alloc(c.out_dt, q.count, Misalign{1});
  p.poison(out);
  // Llama's scale, 1/sqrt(head_dim).
  const float scale = 1.0F / std::sqrt(static_cast<float>(hd));
  const AttentionArgs args{out,       q,          k,  v,       k_cache, v_cache, c.tokens,
                           c.q_heads, c.kv_heads, hd, max_seq, c.pos,   scale};
  ASSERT_EQ(attention_kernel(args), expected) << "the case does not test the kernel it names";
  p.run([&](Backend& b) { return b.attention(args); });
  // v and the earlier rows are in [-1, 1].
  p.compare(out, expected == AttentionKernel::tensor_cores ? tc_attention_tol(c.out_dt, 1.0)
                                                           : float_tol(c.out_dt, 2e-5, 1e-5));
  p.compare(k_cache, exact_tol(), "k_cache");
  p.compare(v_cache, exact_tol(), "v_cache");
  expect_flipped_bits_equal(p, out, "out");
  p.end();
}

std::vector<PrefillCase> tensor_core_cases() {
  return {
      // The smallest chunk the kernel takes; one head a kv head.
      {16, 0, 4, 4, 64, BF16, BF16, F32, true},
      {16, 0, 4, 4, 128, BF16, BF16, BF16, false},
      // Groups of 4 and 8, a tile boundary inside a token's heads.
      {64, 0, 8, 2, 128, BF16, BF16, BF16, true},
      {200, 0, 8, 1, 64, BF16, BF16, F32, false},
      {200, 0, 16, 2, 128, BF16, BF16, F32, true},
      // After an earlier chunk: more keys than queries, a partial key tile.
      {200, 77, 8, 2, 128, BF16, BF16, F32, true},
      {64, 300, 8, 1, 128, BF16, BF16, BF16, false},
      {17, 5, 32, 8, 128, BF16, BF16, F32, true},
      // Llama-8B's heads at 128 tokens; long chunks.
      {128, 0, 32, 8, 128, BF16, BF16, BF16, true},
      {1000, 0, 8, 2, 128, BF16, BF16, F32, true},
      {1024, 0, 8, 1, 64, BF16, BF16, BF16, true},
      {1000, 24, 4, 4, 128, BF16, BF16, F32, false},
      {1024, 0, 8, 8, 64, BF16, BF16, F32, true},
  };
}

class PrefillAttention : public BackendParamTest<PrefillCase> {};

TEST_P(PrefillAttention, OnTensorCoresMatchesTheCpuWithinTheBf16WeightBound) {
  prefill_case(pair(), GetParam(), AttentionKernel::tensor_cores);
}

INSTANTIATE_TEST_SUITE_P(TensorCores, PrefillAttention, ::testing::ValuesIn(tensor_core_cases()),
                         prefill_name);

std::vector<PrefillCase> cuda_core_cases() {
  return {
      // head_dim 80: bf16 everything, still the f32 kernel.
      {64, 0, 8, 2, 80, BF16, BF16, F32, true},
      {200, 33, 8, 8, 80, BF16, BF16, BF16, true},
      // f32 caches (the exact mode) at the shapes the tensor cores take.
      {200, 0, 8, 2, 128, F32, F32, F32, true},
      {128, 16, 32, 8, 128, BF16, F32, F32, true},
      // f32 q over bf16 caches.
      {64, 0, 8, 2, 64, F32, BF16, F32, true},
  };
}

class PrefillAttentionFallback : public BackendParamTest<PrefillCase> {};

TEST_P(PrefillAttentionFallback, StaysOnTheCudaCoreKernelAndMatchesTheCpuInF32) {
  prefill_case(pair(), GetParam(), AttentionKernel::cuda_cores);
}

INSTANTIATE_TEST_SUITE_P(CudaCores, PrefillAttentionFallback,
                         ::testing::ValuesIn(cuda_core_cases()), prefill_name);

}  // namespace
}  // namespace hix::vgpu::cuda::test
