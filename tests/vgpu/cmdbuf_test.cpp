// Command-buffer parser and validator (spec §6): every malformed buffer is
// rejected with a precise status and op index, and a buffer that fails
// validation runs nothing.
#include <gtest/gtest.h>

#include "cmdbuf.hpp"
#include "fake_bus.hpp"

namespace hix::vgpu::test {
namespace {

std::vector<std::byte> one_nop() {
  CmdbufBuilder b;
  b.add(HIX_VGPU_OP_NOP, hix_vgpu_op_nop{});
  return b.finish();
}

template <class T>
void poke(std::vector<std::byte>& buf, std::size_t off, T v) {
  std::memcpy(buf.data() + off, &v, sizeof v);
}

TEST(CmdbufParse, AMinimalBufferParses) {
  const auto buf = one_nop();
  const auto r = parse_cmdbuf(buf);
  ASSERT_EQ(r.status, Status::ok);
  EXPECT_EQ(r.program.ops.size(), 1u);
}

TEST(CmdbufParse, HeaderErrors) {
  auto bad_magic = one_nop();
  poke<std::uint32_t>(bad_magic, 0, 0x12345678);
  EXPECT_EQ(parse_cmdbuf(bad_magic).status, Status::bad_format);
  auto bad_version = one_nop();
  poke<std::uint16_t>(bad_version, 4, 2);
  EXPECT_EQ(parse_cmdbuf(bad_version).status, Status::bad_format);
  auto bad_len = one_nop();
  poke<std::uint32_t>(bad_len, 12, 32);
  EXPECT_EQ(parse_cmdbuf(bad_len).status, Status::bad_format);
  auto zero_ops = one_nop();
  poke<std::uint32_t>(zero_ops, 8, 0);
  EXPECT_EQ(parse_cmdbuf(zero_ops).status, Status::bad_format);
  auto too_many = one_nop();
  poke<std::uint32_t>(too_many, 8, 2);  // claims an op that is not there
  EXPECT_EQ(parse_cmdbuf(too_many).status, Status::bad_format);
  EXPECT_EQ(parse_cmdbuf(std::span<const std::byte>()).status, Status::bad_format);
}

TEST(CmdbufParse, RecordErrorsNameTheOp) {
  CmdbufBuilder b;
  b.add(HIX_VGPU_OP_NOP, hix_vgpu_op_nop{});
  b.fill(tref(1, HIX_VGPU_DT_F32), 4, 0);
  auto buf = b.finish();
  auto unknown = buf;
  poke<std::uint16_t>(unknown, 24, 0x99);  // op 1's opcode
  auto r = parse_cmdbuf(unknown);
  EXPECT_EQ(r.status, Status::bad_opcode);
  EXPECT_EQ(r.op_index, 1u);
  auto wrong_size = buf;
  poke<std::uint16_t>(wrong_size, 26, 40);
  EXPECT_EQ(parse_cmdbuf(wrong_size).status, Status::bad_format);
  auto flags = buf;
  poke<std::uint32_t>(flags, 28, 1);
  EXPECT_EQ(parse_cmdbuf(flags).status, Status::bad_format);
  auto dtype = buf;
  poke<std::uint8_t>(dtype, 24 + 8 + 4, 9);
  EXPECT_EQ(parse_cmdbuf(dtype).status, Status::bad_dtype);
  auto reg = buf;
  poke<std::uint8_t>(reg, 24 + 8 + 5, 8);
  EXPECT_EQ(parse_cmdbuf(reg).status, Status::bad_format);
  auto misaligned = buf;
  poke<std::uint64_t>(misaligned, 24 + 8 + 8, 2);
  EXPECT_EQ(parse_cmdbuf(misaligned).status, Status::bad_format);
  auto reserved = buf;
  poke<std::uint32_t>(reserved, 24 + 44, 1);  // hix_vgpu_op_fill.reserved
  EXPECT_EQ(parse_cmdbuf(reserved).status, Status::bad_format);
}

TEST(CmdbufParse, FloatParametersMustBePositiveAndFinite) {
  CmdbufBuilder b;
  hix_vgpu_op_layernorm ln{};
  ln.out = ln.x = ln.gamma = ln.beta = tref(1, HIX_VGPU_DT_F32);
  ln.rows = ln.cols = 1;
  ln.eps = -1.0f;
  b.add(HIX_VGPU_OP_LAYERNORM, ln);
  EXPECT_EQ(parse_cmdbuf(b.finish()).status, Status::invalid_arg);
  CmdbufBuilder s;
  hix_vgpu_op_sample sm{};
  sm.out = tref(1, HIX_VGPU_DT_I32);
  sm.x = tref(1, HIX_VGPU_DT_F32);
  sm.temperature = std::numeric_limits<float>::quiet_NaN();
  s.add(HIX_VGPU_OP_SAMPLE, sm);
  EXPECT_EQ(parse_cmdbuf(s.finish()).status, Status::invalid_arg);
}

// A record with several faults fails with the first check's status, in the
// op table's order: reserved fields, registers, float parameters, optional
// tensor references, required ones.
TEST(CmdbufParse, ARecordWithSeveralFaultsReportsTheFirstCheck) {
  CmdbufBuilder mm;
  hix_vgpu_op_matmul m{};
  m.out = m.a = m.b = tref(1, HIX_VGPU_DT_F32);
  m.out.dtype = 9;   // BAD_DTYPE
  m.bias.dtype = 1;  // absent but not all zero: BAD_FORMAT
  m.m = m.n = m.k = 1;
  mm.add(HIX_VGPU_OP_MATMUL, m);
  EXPECT_EQ(parse_cmdbuf(mm.finish()).status, Status::bad_format);
  CmdbufBuilder rp;
  hix_vgpu_op_rope r{};
  r.out = r.x = tref(1, HIX_VGPU_DT_F32);
  r.out.dtype = 9;  // BAD_DTYPE
  r.tokens = r.heads = r.head_dim = r.rot_dim = 2;
  r.pos_reg = 8;                                     // BAD_FORMAT
  r.theta = std::numeric_limits<float>::infinity();  // INVALID_ARG
  rp.add(HIX_VGPU_OP_ROPE, r);
  EXPECT_EQ(parse_cmdbuf(rp.finish()).status, Status::bad_format);
  r.pos_reg = HIX_VGPU_REG_NONE;
  CmdbufBuilder rp2;
  rp2.add(HIX_VGPU_OP_ROPE, r);
  EXPECT_EQ(parse_cmdbuf(rp2.finish()).status, Status::invalid_arg);
}

TEST(CmdbufParse, LoopStructure) {
  CmdbufBuilder past_end;
  past_end.loop({.count = 2, .body_ops = 2}).add(HIX_VGPU_OP_NOP, hix_vgpu_op_nop{});
  EXPECT_EQ(parse_cmdbuf(past_end.finish()).status, Status::bad_format);
  CmdbufBuilder nested;
  nested.loop({.count = 2, .body_ops = 2})
      .loop({.count = 2, .body_ops = 1})
      .add(HIX_VGPU_OP_NOP, hix_vgpu_op_nop{});
  const auto r = parse_cmdbuf(nested.finish());
  EXPECT_EQ(r.status, Status::bad_format);
  EXPECT_EQ(r.op_index, 1u);
  CmdbufBuilder zero_count;
  zero_count.loop({.count = 0, .body_ops = 1}).add(HIX_VGPU_OP_NOP, hix_vgpu_op_nop{});
  EXPECT_EQ(parse_cmdbuf(zero_count.finish()).status, Status::bad_format);
  CmdbufBuilder stray_break;
  hix_vgpu_op_break_if_eq br{};
  br.x = tref(1, HIX_VGPU_DT_I32);
  stray_break.add(HIX_VGPU_OP_BREAK_IF_EQ, br);
  EXPECT_EQ(parse_cmdbuf(stray_break.finish()).status, Status::bad_format);
  CmdbufBuilder ok;
  ok.loop({.count = 3, .body_ops = 1}).add(HIX_VGPU_OP_BREAK_IF_EQ, br);
  EXPECT_EQ(parse_cmdbuf(ok.finish()).status, Status::ok);
}

class Validation : public ::testing::Test {
 protected:
  void SetUp() override {
    bus.start_ring();
    ctx = bus.create_context();
    a = bus.alloc(ctx, 64);  // 16 floats
    b = bus.alloc(ctx, 64);
  }
  Status submit_after_fill(const std::function<void(CmdbufBuilder&)>& add_bad_op) {
    CmdbufBuilder cb;
    cb.fill(tref(a, HIX_VGPU_DT_F32), 16, 0x40000000u);  // would set a to 2.0
    add_bad_op(cb);
    return bus.submit(ctx, cb);
  }
  FakeBus bus{1 << 20};
  std::uint32_t ctx = 0, a = 0, b = 0;
};

TEST_F(Validation, AFailingBufferRunsNothingAndReportsTheOp) {
  const Status s = submit_after_fill([&](CmdbufBuilder& cb) {
    cb.copy(tref(b, HIX_VGPU_DT_F32), tref(a, HIX_VGPU_DT_F32), 17);  // one past the end
  });
  EXPECT_EQ(s, Status::out_of_bounds);
  EXPECT_EQ(bus.reg(Reg32::last_error) >> 16, 1u);
  EXPECT_EQ(bus.reg(Reg32::last_error_fence), bus.last_fence);
  EXPECT_EQ(bus.download({.ctx = ctx, .handle = a}, 16), std::vector<float>(16, 0.0f))
      << "the FILL did not run";
}

TEST_F(Validation, HandlesDtypesAndShapes) {
  EXPECT_EQ(submit_after_fill([&](CmdbufBuilder& cb) {
              cb.copy(tref(b + 7, HIX_VGPU_DT_F32), tref(a, HIX_VGPU_DT_F32), 1);
            }),
            Status::bad_handle);
  EXPECT_EQ(submit_after_fill([&](CmdbufBuilder& cb) {
              cb.copy(tref(b, HIX_VGPU_DT_I32), tref(a, HIX_VGPU_DT_F32), 1);
            }),
            Status::bad_dtype);
  EXPECT_EQ(submit_after_fill([&](CmdbufBuilder& cb) {
              hix_vgpu_op_binary r{};
              r.out = r.a = tref(a, HIX_VGPU_DT_F32);
              r.b = tref(b, HIX_VGPU_DT_F32);
              r.n = 16;
              r.nb = 3;  // 16 is not a multiple of 3
              cb.add(HIX_VGPU_OP_ADD, r);
            }),
            Status::bad_shape);
  EXPECT_EQ(submit_after_fill([&](CmdbufBuilder& cb) {
              hix_vgpu_op_matmul r{};
              r.out = r.a = r.b = tref(a, HIX_VGPU_DT_F32);
              r.m = 0x10000;
              r.n = 0x10000;
              r.k = 1;  // 2^32 elements: out of bounds, not an overflow crash
              cb.add(HIX_VGPU_OP_MATMUL, r);
            }),
            Status::out_of_bounds);
  EXPECT_EQ(submit_after_fill([&](CmdbufBuilder& cb) {
              hix_vgpu_op_matmul r{};
              r.out = r.a = r.b = tref(a, HIX_VGPU_DT_F32);
              r.m = 0xFFFFFFFF;
              r.n = 0xFFFFFFFF;
              r.k = 0xFFFFFFFF;
              cb.add(HIX_VGPU_OP_MATMUL, r);
            }),
            Status::bad_shape);
  EXPECT_EQ(bus.reg(Reg32::exec_errors), 5u);
}

// The executor's order: the shape rule and every product of dimensions,
// then the required operands (handle before a single dimension), their
// dtypes, then the optional operands.
TEST_F(Validation, AnOpWithSeveralFaultsReportsTheFirstCheck) {
  EXPECT_EQ(submit_after_fill([&](CmdbufBuilder& cb) {
              cb.fill(tref(b + 7, HIX_VGPU_DT_F32), 0, 0);  // bad handle and count 0
            }),
            Status::bad_handle);
  EXPECT_EQ(submit_after_fill([&](CmdbufBuilder& cb) {
              hix_vgpu_op_embedding r{};
              r.out = r.table = tref(b + 7, HIX_VGPU_DT_F32);  // bad handles
              r.ids = tref(a, HIX_VGPU_DT_I32);
              r.rows = 0;  // and an empty shape
              r.dim = r.vocab = 1;
              cb.add(HIX_VGPU_OP_EMBEDDING, r);
            }),
            Status::bad_shape);
  EXPECT_EQ(submit_after_fill([&](CmdbufBuilder& cb) {
              hix_vgpu_op_matmul r{};
              r.out = r.a = r.b = tref(a, HIX_VGPU_DT_F32);
              r.out.dtype = HIX_VGPU_DT_I32;          // a float operand as i32
              r.bias = tref(b + 7, HIX_VGPU_DT_F32);  // and a bad optional handle
              r.m = r.n = r.k = 1;
              cb.add(HIX_VGPU_OP_MATMUL, r);
            }),
            Status::bad_dtype);
  EXPECT_EQ(submit_after_fill([&](CmdbufBuilder& cb) {
              hix_vgpu_op_matmul r{};
              r.out = r.a = r.b = tref(a, HIX_VGPU_DT_F32);
              r.bias = tref(b, HIX_VGPU_DT_I32);  // the optional operand's dtype
              r.m = r.n = r.k = 1;
              cb.add(HIX_VGPU_OP_MATMUL, r);
            }),
            Status::bad_dtype);
  EXPECT_EQ(submit_after_fill([&](CmdbufBuilder& cb) {
              cb.copy(tref(b, HIX_VGPU_DT_BF16), tref(a, HIX_VGPU_DT_F32), 4);  // floats mix
              cb.copy(tref(b, HIX_VGPU_DT_I32), tref(a, HIX_VGPU_DT_I32), 4);   // i32 to i32
              cb.copy(tref(b, HIX_VGPU_DT_F32), tref(a, HIX_VGPU_DT_I32), 4);   // i32 to float
            }),
            Status::bad_dtype);
  EXPECT_EQ(bus.reg(Reg32::last_error) >> 16, 3u) << "the third COPY, after two good ones";
}

TEST_F(Validation, IndexedReferencesAreCheckedWhenTheyRun) {
  CmdbufBuilder cb;
  cb.set_reg(0, 15);
  cb.fill(tref_indexed(a, HIX_VGPU_DT_F32, 0, 0, 4), 1, 0x3F800000u);  // a[15] = 1
  cb.add_reg(0, 1);
  cb.fill(tref_indexed(a, HIX_VGPU_DT_F32, 0, 0, 4), 1, 0x3F800000u);  // a[16]: out of bounds
  EXPECT_EQ(bus.submit(ctx, cb), Status::out_of_bounds);
  EXPECT_EQ(bus.reg(Reg32::last_error) >> 16, 3u);
  EXPECT_EQ(bus.download({.ctx = ctx, .handle = a}, 16)[15], 1.0f)
      << "ops before the failing one ran";
  CmdbufBuilder neg;
  neg.set_reg(1, -1);
  neg.fill(tref_indexed(a, HIX_VGPU_DT_F32, 0, 1, 4), 1, 0);
  EXPECT_EQ(bus.submit(ctx, neg), Status::index_out_of_range);
}

TEST_F(Validation, TheOpBudgetBoundsLoops) {
  FakeBus small(1 << 20, DeviceConfig{100, true});
  small.start_ring();
  const auto c = small.create_context();
  CmdbufBuilder cb;
  cb.loop({.count = 1000, .body_ops = 1}).add(HIX_VGPU_OP_NOP, hix_vgpu_op_nop{});
  EXPECT_EQ(small.submit(c, cb), Status::limit);
  CmdbufBuilder fits;
  fits.loop({.count = 100, .body_ops = 1}).add(HIX_VGPU_OP_NOP, hix_vgpu_op_nop{});
  EXPECT_EQ(small.submit(c, fits), Status::ok);
}

// HIX_VGPU_BATCH (spec §6.4.1): bit 0 is defined for ROPE, ROPE_LLAMA3 and
// ATTENTION only; every other bit of theirs stays reserved.
TEST(CmdbufParse, TheBatchFlagIsDefinedOnlyForRopeAndAttention) {
  const auto with_flags = [](std::uint16_t opcode, auto rec, std::uint32_t flags) {
    rec.h.flags = flags;
    CmdbufBuilder b;
    b.add(opcode, rec);
    return parse_cmdbuf(b.finish()).status;
  };
  hix_vgpu_op_rope rope{};
  rope.out = rope.x = tref(1, HIX_VGPU_DT_F32);
  rope.pos_reg = HIX_VGPU_REG_NONE;
  rope.theta = 10000.0f;
  hix_vgpu_op_rope_llama3 rope3{};
  rope3.out = rope3.x = tref(1, HIX_VGPU_DT_F32);
  rope3.pos_reg = HIX_VGPU_REG_NONE;
  rope3.theta = rope3.factor = rope3.low_freq_factor = rope3.high_freq_factor = 1.0f;
  hix_vgpu_op_attention att{};
  att.out = att.q = att.k = att.v = att.k_cache = att.v_cache = tref(1, HIX_VGPU_DT_F32);
  att.pos_reg = HIX_VGPU_REG_NONE;
  att.scale = 1.0f;
  EXPECT_EQ(with_flags(HIX_VGPU_OP_ROPE, rope, HIX_VGPU_BATCH), Status::ok);
  EXPECT_EQ(with_flags(HIX_VGPU_OP_ROPE_LLAMA3, rope3, HIX_VGPU_BATCH), Status::ok);
  EXPECT_EQ(with_flags(HIX_VGPU_OP_ATTENTION, att, HIX_VGPU_BATCH), Status::ok);
  for (const std::uint32_t unknown : {2u, 0x80000000u, HIX_VGPU_BATCH | 4u}) {
    EXPECT_EQ(with_flags(HIX_VGPU_OP_ROPE, rope, unknown), Status::bad_format) << unknown;
    EXPECT_EQ(with_flags(HIX_VGPU_OP_ROPE_LLAMA3, rope3, unknown), Status::bad_format) << unknown;
    EXPECT_EQ(with_flags(HIX_VGPU_OP_ATTENTION, att, unknown), Status::bad_format) << unknown;
  }
  hix_vgpu_op_rmsnorm norm{};
  norm.out = norm.x = norm.gamma = tref(1, HIX_VGPU_DT_F32);
  norm.eps = 1e-5f;
  EXPECT_EQ(with_flags(HIX_VGPU_OP_RMSNORM, norm, HIX_VGPU_BATCH), Status::bad_format);
  hix_vgpu_op_embedding emb{};
  emb.out = emb.table = tref(1, HIX_VGPU_DT_F32);
  emb.ids = tref(1, HIX_VGPU_DT_I32);
  EXPECT_EQ(with_flags(HIX_VGPU_OP_EMBEDDING, emb, HIX_VGPU_BATCH), Status::bad_format);
}

// A batched ATTENTION names tokens caches per cache operand: the whole range
// must lie in the buffer, and only one row per sequence must fit max_seq.
TEST_F(Validation, BatchedAttentionBoundsEveryCacheAndOneRowPerSequence) {
  // 3 sequences of 1 kv head of 2 dims, max_seq 2: 12 floats per cache operand.
  struct Att {
    std::uint32_t flags, pos, cache_at;  // cache_at: the caches' first float of a
  };
  const auto attention = [&](Att t) {
    return submit_after_fill([&](CmdbufBuilder& cb) {
      hix_vgpu_op_attention r{};
      r.h.flags = t.flags;
      r.out = r.q = r.k = r.v = tref(b, HIX_VGPU_DT_F32);
      r.k_cache = r.v_cache = tref(a, HIX_VGPU_DT_F32, std::uint64_t{t.cache_at} * 4);
      r.tokens = 3;
      r.q_heads = r.kv_heads = 1;
      r.head_dim = 2;
      r.max_seq = 2;
      r.pos = t.pos;
      r.pos_reg = HIX_VGPU_REG_NONE;
      r.scale = 1.0f;
      cb.add(HIX_VGPU_OP_ATTENTION, r);
    });
  };
  EXPECT_EQ(attention({HIX_VGPU_BATCH, 1, 0}), Status::ok) << "p + 1 <= max_seq";
  EXPECT_EQ(attention({0, 0, 0}), Status::index_out_of_range) << "3 tokens past a 2-row cache";
  EXPECT_EQ(attention({HIX_VGPU_BATCH, 2, 0}), Status::index_out_of_range) << "p + 1 > max_seq";
  EXPECT_EQ(attention({HIX_VGPU_BATCH, 0, 5}), Status::out_of_bounds) << "12 floats from a[5]";
  EXPECT_EQ(attention({0, 0, 5}), Status::index_out_of_range)
      << "without the flag the same caches are one 2-row cache, inside the buffer";
  // B caches of max_seq x head_dim elements overflow 64 bits: a shape error
  // with the flag; without it each operand is merely larger than its buffer.
  const auto huge = [&](std::uint32_t flags) {
    return submit_after_fill([&](CmdbufBuilder& cb) {
      hix_vgpu_op_attention r{};
      r.h.flags = flags;
      r.out = r.q = r.k = r.v = r.k_cache = r.v_cache = tref(a, HIX_VGPU_DT_F32);
      r.tokens = 0x10000;
      r.max_seq = 0xFFFFFFFFu;
      r.q_heads = r.kv_heads = 1;
      r.head_dim = 0x20000;
      r.pos_reg = HIX_VGPU_REG_NONE;
      r.scale = 1.0f;
      cb.add(HIX_VGPU_OP_ATTENTION, r);
    });
  };
  EXPECT_EQ(huge(HIX_VGPU_BATCH), Status::bad_shape);
  EXPECT_EQ(huge(0), Status::out_of_bounds);
}

}  // namespace
}  // namespace hix::vgpu::test
