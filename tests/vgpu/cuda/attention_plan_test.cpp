// Which kernel runs ATTENTION on the cuda backend (attention_plan.hpp): the
// tensor-core kernel for bf16 prefill chunks of head_dim 64 or 128, the
// cuda-core kernel for everything else, and the tensor-core launch shape.
// hix-cuda-backend-test runs both kernels against the cpu backend on a GPU.
#include <gtest/gtest.h>

#include <cstdint>

#include "attention_plan.hpp"
#include "kernel_shapes.hpp"

namespace hix::vgpu::cuda {
namespace {

constexpr DType kBf16 = DType::bf16;
constexpr DType kF32 = DType::f32;

// A Llama-8B-shaped chunk (32 q heads, 8 kv heads, head_dim 128) with every
// operand in `dt`, caches 16-byte aligned.
AttentionArgs chunk(std::uint32_t tokens, DType dt = kBf16, std::uint32_t head_dim = 128) {
  const auto t = [dt](std::uint64_t at) { return TensorArg{VramOffset{at}, dt, 1}; };
  return AttentionArgs{.out = t(0),
                       .q = t(1 << 20),
                       .k = t(2 << 20),
                       .v = t(3 << 20),
                       .k_cache = t(4 << 20),
                       .v_cache = t(5 << 20),
                       .tokens = tokens,
                       .q_heads = 32,
                       .kv_heads = 8,
                       .head_dim = head_dim,
                       .max_seq = 2048,
                       .pos = 0,
                       .scale = 0.088F};
}

TEST(AttentionPlan, ABf16PrefillChunkRunsOnTensorCores) {
  EXPECT_EQ(attention_kernel(chunk(1024)), AttentionKernel::tensor_cores);
  EXPECT_EQ(attention_kernel(chunk(128, kBf16, 64)), AttentionKernel::tensor_cores);
  EXPECT_EQ(attention_kernel(chunk(kTcAttentionMinTokens)), AttentionKernel::tensor_cores);
}

TEST(AttentionPlan, AChunkAfterAnEarlierChunkRunsOnTensorCoresToo) {
  AttentionArgs a = chunk(200);
  a.pos = 777;
  EXPECT_EQ(attention_kernel(a), AttentionKernel::tensor_cores);
}

TEST(AttentionPlan, TheOutputMayBeF32OrBf16) {
  AttentionArgs a = chunk(64);
  a.out.dtype = kF32;
  EXPECT_EQ(attention_kernel(a), AttentionKernel::tensor_cores);
  a.out.dtype = DType::i32;
  EXPECT_EQ(attention_kernel(a), AttentionKernel::cuda_cores);
}

TEST(AttentionPlan, F32OperandsStayOnTheExactKernel) {
  EXPECT_EQ(attention_kernel(chunk(1024, kF32)), AttentionKernel::cuda_cores);
  for (const int which : {0, 1, 2}) {
    AttentionArgs a = chunk(1024);
    (which == 0 ? a.q : which == 1 ? a.k_cache : a.v_cache).dtype = kF32;
    EXPECT_EQ(attention_kernel(a), AttentionKernel::cuda_cores) << "operand " << which;
  }
}

TEST(AttentionPlan, DecodeAndShortChunksStayOnTheSplitKernel) {
  EXPECT_EQ(attention_kernel(chunk(1)), AttentionKernel::cuda_cores);
  EXPECT_EQ(attention_kernel(chunk(kTcAttentionMinTokens - 1)), AttentionKernel::cuda_cores);
}

TEST(AttentionPlan, AMovingPositionStaysOnTheSplitKernel) {
  AttentionArgs a = chunk(64);
  a.pos_reg = 1;
  EXPECT_EQ(attention_kernel(a), AttentionKernel::cuda_cores);
}

TEST(AttentionPlan, OtherHeadSizesStayOnTheCudaCoreKernel) {
  for (const std::uint32_t hd : {32U, 80U, 96U, 256U}) {
    EXPECT_EQ(attention_kernel(chunk(1024, kBf16, hd)), AttentionKernel::cuda_cores) << hd;
  }
}

TEST(AttentionPlan, ABlockTakesSixtyFourRowsOfOneKvHead) {
  // 1024 tokens x 4 q heads a kv head = 4096 rows: 64 tiles of 64, per kv head.
  const auto p = plan_tc_attention(chunk(1024), 4 << 20, 5 << 20);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->row_tiles, 64U);
  EXPECT_EQ(p->kv_heads, 8U);
  EXPECT_EQ(p->threads, shapes::kTcWarps * 32);
  EXPECT_EQ(shapes::kTcRows, shapes::kTcWarps * 16);
  EXPECT_TRUE(p->vector_loads);
}

TEST(AttentionPlan, APartialLastTileIsOneMoreBlock) {
  AttentionArgs a = chunk(17);
  a.q_heads = 8;
  a.kv_heads = 8;  // group 1: 17 rows
  EXPECT_EQ(plan_tc_attention(a, 0, 0)->row_tiles, 1U);
  a.q_heads = 64;  // group 8: 136 rows
  EXPECT_EQ(plan_tc_attention(a, 0, 0)->row_tiles, 3U);
}

TEST(AttentionPlan, MisalignedCachesAreStagedWithNarrowLoads) {
  const AttentionArgs a = chunk(64);
  EXPECT_FALSE(plan_tc_attention(a, (4 << 20) + 2, 5 << 20)->vector_loads);
  EXPECT_FALSE(plan_tc_attention(a, 4 << 20, (5 << 20) + 8)->vector_loads);
  EXPECT_TRUE(plan_tc_attention(a, (4 << 20) + 16, (5 << 20) + 48)->vector_loads);
}

TEST(AttentionPlan, AGridBeyondTheLaunchLimitsIsRefused) {
  AttentionArgs a = chunk(64);
  a.q_heads = 70000;
  a.kv_heads = 70000;
  EXPECT_FALSE(plan_tc_attention(a, 0, 0).has_value());
  a.kv_heads = 3;  // q_heads not a multiple: never planned
  EXPECT_FALSE(plan_tc_attention(a, 0, 0).has_value());
}

}  // namespace
}  // namespace hix::vgpu::cuda
