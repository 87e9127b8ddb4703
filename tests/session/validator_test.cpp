// The validator on its own (docs/specs/hix-session.md §7, §8.1): every
// reason against a synthetic session, what it accepts, and what it leaves to
// the device.
#include <algorithm>
#include <cstring>

#include "harness.hpp"
#include "hix/abi/vgpu_ring.h"
#include "hix/session/validator.hpp"
#include "sealed_chunk.hpp"
#include "validation_cases.hpp"

namespace hix::session::test {
namespace {

using vgpu::CmdbufBuilder;
using vgpu::tref;

constexpr std::uint64_t kExtent0 = 0x2000000;

// A session with two f32 buffers, a two-extent window and slots 0 and 2.
struct Synthetic {
  Synthetic() {
    s.live = true;
    s.id = 1;
    s.ctx = 0x10001;
    EXPECT_TRUE(s.add_buffer(env.buf_a, kBufBytes));
    EXPECT_TRUE(s.add_buffer(env.buf_b, kBufBytes));
    s.extents[0] = Extent{0, GuestPhys{kExtent0}, kExtent};
    s.extents[1] = Extent{kExtent, GuestPhys{kExtent0 + kExtent}, kExtent};
    s.extent_count = 2;
    s.slots = 1u | (1u << env.model_slot);
  }
  Env env{0x00010001, 0x00020002, 0x00010003, kExtent0, kExtent0 + kExtent, 0x100000, 2};
  Session s;
};

Validation validate(const std::vector<std::byte>& b, const Session& s,
                    Mode mode = Mode::protected_mode) {
  // reinterpret_cast: the command buffer's bytes.
  return validate_cmdbuf({reinterpret_cast<const std::uint8_t*>(b.data()), b.size()}, s, mode);
}

class Rule : public ::testing::TestWithParam<Case> {};

TEST_P(Rule, IsRefusedWithItsReasonAndOpIndex) {
  const Synthetic syn;
  const Case& c = GetParam();
  const Validation v = validate(c.build(syn.env), syn.s, c.mode);
  EXPECT_EQ(v.reason, c.reason) << to_string(v.reason) << " at op " << v.op_index;
  EXPECT_EQ(v.op_index, c.op);
  EXPECT_EQ(v.highest_input_id, 0u);
}

INSTANTIATE_TEST_SUITE_P(Validator, Rule, ::testing::ValuesIn(validation_cases()), case_name);

TEST(Validator, EveryReasonOfTheSpecHasACase) {
  std::array<bool, 10> seen{};
  for (const Case& c : validation_cases()) seen[static_cast<std::size_t>(c.reason)] = true;
  for (std::size_t r = 1; r < seen.size(); ++r) {
    EXPECT_TRUE(seen[r]) << to_string(static_cast<Reason>(r));
  }
}

// One valid record of every whitelisted op a protected session may use.
CmdbufBuilder every_op(const Env& e) {
  const auto f32 = [](std::uint32_t h, std::uint64_t off = 0) {
    return tref(h, HIX_VGPU_DT_F32, off);
  };
  CmdbufBuilder b;
  b.add(HIX_VGPU_OP_NOP, hix_vgpu_op_nop{});
  b.fill(f32(e.buf_a), 4, 0);
  b.copy(f32(e.buf_b), f32(e.buf_a), 4);
  b.dma_crypt(HIX_VGPU_OP_DMA_IN_DECRYPT, f32(e.buf_a), {.gpa = e.extent0, .bytes = 64},
              {.tensor_id = 11, .key_slot = 0});
  b.dma_crypt(HIX_VGPU_OP_DMA_IN_DECRYPT, f32(e.buf_a), {.gpa = e.extent1, .bytes = 64},
              {.tensor_id = 3, .key_slot = e.model_slot});
  b.dma_crypt(HIX_VGPU_OP_DMA_OUT_ENCRYPT, f32(e.buf_a), {.gpa = e.extent1 + 4096, .bytes = 64},
              {.tensor_id = HIX_VGPU_TENSOR_ID_DEVICE | 1, .key_slot = 0});
  hix_vgpu_op_embedding em{};
  em.out = f32(e.buf_a);
  em.table = f32(e.buf_b);
  em.ids = tref(e.buf_a, HIX_VGPU_DT_I32);
  em.rows = em.dim = em.vocab = 1;
  b.add(HIX_VGPU_OP_EMBEDDING, em);
  hix_vgpu_op_matmul mm{};
  mm.h.flags = HIX_VGPU_MATMUL_TRANS_B | HIX_VGPU_MATMUL_ACCUMULATE;
  mm.out = mm.a = mm.b = f32(e.buf_a);
  mm.m = mm.n = mm.k = 2;
  b.add(HIX_VGPU_OP_MATMUL, mm);
  mm.h.flags = 0;
  mm.bias = f32(e.buf_b);
  b.add(HIX_VGPU_OP_MATMUL, mm);
  hix_vgpu_op_binary bin{};
  bin.out = bin.a = bin.b = f32(e.buf_a);
  bin.n = bin.nb = 4;
  b.add(HIX_VGPU_OP_ADD, bin).add(HIX_VGPU_OP_MUL, bin);
  hix_vgpu_op_layernorm ln{};
  ln.out = ln.x = ln.gamma = ln.beta = f32(e.buf_a);
  ln.rows = ln.cols = 2;
  ln.eps = 1e-5f;
  b.add(HIX_VGPU_OP_LAYERNORM, ln);
  hix_vgpu_op_rmsnorm rn{};
  rn.out = rn.x = rn.gamma = f32(e.buf_a);
  rn.rows = rn.cols = 2;
  rn.eps = 1e-5f;
  b.add(HIX_VGPU_OP_RMSNORM, rn);
  hix_vgpu_op_unary un{};
  un.out = un.x = f32(e.buf_a);
  un.count = 4;
  b.add(HIX_VGPU_OP_GELU, un).add(HIX_VGPU_OP_SILU, un);
  hix_vgpu_op_rows rows{};
  rows.out = rows.x = f32(e.buf_a);
  rows.rows = rows.cols = 2;
  b.add(HIX_VGPU_OP_SOFTMAX, rows).add(HIX_VGPU_OP_ARGMAX, rows);
  hix_vgpu_op_rope rope{};
  rope.out = rope.x = f32(e.buf_a);
  rope.tokens = rope.heads = 1;
  rope.head_dim = rope.rot_dim = 2;
  rope.pos_reg = 1;
  rope.theta = 10000.0f;
  b.add(HIX_VGPU_OP_ROPE, rope);
  hix_vgpu_op_attention at{};
  at.out = at.q = at.k = at.v = at.k_cache = at.v_cache = f32(e.buf_a);
  at.tokens = at.q_heads = at.kv_heads = 1;
  at.head_dim = 2;
  at.max_seq = 4;
  at.pos_reg = HIX_VGPU_REG_NONE;
  at.scale = 0.5f;
  b.add(HIX_VGPU_OP_ATTENTION, at);
  // Batched decode (hix-gpu §6.4.1): the same records with BATCH.
  rope.h.flags = HIX_VGPU_BATCH;
  b.add(HIX_VGPU_OP_ROPE, rope);
  at.h.flags = HIX_VGPU_BATCH;
  b.add(HIX_VGPU_OP_ATTENTION, at);
  hix_vgpu_op_sample sm{};
  sm.out = sm.x = f32(e.buf_a);
  sm.rows = sm.cols = 2;
  sm.temperature = 1.0f;
  b.add(HIX_VGPU_OP_SAMPLE, sm);
  hix_vgpu_op_rope_llama3 rope3{};
  rope3.out = rope3.x = f32(e.buf_a);
  rope3.tokens = rope3.heads = 1;
  rope3.head_dim = rope3.rot_dim = 2;
  rope3.pos_reg = 1;
  rope3.theta = 500000.0f;
  rope3.factor = 32.0f;
  rope3.low_freq_factor = 1.0f;
  rope3.high_freq_factor = 4.0f;
  rope3.original_max_pos = 8192;
  b.add(HIX_VGPU_OP_ROPE_LLAMA3, rope3);
  rope3.h.flags = HIX_VGPU_BATCH;
  b.add(HIX_VGPU_OP_ROPE_LLAMA3, rope3);
  b.set_reg(0, 1).add_reg(7, -1);
  hix_vgpu_op_break_if_eq br{};
  br.x = tref(e.buf_a, HIX_VGPU_DT_I32);
  // An indexed reference: its offset is the device's to check at run time.
  b.loop({.count = 3, .body_ops = 2}).add_reg(0, 1).add(HIX_VGPU_OP_BREAK_IF_EQ, br);
  b.copy(vgpu::tref_indexed(e.buf_b, HIX_VGPU_DT_F32, 1ull << 30, 0, 4), f32(e.buf_a), 1);
  return b;
}

TEST(Validator, AcceptsEveryWhitelistedOpWithTheSessionsOperands) {
  const Synthetic syn;
  const Validation v = validate(every_op(syn.env).finish(), syn.s);
  EXPECT_TRUE(v.ok()) << to_string(v.reason) << " at op " << v.op_index;
  EXPECT_EQ(v.highest_input_id, 11u) << "only ids under slot 0 are tracked";
}

// BATCH is bit 0 of ROPE, ROPE_LLAMA3 and ATTENTION only (the op table's
// allowed flags): on another op, or beside an unknown bit, the record is
// refused.
TEST(Validator, TheBatchFlagPassesOnlyWhereTheIsaDefinesIt) {
  const Synthetic syn;
  const auto f32 = [&](std::uint32_t h) { return tref(h, HIX_VGPU_DT_F32); };
  hix_vgpu_op_rmsnorm rn{};
  rn.h.flags = HIX_VGPU_BATCH;
  rn.out = rn.x = rn.gamma = f32(syn.env.buf_a);
  rn.rows = rn.cols = 2;
  rn.eps = 1e-5f;
  CmdbufBuilder norm;
  norm.add(HIX_VGPU_OP_RMSNORM, rn);
  EXPECT_EQ(validate(norm.finish(), syn.s).reason, Reason::record);
  hix_vgpu_op_attention at{};
  at.h.flags = HIX_VGPU_BATCH | 2u;
  at.out = at.q = at.k = at.v = at.k_cache = at.v_cache = f32(syn.env.buf_a);
  at.tokens = at.q_heads = at.kv_heads = 1;
  at.head_dim = 2;
  at.max_seq = 4;
  at.pos_reg = HIX_VGPU_REG_NONE;
  at.scale = 0.5f;
  CmdbufBuilder unknown;
  unknown.add(HIX_VGPU_OP_ATTENTION, at);
  EXPECT_EQ(validate(unknown.finish(), syn.s).reason, Reason::record);
  at.h.flags = HIX_VGPU_BATCH;
  CmdbufBuilder batched;
  batched.add(HIX_VGPU_OP_ATTENTION, at);
  EXPECT_TRUE(validate(batched.finish(), syn.s).ok());
}

TEST(Validator, InputIdsMustRiseAboveWhatTheSessionUsedBefore) {
  Synthetic syn;
  syn.s.highest_input_id = 11;
  EXPECT_EQ(validate(cases::decrypt(syn.env, kExtent0, 64, 11, 0).finish(), syn.s).reason,
            Reason::tensor_id);
  const Validation v = validate(cases::decrypt(syn.env, kExtent0, 64, 12, 0).finish(), syn.s);
  EXPECT_TRUE(v.ok());
  EXPECT_EQ(v.highest_input_id, 12u);
  // Model keys' ids are not tracked: weights may be loaded again.
  EXPECT_TRUE(validate(cases::decrypt(syn.env, kExtent0, 64, 1, 2).finish(), syn.s).ok());
}

// Peer disks (hix-session §7): the sealed op is checked like DMA_IN_DECRYPT
// but names no window range; the plain one exists only in plain mode.
TEST(Validator, PeerDiskLoadsAreCheckedLikeWindowLoads) {
  Synthetic syn;
  const auto peer = [&](std::uint16_t op, std::uint64_t id, std::uint32_t slot) {
    CmdbufBuilder b;
    b.dma_peer(op, tref(syn.env.buf_a, HIX_VGPU_DT_F32),
               {.disk = 3, .offset = 1ull << 40, .bytes = 64}, {.tensor_id = id, .key_slot = slot});
    return b.finish();
  };
  EXPECT_TRUE(validate(peer(HIX_VGPU_OP_DMA_IN_DECRYPT_PEER, 1, syn.env.model_slot), syn.s).ok())
      << "any disk and offset: the device checks them";
  EXPECT_EQ(validate(peer(HIX_VGPU_OP_DMA_IN_DECRYPT_PEER, 1, 6), syn.s).reason, Reason::key_slot);
  EXPECT_EQ(
      validate(peer(HIX_VGPU_OP_DMA_IN_DECRYPT_PEER, cases::kOut | 1, syn.env.model_slot), syn.s)
          .reason,
      Reason::tensor_id);
  syn.s.highest_input_id = 11;
  EXPECT_EQ(validate(peer(HIX_VGPU_OP_DMA_IN_DECRYPT_PEER, 11, 0), syn.s).reason, Reason::tensor_id)
      << "an old sealed prompt cannot come back from a peer disk either";
  EXPECT_EQ(validate(peer(HIX_VGPU_OP_DMA_IN_PEER, 0, 0), syn.s).reason, Reason::opcode);
  EXPECT_TRUE(validate(peer(HIX_VGPU_OP_DMA_IN_PEER, 0, 0), syn.s, Mode::plain).ok());
  EXPECT_EQ(validate(peer(HIX_VGPU_OP_DMA_IN_DECRYPT_PEER, 12, 0), syn.s, Mode::plain).reason,
            Reason::opcode);
}

TEST(Validator, PlainModeAllowsPlainDmaInsideTheWindow) {
  const Synthetic syn;
  CmdbufBuilder b;
  b.dma(HIX_VGPU_OP_DMA_IN, tref(syn.env.buf_a, HIX_VGPU_DT_F32),
        {.gpa = kExtent0, .bytes = kExtent});
  b.dma(HIX_VGPU_OP_DMA_OUT, tref(syn.env.buf_a, HIX_VGPU_DT_F32),
        {.gpa = kExtent0 + kExtent, .bytes = 64});
  EXPECT_TRUE(validate(b.finish(), syn.s, Mode::plain).ok());
  CmdbufBuilder across;
  across.dma(HIX_VGPU_OP_DMA_IN, tref(syn.env.buf_a, HIX_VGPU_DT_F32),
             {.gpa = kExtent0 + 8, .bytes = kExtent});
  EXPECT_EQ(validate(across.finish(), syn.s, Mode::plain).reason, Reason::dma_range);
}

TEST(Validator, EveryOpcodeOffTheWhitelistIsRefused) {
  const Synthetic syn;
  const std::array<std::uint16_t, 27> known{0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0D, 0x0E,
                                            0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18,
                                            0x19, 0x1A, 0x1B, 0x1C, 0x1D, 0x20, 0x21, 0x22, 0x23};
  std::size_t refused = 0;
  for (std::uint32_t op = 0; op <= 0xFFFF; ++op) {
    if (std::find(known.begin(), known.end(), op) != known.end()) continue;
    auto b = cases::nop().finish();
    const auto code = static_cast<std::uint16_t>(op);
    std::memcpy(b.data() + 16, &code, 2);
    const Validation v = validate(b, syn.s);
    ASSERT_EQ(v.reason, Reason::opcode) << std::hex << op;
    ++refused;
  }
  EXPECT_EQ(refused, 0x10000u - known.size());
}

// Admin commands, key slots and the ring are the enclave's own: a client's
// command buffer goes only to the ring as tensor ops, and nothing in one can
// reach the mailbox. A ring entry passed off as a command buffer is not one,
// and admin opcodes without a tensor op of that number are not on the
// whitelist. (No request type names them either: see Requests.)
TEST(Validator, RingEntriesAndAdminCommandsCannotBeExpressed) {
  const Synthetic syn;
  std::vector<std::byte> entry(sizeof(hix_vgpu_ring_entry));
  hix_vgpu_ring_entry e{};
  e.seq = 1;
  e.ctx = syn.s.ctx;
  e.cmd_len = 64;
  std::memcpy(entry.data(), &e, sizeof e);
  EXPECT_EQ(validate(entry, syn.s).reason, Reason::header);
  for (const std::uint16_t admin :
       {HIX_GPU_CMD_MEM_ALLOC, HIX_GPU_CMD_MEM_FREE, HIX_GPU_CMD_RING_START, HIX_GPU_CMD_RING_STOP,
        HIX_GPU_CMD_SCRUB, HIX_GPU_CMD_VRAM_INFO}) {
    auto b = cases::nop().finish();
    std::memcpy(b.data() + 16, &admin, 2);
    EXPECT_EQ(validate(b, syn.s).reason, Reason::opcode) << admin;
  }
}

TEST(Validator, DefaultDenyNothingPassesForADeadSession) {
  Synthetic syn;
  syn.s.wipe();
  EXPECT_EQ(validate(cases::copy(syn.env).finish(), syn.s).reason, Reason::handle);
  EXPECT_EQ(validate(cases::decrypt(syn.env, kExtent0, 64, 1, 0).finish(), syn.s).reason,
            Reason::handle);
}

TEST(Validator, SealedSizesFollowTheChunkFormat) {
  EXPECT_EQ(sealed_bytes(0), 0u);
  EXPECT_EQ(sealed_bytes(1), 49u);
  EXPECT_EQ(sealed_bytes(65536), 65536u + 48);
  EXPECT_EQ(sealed_bytes(65537), 65537u + 96);
  EXPECT_EQ(sealed_bytes(std::uint64_t{1} << 40),
            (std::uint64_t{1} << 40) + std::uint64_t{48} * (1u << 24));
  EXPECT_EQ(sealed_bytes((std::uint64_t{1} << 40) + 1), 0u);
  for (const std::uint64_t n : {1ull, 100ull, 65536ull, 200000ull}) {
    EXPECT_EQ(sealed_bytes(n), vgpu::sealed_size(n)) << n;
  }
}

}  // namespace
}  // namespace hix::session::test
