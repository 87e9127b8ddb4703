// ROPE pairs and their attention's cache stores (rope_fusion.hpp): which
// ROPEs the cuda backend may hold, which second one joins, and when the
// pair may run with the ATTENTION's stores, over the operands a Llama
// decode step emits. hix-cuda-backend-test runs the launch itself against
// the cpu backend on a GPU.
#include <gtest/gtest.h>

#include <cstdint>

#include "rope_fusion.hpp"

namespace hix::vgpu::cuda {
namespace {

constexpr std::uint32_t kHeads = 32, kKvHeads = 8, kHeadDim = 64;
constexpr std::uint64_t kQ = 1ull << 20;
constexpr std::uint64_t kK = 2ull << 20;
constexpr std::uint64_t kV = 3ull << 20;
constexpr std::uint64_t kAtt = 4ull << 20;
constexpr std::uint64_t kKCache = 16ull << 20;
constexpr std::uint64_t kVCache = 32ull << 20;

TensorArg act(std::uint64_t at, std::uint64_t count, DType dt = DType::f32) {
  return TensorArg{VramOffset{at}, dt, count};
}

// ROPE in place over one token of `heads` heads at register R1.
RopeArgs rope_at(std::uint64_t at, std::uint32_t heads) {
  const TensorArg t = act(at, std::uint64_t{heads} * kHeadDim);
  RopeArgs r{t, t, 1, heads, kHeadDim, kHeadDim, 0, 500000.0f};
  r.llama3 = Llama3Rope{32.0f, 1.0f, 4.0f, 8192};
  r.pos_reg = 1;
  return r;
}

RopeHold q_and_k() {
  RopeHold h{{rope_at(kQ, kHeads)}, 1};
  EXPECT_TRUE(join(h, rope_at(kK, kKvHeads)));
  return h;
}

AttentionArgs attention() {
  AttentionArgs a{act(kAtt, kHeads * kHeadDim),
                  act(kQ, kHeads * kHeadDim),
                  act(kK, kKvHeads * kHeadDim),
                  act(kV, kKvHeads * kHeadDim),
                  act(kKCache, 256ull * kKvHeads * kHeadDim),
                  act(kVCache, 256ull * kKvHeads * kHeadDim),
                  1,
                  kHeads,
                  kKvHeads,
                  kHeadDim,
                  256,
                  0,
                  0.125f};
  a.pos_reg = 1;
  return a;
}

TEST(RopeFusion, TheRopesOfQAndKJoinAndRunWithTheirAttentionsStores) {
  ASSERT_TRUE(rope_holdable(rope_at(kQ, kHeads)));
  const RopeHold h = q_and_k();
  EXPECT_EQ(h.count, 2u);
  EXPECT_TRUE(rope_store_fusable(h, attention()));
}

TEST(RopeFusion, OnlyARopeInPlaceOnFloatsOfOneSequenceIsHeld) {
  RopeArgs r = rope_at(kQ, kHeads);
  r.out = act(kAtt, r.x.count);
  EXPECT_FALSE(rope_holdable(r)) << "written elsewhere";
  r = rope_at(kQ, kHeads);
  r.batch = true;
  EXPECT_FALSE(rope_holdable(r)) << "BATCH";
  r = rope_at(kQ, kHeads);
  r.x.moving = r.out.moving = MovingIndex{0, 4 * kHeads * kHeadDim, VramOffset{kQ}, 1 << 20};
  EXPECT_FALSE(rope_holdable(r)) << "a moving tensor";
  r = rope_at(kQ, kHeads);
  r.x.dtype = r.out.dtype = DType::i32;
  EXPECT_FALSE(rope_holdable(r)) << "integers";
}

TEST(RopeFusion, ASecondRopeJoinsOnlyWithTheSameAnglesOverAnotherTensor) {
  const RopeHold first{{rope_at(kQ, kHeads)}, 1};
  RopeHold h = first;
  RopeArgs k = rope_at(kK, kKvHeads);
  k.pos = 1;
  EXPECT_FALSE(join(h, k)) << "another position";
  k = rope_at(kK, kKvHeads);
  k.pos_reg = 2;
  EXPECT_FALSE(join(h, k)) << "another register";
  k = rope_at(kK, kKvHeads);
  k.theta = 10000.0f;
  EXPECT_FALSE(join(h, k)) << "another theta";
  k = rope_at(kK, kKvHeads);
  k.llama3.factor = 8.0f;
  EXPECT_FALSE(join(h, k)) << "another scaling";
  k = rope_at(kK, kKvHeads);
  k.rot_dim = kHeadDim / 2;
  EXPECT_FALSE(join(h, k)) << "a partial rotation";
  EXPECT_FALSE(join(h, rope_at(kQ + 256, kKvHeads))) << "over q's elements";
  EXPECT_EQ(h.count, 1u);
  RopeHold full = q_and_k();
  EXPECT_FALSE(join(full, rope_at(kV, kKvHeads))) << "a third";
}

TEST(RopeFusion, TheStoresTakeThePairOnlyOverTheirOwnQAndK) {
  const RopeHold h = q_and_k();
  AttentionArgs a = attention();
  a.batch = true;
  EXPECT_FALSE(rope_store_fusable(h, a)) << "BATCH";
  a = attention();
  std::swap(a.q, a.k);
  EXPECT_FALSE(rope_store_fusable(h, a)) << "q and k swapped";
  a = attention();
  a.v = a.k;
  EXPECT_FALSE(rope_store_fusable(h, a)) << "v is k: read after its ROPE one by one";
  a = attention();
  a.v = act(kQ + 512, kKvHeads * kHeadDim);
  EXPECT_FALSE(rope_store_fusable(h, a)) << "v inside q";
  const RopeHold one{{rope_at(kQ, kHeads)}, 1};
  EXPECT_FALSE(rope_store_fusable(one, attention())) << "q's ROPE alone";
}

TEST(RopeFusion, ThePairRunsInsideTheAttentionOnlyForOneTokenAtItsPositionInOneBlockAHead) {
  constexpr std::uint32_t kBlockRows = 8;  // the attention kernel's rows a block
  const RopeHold h = q_and_k();
  EXPECT_TRUE(rope_attention_fusable(h, attention(), kBlockRows));
  AttentionArgs a = attention();
  a.pos_reg.reset();
  EXPECT_FALSE(rope_attention_fusable(h, a, kBlockRows)) << "the attention's position fixed";
  a = attention();
  a.pos = 3;
  EXPECT_FALSE(rope_attention_fusable(h, a, kBlockRows)) << "another position";
  EXPECT_FALSE(rope_attention_fusable(h, attention(), 2)) << "4 query heads a kv head, 2 a block";
  // Two tokens: ROPE and attention over both.
  RopeArgs q2 = rope_at(kQ, kHeads / 2);
  q2.tokens = 2;
  q2.x = q2.out = act(kQ, std::uint64_t{kHeads} * kHeadDim);
  RopeArgs k2 = rope_at(kK, kKvHeads / 2);
  k2.tokens = 2;
  k2.x = k2.out = act(kK, std::uint64_t{kKvHeads} * kHeadDim);
  RopeHold two{{q2}, 1};
  ASSERT_TRUE(join(two, k2));
  a = attention();
  a.tokens = 2;
  a.q_heads = kHeads / 2;
  a.kv_heads = kKvHeads / 2;
  EXPECT_TRUE(rope_store_fusable(two, a));
  EXPECT_FALSE(rope_attention_fusable(two, a, kBlockRows)) << "two tokens";
  // The ROPE's heads not the attention's (the same elements).
  RopeHold wide{{rope_at(kQ, kHeads / 2)}, 1};
  wide.r[0].head_dim = 2 * kHeadDim;
  wide.r[0].rot_dim = 2 * kHeadDim;
  RopeArgs kw = rope_at(kK, kKvHeads / 2);
  kw.head_dim = 2 * kHeadDim;
  kw.rot_dim = 2 * kHeadDim;
  ASSERT_TRUE(join(wide, kw));
  EXPECT_FALSE(rope_attention_fusable(wide, attention(), kBlockRows)) << "other heads";
  a = attention();
  a.out = act(kV, kHeads * kHeadDim);
  EXPECT_FALSE(rope_attention_fusable(h, a, kBlockRows)) << "out over v";
  a = attention();
  a.out = act(kK - 64, kHeads * kHeadDim);
  EXPECT_FALSE(rope_attention_fusable(h, a, kBlockRows)) << "out over k";
  a = attention();
  a.batch = true;
  EXPECT_FALSE(rope_attention_fusable(h, a, kBlockRows)) << "BATCH";
}

}  // namespace
}  // namespace hix::vgpu::cuda
