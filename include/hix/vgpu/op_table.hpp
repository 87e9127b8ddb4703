// The tensor ISA's op descriptors (docs/specs/hix-gpu.md §6.4): one constexpr
// row per opcode of include/hix/abi/vgpu_cmd.h with what every reader of a
// command buffer needs to know about it — record size and layout, allowed
// flag bits, reserved fields, operands (kind, field, accepted dtypes, element
// count), the shape rule, the DMA kind and the loop traits. The device
// server's parser and executor and the GPU enclave's validator all read this
// table; none of them keeps its own list of opcodes.
//
// Freestanding: the enclave includes it (no exceptions, RTTI, heap or
// strings; names are C string literals).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "hix/abi/vgpu_cmd.h"

namespace hix::vgpu {

// A set of storage types, one bit per enum hix_vgpu_dtype code.
using DTypeSet = std::uint8_t;
constexpr DTypeSet dtype_bit(std::uint8_t dtype) {
  return dtype < 8 ? static_cast<DTypeSet>(1u << dtype) : DTypeSet{0};
}
inline constexpr DTypeSet kF32 = dtype_bit(HIX_VGPU_DT_F32);
inline constexpr DTypeSet kBF16 = dtype_bit(HIX_VGPU_DT_BF16);
inline constexpr DTypeSet kI32 = dtype_bit(HIX_VGPU_DT_I32);
inline constexpr DTypeSet kFloat = kF32 | kBF16;  // "float" in the spec
inline constexpr DTypeSet kAnyDType = kFloat | kI32;

// A field of an op record: byte offset and width (width 0: no field).
struct Field {
  std::uint8_t offset = 0;
  std::uint8_t size = 0;
};

enum class OperandKind : std::uint8_t {
  tensor_in,     // a tensor reference the op reads
  tensor_out,    // ... writes
  tensor_inout,  // ... reads and writes (ATTENTION's caches)
  scalar,        // an integer the op takes as it is
  positive_f32,  // a float parameter that must be finite and > 0 (INVALID_ARG)
  reg,           // a scalar register: u32 0..7, or u8 0..7 / HIX_VGPU_REG_NONE
};

// How a tensor operand's element count follows from the record.
enum class CountRule : std::uint8_t {
  none,     // not a tensor
  product,  // the product of `dims` (no dims: one element)
  bytes,    // dims[0] is a byte count: a non-zero multiple of the element size
};

struct Operand {
  const char* name = nullptr;  // as in the spec's operand column
  OperandKind kind = OperandKind::scalar;
  Field field;
  DTypeSet dtypes = 0;    // tensors: the accepted storage types
  bool optional = false;  // tensors: may be absent (handle 0, all fields 0)
  CountRule count = CountRule::none;
  std::array<Field, 3> dims{};  // u32 or u64 fields of the record
  // With the op's HIX_VGPU_BATCH flag, the count is also multiplied by this
  // u32 field (ATTENTION's caches: one per sequence, spec §6.4.1).
  Field batched_by{};

  constexpr bool is_tensor() const {
    return kind == OperandKind::tensor_in || kind == OperandKind::tensor_out ||
           kind == OperandKind::tensor_inout;
  }
};

// The record layout in vgpu_cmd.h; the executor runs an op by the handler of
// its layout (ops that share a layout share a handler).
enum class Record : std::uint8_t {
  nop,
  fill,
  copy,
  dma,
  dma_crypt,
  dma_peer,
  embedding,
  matmul,
  binary,
  layernorm,
  rmsnorm,
  unary,
  rows,
  rope,
  rope_llama3,
  attention,
  sample,
  reg,
  loop,
  break_if_eq,
};
inline constexpr std::size_t kRecordLayouts = static_cast<std::size_t>(Record::break_if_eq) + 1;

// How an op moves data across the device boundary; the mode decides which
// kinds are allowed (hix-gpu §8, hix-session §7).
enum class Dma : std::uint8_t {
  none,
  in_plain,
  out_plain,
  in_decrypt,
  out_encrypt,
  in_peer_plain,    // DMA_IN_PEER: a peer disk's bytes (hix-gpu §7.4)
  in_peer_decrypt,  // DMA_IN_DECRYPT_PEER
};

// A shape check across fields, beyond every dimension being at least 1
// (BAD_SHAPE when it fails).
enum class ShapeRule : std::uint8_t {
  none,
  broadcast,      // ADD/MUL: n, nb >= 1 and n mod nb = 0
  rotary,         // ROPE, ROPE_LLAMA3: rot_dim even, 2..head_dim
  grouped_heads,  // ATTENTION: kv_heads >= 1 and q_heads mod kv_heads = 0
  sealed_bytes,   // sealed DMA: bytes at most HIX_VGPU_TENSOR_MAX_BYTES
};

// Traits of an op (bits of OpDesc::traits).
inline constexpr std::uint8_t kOpensLoop = 1u << 0;     // LOOP: the next body_ops ops are its body
inline constexpr std::uint8_t kLoopBodyOnly = 1u << 1;  // BREAK_IF_EQ: only inside a body
inline constexpr std::uint8_t kDTypePairs = 1u << 2;    // COPY: float to float, or i32 to i32

inline constexpr std::size_t kMaxOperands = 10;
inline constexpr std::size_t kMaxReserved = 2;

struct OpDesc {
  std::uint16_t opcode;
  const char* name;  // as in the spec, without HIX_VGPU_OP_
  Record record;
  std::uint16_t size;           // the record's size, fixed per opcode
  std::uint32_t allowed_flags;  // op-header flag bits this op defines
  std::array<Operand, kMaxOperands> operands;
  std::array<Field, kMaxReserved> reserved;  // fields that must be zero
  Dma dma;
  ShapeRule shape;
  std::uint8_t traits;

  constexpr std::size_t operand_count() const {
    std::size_t n = 0;
    while (n < operands.size() && operands[n].name != nullptr) ++n;
    return n;
  }
  // Ops that touch guest memory or the crypto engine are never recorded
  // into a replayable loop (spec §6.7).
  constexpr bool recordable() const { return dma == Dma::none; }
};

namespace op_table_detail {

// The offset and width of a record field.
#define HIX_OP_FIELD(rec, field)                                        \
  ::hix::vgpu::Field {                                                  \
    static_cast<std::uint8_t>(offsetof(rec, field)), sizeof(rec::field) \
  }

constexpr Operand tensor(const char* name, OperandKind kind, Field f, DTypeSet dtypes,
                         std::array<Field, 3> dims = {}, bool optional = false) {
  return Operand{name, kind, f, dtypes, optional, CountRule::product, dims};
}
constexpr Operand in(const char* name, Field f, DTypeSet dtypes, std::array<Field, 3> dims = {}) {
  return tensor(name, OperandKind::tensor_in, f, dtypes, dims);
}
constexpr Operand out(const char* name, Field f, DTypeSet dtypes, std::array<Field, 3> dims = {}) {
  return tensor(name, OperandKind::tensor_out, f, dtypes, dims);
}
constexpr Operand batched(Operand o, Field by) {
  o.batched_by = by;
  return o;
}
constexpr Operand dma_buffer(const char* name, OperandKind kind, Field f, Field bytes) {
  return Operand{name, kind, f, kAnyDType, false, CountRule::bytes, {bytes, Field{}, Field{}}};
}
constexpr Operand scalar(const char* name, Field f) {
  return Operand{name, OperandKind::scalar, f, 0, false, CountRule::none, {}};
}
constexpr Operand positive(const char* name, Field f) {
  return Operand{name, OperandKind::positive_f32, f, 0, false, CountRule::none, {}};
}
constexpr Operand reg(const char* name, Field f) {
  return Operand{name, OperandKind::reg, f, 0, false, CountRule::none, {}};
}

template <class Rec>
constexpr OpDesc row(std::uint16_t opcode, const char* name, Record record,
                     std::array<Operand, kMaxOperands> operands,
                     std::array<Field, kMaxReserved> reserved = {}, Dma dma = Dma::none,
                     ShapeRule shape = ShapeRule::none, std::uint8_t traits = 0,
                     std::uint32_t allowed_flags = 0) {
  return OpDesc{opcode,        name,     record,   static_cast<std::uint16_t>(sizeof(Rec)),
                allowed_flags, operands, reserved, dma,
                shape,         traits};
}

#define HIX_OPF HIX_OP_FIELD  // both undefined below
using fill_t = hix_vgpu_op_fill;
using copy_t = hix_vgpu_op_copy;
using dma_t = hix_vgpu_op_dma;
using crypt_t = hix_vgpu_op_dma_crypt;
using peer_t = hix_vgpu_op_dma_peer;
using emb_t = hix_vgpu_op_embedding;
using mm_t = hix_vgpu_op_matmul;
using bin_t = hix_vgpu_op_binary;
using ln_t = hix_vgpu_op_layernorm;
using rms_t = hix_vgpu_op_rmsnorm;
using un_t = hix_vgpu_op_unary;
using rows_t = hix_vgpu_op_rows;
using rope_t = hix_vgpu_op_rope;
using rope3_t = hix_vgpu_op_rope_llama3;
using att_t = hix_vgpu_op_attention;
using smp_t = hix_vgpu_op_sample;
using reg_t = hix_vgpu_op_reg;
using loop_t = hix_vgpu_op_loop;
using brk_t = hix_vgpu_op_break_if_eq;
constexpr OperandKind kIn = OperandKind::tensor_in;
constexpr OperandKind kOut = OperandKind::tensor_out;
constexpr OperandKind kInOut = OperandKind::tensor_inout;

// Shapes shared by several operands.
constexpr std::array<Field, 3> kAttQ{HIX_OPF(att_t, tokens), HIX_OPF(att_t, q_heads),
                                     HIX_OPF(att_t, head_dim)};
constexpr std::array<Field, 3> kAttKv{HIX_OPF(att_t, tokens), HIX_OPF(att_t, kv_heads),
                                      HIX_OPF(att_t, head_dim)};
constexpr std::array<Field, 3> kAttCache{HIX_OPF(att_t, max_seq), HIX_OPF(att_t, kv_heads),
                                         HIX_OPF(att_t, head_dim)};
constexpr std::array<Field, 3> kRope{HIX_OPF(rope_t, tokens), HIX_OPF(rope_t, heads),
                                     HIX_OPF(rope_t, head_dim)};
constexpr std::array<Field, 3> kRope3{HIX_OPF(rope3_t, tokens), HIX_OPF(rope3_t, heads),
                                      HIX_OPF(rope3_t, head_dim)};

constexpr OpDesc fill_row() {
  return row<fill_t>(
      HIX_VGPU_OP_FILL, "FILL", Record::fill,
      {out("dst", HIX_OPF(fill_t, dst), kAnyDType, {HIX_OPF(fill_t, count)}),
       scalar("count", HIX_OPF(fill_t, count)), scalar("value", HIX_OPF(fill_t, value))},
      {HIX_OPF(fill_t, reserved)});
}
constexpr OpDesc copy_row() {
  return row<copy_t>(HIX_VGPU_OP_COPY, "COPY", Record::copy,
                     {out("dst", HIX_OPF(copy_t, dst), kAnyDType, {HIX_OPF(copy_t, count)}),
                      in("src", HIX_OPF(copy_t, src), kAnyDType, {HIX_OPF(copy_t, count)}),
                      scalar("count", HIX_OPF(copy_t, count))},
                     {}, Dma::none, ShapeRule::none, kDTypePairs);
}
constexpr OpDesc dma_row(std::uint16_t opcode, const char* name, bool inbound) {
  return row<dma_t>(opcode, name, Record::dma,
                    {dma_buffer(inbound ? "dst" : "src", inbound ? kOut : kIn, HIX_OPF(dma_t, buf),
                                HIX_OPF(dma_t, bytes)),
                     scalar("gpa", HIX_OPF(dma_t, gpa)), scalar("bytes", HIX_OPF(dma_t, bytes))},
                    {}, inbound ? Dma::in_plain : Dma::out_plain);
}
constexpr OpDesc crypt_row(std::uint16_t opcode, const char* name, bool inbound) {
  return row<crypt_t>(
      opcode, name, Record::dma_crypt,
      {dma_buffer(inbound ? "dst" : "src", inbound ? kOut : kIn, HIX_OPF(crypt_t, buf),
                  HIX_OPF(crypt_t, bytes)),
       scalar("gpa", HIX_OPF(crypt_t, gpa)), scalar("bytes", HIX_OPF(crypt_t, bytes)),
       scalar("tensor_id", HIX_OPF(crypt_t, tensor_id)),
       scalar("key_slot", HIX_OPF(crypt_t, key_slot))},
      {HIX_OPF(crypt_t, reserved)}, inbound ? Dma::in_decrypt : Dma::out_encrypt,
      ShapeRule::sealed_bytes);
}
constexpr OpDesc peer_row(std::uint16_t opcode, const char* name, bool sealed) {
  if (!sealed) {
    return row<peer_t>(
        opcode, name, Record::dma_peer,
        {dma_buffer("dst", kOut, HIX_OPF(peer_t, buf), HIX_OPF(peer_t, bytes)),
         scalar("disk", HIX_OPF(peer_t, disk)), scalar("offset", HIX_OPF(peer_t, offset)),
         scalar("bytes", HIX_OPF(peer_t, bytes))},
        {HIX_OPF(peer_t, tensor_id), HIX_OPF(peer_t, key_slot)}, Dma::in_peer_plain);
  }
  return row<peer_t>(
      opcode, name, Record::dma_peer,
      {dma_buffer("dst", kOut, HIX_OPF(peer_t, buf), HIX_OPF(peer_t, bytes)),
       scalar("disk", HIX_OPF(peer_t, disk)), scalar("offset", HIX_OPF(peer_t, offset)),
       scalar("bytes", HIX_OPF(peer_t, bytes)), scalar("tensor_id", HIX_OPF(peer_t, tensor_id)),
       scalar("key_slot", HIX_OPF(peer_t, key_slot))},
      {}, Dma::in_peer_decrypt, ShapeRule::sealed_bytes);
}
constexpr OpDesc embedding_row() {
  return row<emb_t>(
      HIX_VGPU_OP_EMBEDDING, "EMBEDDING", Record::embedding,
      {out("out", HIX_OPF(emb_t, out), kFloat, {HIX_OPF(emb_t, rows), HIX_OPF(emb_t, dim)}),
       in("table", HIX_OPF(emb_t, table), kFloat, {HIX_OPF(emb_t, vocab), HIX_OPF(emb_t, dim)}),
       in("ids", HIX_OPF(emb_t, ids), kI32, {HIX_OPF(emb_t, rows)})},
      {HIX_OPF(emb_t, reserved)});
}
constexpr OpDesc matmul_row() {
  return row<mm_t>(
      HIX_VGPU_OP_MATMUL, "MATMUL", Record::matmul,
      {out("out", HIX_OPF(mm_t, out), kFloat, {HIX_OPF(mm_t, m), HIX_OPF(mm_t, n)}),
       in("a", HIX_OPF(mm_t, a), kFloat, {HIX_OPF(mm_t, m), HIX_OPF(mm_t, k)}),
       in("b", HIX_OPF(mm_t, b), kFloat, {HIX_OPF(mm_t, k), HIX_OPF(mm_t, n)}),
       tensor("bias", kIn, HIX_OPF(mm_t, bias), kFloat, {HIX_OPF(mm_t, n)}, /*optional=*/true)},
      {HIX_OPF(mm_t, reserved)}, Dma::none, ShapeRule::none, 0,
      HIX_VGPU_MATMUL_TRANS_B | HIX_VGPU_MATMUL_ACCUMULATE);
}
constexpr OpDesc binary_row(std::uint16_t opcode, const char* name) {
  return row<bin_t>(opcode, name, Record::binary,
                    {out("out", HIX_OPF(bin_t, out), kFloat, {HIX_OPF(bin_t, n)}),
                     in("a", HIX_OPF(bin_t, a), kFloat, {HIX_OPF(bin_t, n)}),
                     in("b", HIX_OPF(bin_t, b), kFloat, {HIX_OPF(bin_t, nb)})},
                    {}, Dma::none, ShapeRule::broadcast);
}
constexpr OpDesc layernorm_row() {
  return row<ln_t>(
      HIX_VGPU_OP_LAYERNORM, "LAYERNORM", Record::layernorm,
      {out("out", HIX_OPF(ln_t, out), kFloat, {HIX_OPF(ln_t, rows), HIX_OPF(ln_t, cols)}),
       in("x", HIX_OPF(ln_t, x), kFloat, {HIX_OPF(ln_t, rows), HIX_OPF(ln_t, cols)}),
       in("gamma", HIX_OPF(ln_t, gamma), kFloat, {HIX_OPF(ln_t, cols)}),
       in("beta", HIX_OPF(ln_t, beta), kFloat, {HIX_OPF(ln_t, cols)}),
       positive("eps", HIX_OPF(ln_t, eps))},
      {HIX_OPF(ln_t, reserved)});
}
constexpr OpDesc rmsnorm_row() {
  return row<rms_t>(
      HIX_VGPU_OP_RMSNORM, "RMSNORM", Record::rmsnorm,
      {out("out", HIX_OPF(rms_t, out), kFloat, {HIX_OPF(rms_t, rows), HIX_OPF(rms_t, cols)}),
       in("x", HIX_OPF(rms_t, x), kFloat, {HIX_OPF(rms_t, rows), HIX_OPF(rms_t, cols)}),
       in("gamma", HIX_OPF(rms_t, gamma), kFloat, {HIX_OPF(rms_t, cols)}),
       positive("eps", HIX_OPF(rms_t, eps))},
      {HIX_OPF(rms_t, reserved)});
}
constexpr OpDesc unary_row(std::uint16_t opcode, const char* name) {
  return row<un_t>(opcode, name, Record::unary,
                   {out("out", HIX_OPF(un_t, out), kFloat, {HIX_OPF(un_t, count)}),
                    in("x", HIX_OPF(un_t, x), kFloat, {HIX_OPF(un_t, count)}),
                    scalar("count", HIX_OPF(un_t, count))});
}
constexpr OpDesc rows_row(std::uint16_t opcode, const char* name, bool argmax) {
  const Operand o = argmax ? out("out", HIX_OPF(rows_t, out), kI32, {HIX_OPF(rows_t, rows)})
                           : out("out", HIX_OPF(rows_t, out), kFloat,
                                 {HIX_OPF(rows_t, rows), HIX_OPF(rows_t, cols)});
  return row<rows_t>(
      opcode, name, Record::rows,
      {o, in("x", HIX_OPF(rows_t, x), kFloat, {HIX_OPF(rows_t, rows), HIX_OPF(rows_t, cols)})});
}
constexpr OpDesc rope_row() {
  return row<rope_t>(
      HIX_VGPU_OP_ROPE, "ROPE", Record::rope,
      {out("out", HIX_OPF(rope_t, out), kFloat, kRope), in("x", HIX_OPF(rope_t, x), kFloat, kRope),
       scalar("rot_dim", HIX_OPF(rope_t, rot_dim)), scalar("pos", HIX_OPF(rope_t, pos)),
       reg("pos_reg", HIX_OPF(rope_t, pos_reg)), positive("theta", HIX_OPF(rope_t, theta))},
      {HIX_OPF(rope_t, reserved), HIX_OPF(rope_t, reserved2)}, Dma::none, ShapeRule::rotary, 0,
      HIX_VGPU_BATCH);
}
constexpr OpDesc rope_llama3_row() {
  return row<rope3_t>(
      HIX_VGPU_OP_ROPE_LLAMA3, "ROPE_LLAMA3", Record::rope_llama3,
      {out("out", HIX_OPF(rope3_t, out), kFloat, kRope3),
       in("x", HIX_OPF(rope3_t, x), kFloat, kRope3), scalar("rot_dim", HIX_OPF(rope3_t, rot_dim)),
       scalar("pos", HIX_OPF(rope3_t, pos)), reg("pos_reg", HIX_OPF(rope3_t, pos_reg)),
       positive("theta", HIX_OPF(rope3_t, theta)), positive("factor", HIX_OPF(rope3_t, factor)),
       positive("low_freq_factor", HIX_OPF(rope3_t, low_freq_factor)),
       positive("high_freq_factor", HIX_OPF(rope3_t, high_freq_factor)),
       scalar("original_max_pos", HIX_OPF(rope3_t, original_max_pos))},
      {HIX_OPF(rope3_t, reserved), HIX_OPF(rope3_t, reserved2)}, Dma::none, ShapeRule::rotary, 0,
      HIX_VGPU_BATCH);
}
constexpr OpDesc attention_row() {
  return row<att_t>(
      HIX_VGPU_OP_ATTENTION, "ATTENTION", Record::attention,
      {out("out", HIX_OPF(att_t, out), kFloat, kAttQ), in("q", HIX_OPF(att_t, q), kFloat, kAttQ),
       in("k", HIX_OPF(att_t, k), kFloat, kAttKv), in("v", HIX_OPF(att_t, v), kFloat, kAttKv),
       batched(tensor("k_cache", kInOut, HIX_OPF(att_t, k_cache), kFloat, kAttCache),
               HIX_OPF(att_t, tokens)),
       batched(tensor("v_cache", kInOut, HIX_OPF(att_t, v_cache), kFloat, kAttCache),
               HIX_OPF(att_t, tokens)),
       scalar("pos", HIX_OPF(att_t, pos)), reg("pos_reg", HIX_OPF(att_t, pos_reg)),
       positive("scale", HIX_OPF(att_t, scale))},
      {HIX_OPF(att_t, reserved)}, Dma::none, ShapeRule::grouped_heads, 0, HIX_VGPU_BATCH);
}
constexpr OpDesc sample_row() {
  return row<smp_t>(
      HIX_VGPU_OP_SAMPLE, "SAMPLE", Record::sample,
      {out("out", HIX_OPF(smp_t, out), kI32, {HIX_OPF(smp_t, rows)}),
       in("x", HIX_OPF(smp_t, x), kFloat, {HIX_OPF(smp_t, rows), HIX_OPF(smp_t, cols)}),
       positive("temperature", HIX_OPF(smp_t, temperature)), scalar("top_k", HIX_OPF(smp_t, top_k)),
       scalar("seed", HIX_OPF(smp_t, seed))});
}
constexpr OpDesc reg_row(std::uint16_t opcode, const char* name) {
  return row<reg_t>(opcode, name, Record::reg,
                    {reg("reg", HIX_OPF(reg_t, reg)), scalar("value", HIX_OPF(reg_t, value))});
}
constexpr OpDesc loop_row() {
  return row<loop_t>(
      HIX_VGPU_OP_LOOP, "LOOP", Record::loop,
      {scalar("count", HIX_OPF(loop_t, count)), scalar("body_ops", HIX_OPF(loop_t, body_ops))}, {},
      Dma::none, ShapeRule::none, kOpensLoop);
}
constexpr OpDesc break_row() {
  return row<brk_t>(HIX_VGPU_OP_BREAK_IF_EQ, "BREAK_IF_EQ", Record::break_if_eq,
                    {in("x", HIX_OPF(brk_t, x), kI32), scalar("value", HIX_OPF(brk_t, value))},
                    {HIX_OPF(brk_t, reserved)}, Dma::none, ShapeRule::none, kLoopBodyOnly);
}

#undef HIX_OPF

#undef HIX_OP_FIELD

}  // namespace op_table_detail

// The table, in ascending opcode order.
inline constexpr std::array kOpTable{
    op_table_detail::row<hix_vgpu_op_nop>(HIX_VGPU_OP_NOP, "NOP", Record::nop, {}),
    op_table_detail::fill_row(),
    op_table_detail::copy_row(),
    op_table_detail::dma_row(HIX_VGPU_OP_DMA_IN, "DMA_IN", true),
    op_table_detail::dma_row(HIX_VGPU_OP_DMA_OUT, "DMA_OUT", false),
    op_table_detail::crypt_row(HIX_VGPU_OP_DMA_IN_DECRYPT, "DMA_IN_DECRYPT", true),
    op_table_detail::crypt_row(HIX_VGPU_OP_DMA_OUT_ENCRYPT, "DMA_OUT_ENCRYPT", false),
    op_table_detail::peer_row(HIX_VGPU_OP_DMA_IN_PEER, "DMA_IN_PEER", false),
    op_table_detail::peer_row(HIX_VGPU_OP_DMA_IN_DECRYPT_PEER, "DMA_IN_DECRYPT_PEER", true),
    op_table_detail::embedding_row(),
    op_table_detail::matmul_row(),
    op_table_detail::binary_row(HIX_VGPU_OP_ADD, "ADD"),
    op_table_detail::binary_row(HIX_VGPU_OP_MUL, "MUL"),
    op_table_detail::layernorm_row(),
    op_table_detail::rmsnorm_row(),
    op_table_detail::unary_row(HIX_VGPU_OP_GELU, "GELU"),
    op_table_detail::unary_row(HIX_VGPU_OP_SILU, "SILU"),
    op_table_detail::rows_row(HIX_VGPU_OP_SOFTMAX, "SOFTMAX", false),
    op_table_detail::rope_row(),
    op_table_detail::attention_row(),
    op_table_detail::rows_row(HIX_VGPU_OP_ARGMAX, "ARGMAX", true),
    op_table_detail::sample_row(),
    op_table_detail::rope_llama3_row(),
    op_table_detail::reg_row(HIX_VGPU_OP_SET_REG, "SET_REG"),
    op_table_detail::reg_row(HIX_VGPU_OP_ADD_REG, "ADD_REG"),
    op_table_detail::loop_row(),
    op_table_detail::break_row(),
};

// The highest opcode of the ISA; opcodes above it are unknown.
inline constexpr std::uint16_t kMaxOpcode = kOpTable.back().opcode;

namespace op_table_detail {

inline constexpr std::uint8_t kNoRow = 0xFF;

constexpr std::array<std::uint8_t, kMaxOpcode + 1> make_index() {
  std::array<std::uint8_t, kMaxOpcode + 1> index{};
  for (auto& i : index) i = kNoRow;
  for (std::size_t r = 0; r < kOpTable.size(); ++r) {
    index[kOpTable[r].opcode] = static_cast<std::uint8_t>(r);
  }
  return index;
}
inline constexpr auto kIndex = make_index();

// Every enumerator of enum hix_vgpu_opcode: -Wswitch (warnings are errors)
// refuses to compile this once vgpu_cmd.h gains an opcode it does not name,
// and the static_assert below then demands a row for it.
constexpr bool abi_opcode(hix_vgpu_opcode op) {
  switch (op) {
    case HIX_VGPU_OP_NOP:
    case HIX_VGPU_OP_FILL:
    case HIX_VGPU_OP_COPY:
    case HIX_VGPU_OP_DMA_IN:
    case HIX_VGPU_OP_DMA_OUT:
    case HIX_VGPU_OP_DMA_IN_DECRYPT:
    case HIX_VGPU_OP_DMA_OUT_ENCRYPT:
    case HIX_VGPU_OP_DMA_IN_PEER:
    case HIX_VGPU_OP_DMA_IN_DECRYPT_PEER:
    case HIX_VGPU_OP_EMBEDDING:
    case HIX_VGPU_OP_MATMUL:
    case HIX_VGPU_OP_ADD:
    case HIX_VGPU_OP_MUL:
    case HIX_VGPU_OP_LAYERNORM:
    case HIX_VGPU_OP_RMSNORM:
    case HIX_VGPU_OP_GELU:
    case HIX_VGPU_OP_SILU:
    case HIX_VGPU_OP_SOFTMAX:
    case HIX_VGPU_OP_ROPE:
    case HIX_VGPU_OP_ATTENTION:
    case HIX_VGPU_OP_ARGMAX:
    case HIX_VGPU_OP_SAMPLE:
    case HIX_VGPU_OP_ROPE_LLAMA3:
    case HIX_VGPU_OP_SET_REG:
    case HIX_VGPU_OP_ADD_REG:
    case HIX_VGPU_OP_LOOP:
    case HIX_VGPU_OP_BREAK_IF_EQ:
      return true;
  }
  return false;
}

// One row per ABI opcode, ascending; opcodes without an enumerator have none.
constexpr bool rows_match_abi() {
  for (std::size_t r = 1; r < kOpTable.size(); ++r) {
    if (kOpTable[r].opcode <= kOpTable[r - 1].opcode) return false;
  }
  for (std::uint16_t op = 0; op <= kMaxOpcode; ++op) {
    // In range of the enum: every value up to its highest enumerator is.
    if (abi_opcode(static_cast<hix_vgpu_opcode>(op)) != (kIndex[op] != kNoRow)) return false;
  }
  return true;
}

constexpr bool field_in(Field f, std::uint16_t size) {
  return f.offset >= sizeof(hix_vgpu_op_header) && f.offset + f.size <= size;
}

// Every row against the ABI's record layouts: records a multiple of 8 bytes,
// every field inside its record, tensors 24-byte references with a count
// rule and accepted dtypes, dimensions u32 or u64, registers u8 or u32.
constexpr bool rows_consistent() {
  for (const OpDesc& d : kOpTable) {
    if (d.size % 8 != 0 || d.size < sizeof(hix_vgpu_op_header)) return false;
    for (const Field& z : d.reserved) {
      if (z.size != 0 && !field_in(z, d.size)) return false;
    }
    for (std::size_t i = 0; i < d.operand_count(); ++i) {
      const Operand& o = d.operands[i];
      if (!field_in(o.field, d.size)) return false;
      if (o.is_tensor()) {
        if (o.field.size != sizeof(hix_vgpu_tref) || o.count == CountRule::none) return false;
        if (o.dtypes == 0 || (o.dtypes & ~kAnyDType) != 0) return false;
        for (const Field& dim : o.dims) {
          if (dim.size != 0 && ((dim.size != 4 && dim.size != 8) || !field_in(dim, d.size))) {
            return false;
          }
        }
        if (o.count == CountRule::bytes && o.dims[0].size != 8) return false;
        if (o.batched_by.size != 0 &&
            (o.batched_by.size != 4 || !field_in(o.batched_by, d.size) ||
             (d.allowed_flags & HIX_VGPU_BATCH) == 0 || o.count != CountRule::product)) {
          return false;
        }
      } else {
        if (o.count != CountRule::none || o.optional || o.batched_by.size != 0) return false;
        if (o.kind == OperandKind::reg && o.field.size != 1 && o.field.size != 4) return false;
        if (o.kind == OperandKind::positive_f32 && o.field.size != sizeof(float)) return false;
      }
    }
    for (std::size_t i = d.operand_count(); i < d.operands.size(); ++i) {
      if (d.operands[i].name != nullptr) return false;  // operands are contiguous
    }
  }
  return true;
}

}  // namespace op_table_detail

static_assert(op_table_detail::rows_match_abi(),
              "kOpTable needs exactly one row per hix_vgpu_opcode, in ascending order");
static_assert(op_table_detail::rows_consistent(), "kOpTable disagrees with vgpu_cmd.h");
static_assert(kOpTable.size() == 27, "every tensor-ISA op of spec hix-gpu §6.4 has a row");

// The row of an opcode; nullptr for an unknown opcode.
constexpr const OpDesc* find_op(std::uint16_t opcode) {
  if (opcode > kMaxOpcode) return nullptr;
  const std::uint8_t r = op_table_detail::kIndex[opcode];
  return r == op_table_detail::kNoRow ? nullptr : &kOpTable[r];
}

// Whether a tensor operand accepts a dtype code.
constexpr bool accepts(const Operand& o, std::uint8_t dtype) {
  return (o.dtypes & dtype_bit(dtype)) != 0;
}

}  // namespace hix::vgpu
