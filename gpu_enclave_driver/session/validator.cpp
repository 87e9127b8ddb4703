// The enclave's command-buffer check (docs/specs/hix-session.md §7, §8.1).
//
// Policy is a table (STYLE §3): one descriptor per whitelisted opcode with
// its record size, allowed flag bits, reserved fields, tensor references
// (and which may be absent), scalar-register fields and DMA kind. An opcode
// not in the table is refused. The table is checked against vgpu_cmd.h's
// record layouts at compile time.
#include "hix/session/validator.hpp"

#include <array>
#include <cstddef>
#include <cstring>

#include "hix/abi/vgpu_chunk.h"
#include "hix/abi/vgpu_cmd.h"

namespace hix::session {
namespace {

enum class Dma : std::uint8_t { none, in_plain, out_plain, in_decrypt, out_encrypt };

// A field that must read as zero.
struct Zero {
  std::uint8_t offset;
  std::uint8_t size;
};

// A scalar-register field: a u32 that must be 0..7, or a u8 that may also
// be HIX_VGPU_REG_NONE.
struct RegField {
  std::uint8_t offset;
  std::uint8_t size;  // 0: none, 1 or 4
};

struct OpDesc {
  std::uint16_t opcode;
  std::uint16_t size;
  std::uint32_t flags;  // allowed flag bits
  std::uint8_t tref_count;
  std::array<std::uint8_t, 6> trefs;  // offsets of the tensor references
  std::uint8_t optional;              // bit i: trefs[i] may be absent (all zero)
  std::array<Zero, 2> zero;           // reserved fields (size 0: unused)
  RegField reg;
  Dma dma;
};

#define HIX_OFF(type, field) static_cast<std::uint8_t>(offsetof(type, field))
#define HIX_ZERO(type, field)                                            \
  Zero {                                                                 \
    HIX_OFF(type, field), static_cast<std::uint8_t>(sizeof(type::field)) \
  }

constexpr Zero kNoZero{0, 0};
constexpr RegField kNoReg{0, 0};
constexpr std::array<std::uint8_t, 6> trefs() {
  return {};
}
constexpr std::array<std::uint8_t, 6> trefs(std::uint8_t a) {
  return {a, 0, 0, 0, 0, 0};
}
constexpr std::array<std::uint8_t, 6> trefs(std::uint8_t a, std::uint8_t b) {
  return {a, b, 0, 0, 0, 0};
}
constexpr std::array<std::uint8_t, 6> trefs(std::uint8_t a, std::uint8_t b, std::uint8_t c) {
  return {a, b, c, 0, 0, 0};
}
constexpr std::array<std::uint8_t, 6> trefs(std::uint8_t a, std::uint8_t b, std::uint8_t c,
                                            std::uint8_t d) {
  return {a, b, c, d, 0, 0};
}
constexpr std::array<std::uint8_t, 6> trefs(std::uint8_t a, std::uint8_t b, std::uint8_t c,
                                            std::uint8_t d, std::uint8_t e, std::uint8_t f) {
  return {a, b, c, d, e, f};
}

// The whitelist: every tensor-ISA op of spec hix-gpu §6.4. The plain DMA
// ops are here too; the mode decides which DMA kinds pass (§7, §10).
constexpr std::array kOps{
    OpDesc{HIX_VGPU_OP_NOP,
           sizeof(hix_vgpu_op_nop),
           0,
           0,
           trefs(),
           0,
           {kNoZero, kNoZero},
           kNoReg,
           Dma::none},
    OpDesc{HIX_VGPU_OP_FILL,
           sizeof(hix_vgpu_op_fill),
           0,
           1,
           trefs(HIX_OFF(hix_vgpu_op_fill, dst)),
           0,
           {HIX_ZERO(hix_vgpu_op_fill, reserved), kNoZero},
           kNoReg,
           Dma::none},
    OpDesc{HIX_VGPU_OP_COPY,
           sizeof(hix_vgpu_op_copy),
           0,
           2,
           trefs(HIX_OFF(hix_vgpu_op_copy, dst), HIX_OFF(hix_vgpu_op_copy, src)),
           0,
           {kNoZero, kNoZero},
           kNoReg,
           Dma::none},
    OpDesc{HIX_VGPU_OP_DMA_IN,
           sizeof(hix_vgpu_op_dma),
           0,
           1,
           trefs(HIX_OFF(hix_vgpu_op_dma, buf)),
           0,
           {kNoZero, kNoZero},
           kNoReg,
           Dma::in_plain},
    OpDesc{HIX_VGPU_OP_DMA_OUT,
           sizeof(hix_vgpu_op_dma),
           0,
           1,
           trefs(HIX_OFF(hix_vgpu_op_dma, buf)),
           0,
           {kNoZero, kNoZero},
           kNoReg,
           Dma::out_plain},
    OpDesc{HIX_VGPU_OP_DMA_IN_DECRYPT,
           sizeof(hix_vgpu_op_dma_crypt),
           0,
           1,
           trefs(HIX_OFF(hix_vgpu_op_dma_crypt, buf)),
           0,
           {HIX_ZERO(hix_vgpu_op_dma_crypt, reserved), kNoZero},
           kNoReg,
           Dma::in_decrypt},
    OpDesc{HIX_VGPU_OP_DMA_OUT_ENCRYPT,
           sizeof(hix_vgpu_op_dma_crypt),
           0,
           1,
           trefs(HIX_OFF(hix_vgpu_op_dma_crypt, buf)),
           0,
           {HIX_ZERO(hix_vgpu_op_dma_crypt, reserved), kNoZero},
           kNoReg,
           Dma::out_encrypt},
    OpDesc{HIX_VGPU_OP_EMBEDDING,
           sizeof(hix_vgpu_op_embedding),
           0,
           3,
           trefs(HIX_OFF(hix_vgpu_op_embedding, out), HIX_OFF(hix_vgpu_op_embedding, table),
                 HIX_OFF(hix_vgpu_op_embedding, ids)),
           0,
           {HIX_ZERO(hix_vgpu_op_embedding, reserved), kNoZero},
           kNoReg,
           Dma::none},
    OpDesc{HIX_VGPU_OP_MATMUL,
           sizeof(hix_vgpu_op_matmul),
           HIX_VGPU_MATMUL_TRANS_B | HIX_VGPU_MATMUL_ACCUMULATE,
           4,
           trefs(HIX_OFF(hix_vgpu_op_matmul, out), HIX_OFF(hix_vgpu_op_matmul, a),
                 HIX_OFF(hix_vgpu_op_matmul, b), HIX_OFF(hix_vgpu_op_matmul, bias)),
           0x8,  // bias
           {HIX_ZERO(hix_vgpu_op_matmul, reserved), kNoZero},
           kNoReg,
           Dma::none},
    OpDesc{HIX_VGPU_OP_ADD,
           sizeof(hix_vgpu_op_binary),
           0,
           3,
           trefs(HIX_OFF(hix_vgpu_op_binary, out), HIX_OFF(hix_vgpu_op_binary, a),
                 HIX_OFF(hix_vgpu_op_binary, b)),
           0,
           {kNoZero, kNoZero},
           kNoReg,
           Dma::none},
    OpDesc{HIX_VGPU_OP_MUL,
           sizeof(hix_vgpu_op_binary),
           0,
           3,
           trefs(HIX_OFF(hix_vgpu_op_binary, out), HIX_OFF(hix_vgpu_op_binary, a),
                 HIX_OFF(hix_vgpu_op_binary, b)),
           0,
           {kNoZero, kNoZero},
           kNoReg,
           Dma::none},
    OpDesc{HIX_VGPU_OP_LAYERNORM,
           sizeof(hix_vgpu_op_layernorm),
           0,
           4,
           trefs(HIX_OFF(hix_vgpu_op_layernorm, out), HIX_OFF(hix_vgpu_op_layernorm, x),
                 HIX_OFF(hix_vgpu_op_layernorm, gamma), HIX_OFF(hix_vgpu_op_layernorm, beta)),
           0,
           {HIX_ZERO(hix_vgpu_op_layernorm, reserved), kNoZero},
           kNoReg,
           Dma::none},
    OpDesc{HIX_VGPU_OP_RMSNORM,
           sizeof(hix_vgpu_op_rmsnorm),
           0,
           3,
           trefs(HIX_OFF(hix_vgpu_op_rmsnorm, out), HIX_OFF(hix_vgpu_op_rmsnorm, x),
                 HIX_OFF(hix_vgpu_op_rmsnorm, gamma)),
           0,
           {HIX_ZERO(hix_vgpu_op_rmsnorm, reserved), kNoZero},
           kNoReg,
           Dma::none},
    OpDesc{HIX_VGPU_OP_GELU,
           sizeof(hix_vgpu_op_unary),
           0,
           2,
           trefs(HIX_OFF(hix_vgpu_op_unary, out), HIX_OFF(hix_vgpu_op_unary, x)),
           0,
           {kNoZero, kNoZero},
           kNoReg,
           Dma::none},
    OpDesc{HIX_VGPU_OP_SILU,
           sizeof(hix_vgpu_op_unary),
           0,
           2,
           trefs(HIX_OFF(hix_vgpu_op_unary, out), HIX_OFF(hix_vgpu_op_unary, x)),
           0,
           {kNoZero, kNoZero},
           kNoReg,
           Dma::none},
    OpDesc{HIX_VGPU_OP_SOFTMAX,
           sizeof(hix_vgpu_op_rows),
           0,
           2,
           trefs(HIX_OFF(hix_vgpu_op_rows, out), HIX_OFF(hix_vgpu_op_rows, x)),
           0,
           {kNoZero, kNoZero},
           kNoReg,
           Dma::none},
    OpDesc{HIX_VGPU_OP_ROPE,
           sizeof(hix_vgpu_op_rope),
           0,
           2,
           trefs(HIX_OFF(hix_vgpu_op_rope, out), HIX_OFF(hix_vgpu_op_rope, x)),
           0,
           {HIX_ZERO(hix_vgpu_op_rope, reserved), HIX_ZERO(hix_vgpu_op_rope, reserved2)},
           RegField{HIX_OFF(hix_vgpu_op_rope, pos_reg), 1},
           Dma::none},
    OpDesc{HIX_VGPU_OP_ATTENTION,
           sizeof(hix_vgpu_op_attention),
           0,
           6,
           trefs(HIX_OFF(hix_vgpu_op_attention, out), HIX_OFF(hix_vgpu_op_attention, q),
                 HIX_OFF(hix_vgpu_op_attention, k), HIX_OFF(hix_vgpu_op_attention, v),
                 HIX_OFF(hix_vgpu_op_attention, k_cache), HIX_OFF(hix_vgpu_op_attention, v_cache)),
           0,
           {HIX_ZERO(hix_vgpu_op_attention, reserved), kNoZero},
           RegField{HIX_OFF(hix_vgpu_op_attention, pos_reg), 1},
           Dma::none},
    OpDesc{HIX_VGPU_OP_ARGMAX,
           sizeof(hix_vgpu_op_rows),
           0,
           2,
           trefs(HIX_OFF(hix_vgpu_op_rows, out), HIX_OFF(hix_vgpu_op_rows, x)),
           0,
           {kNoZero, kNoZero},
           kNoReg,
           Dma::none},
    OpDesc{HIX_VGPU_OP_SAMPLE,
           sizeof(hix_vgpu_op_sample),
           0,
           2,
           trefs(HIX_OFF(hix_vgpu_op_sample, out), HIX_OFF(hix_vgpu_op_sample, x)),
           0,
           {kNoZero, kNoZero},
           kNoReg,
           Dma::none},
    OpDesc{HIX_VGPU_OP_SET_REG,
           sizeof(hix_vgpu_op_reg),
           0,
           0,
           trefs(),
           0,
           {kNoZero, kNoZero},
           RegField{HIX_OFF(hix_vgpu_op_reg, reg), 4},
           Dma::none},
    OpDesc{HIX_VGPU_OP_ADD_REG,
           sizeof(hix_vgpu_op_reg),
           0,
           0,
           trefs(),
           0,
           {kNoZero, kNoZero},
           RegField{HIX_OFF(hix_vgpu_op_reg, reg), 4},
           Dma::none},
    OpDesc{HIX_VGPU_OP_LOOP,
           sizeof(hix_vgpu_op_loop),
           0,
           0,
           trefs(),
           0,
           {kNoZero, kNoZero},
           kNoReg,
           Dma::none},
    OpDesc{HIX_VGPU_OP_BREAK_IF_EQ,
           sizeof(hix_vgpu_op_break_if_eq),
           0,
           1,
           trefs(HIX_OFF(hix_vgpu_op_break_if_eq, x)),
           0,
           {HIX_ZERO(hix_vgpu_op_break_if_eq, reserved), kNoZero},
           kNoReg,
           Dma::none},
};

#undef HIX_ZERO
#undef HIX_OFF

// The table against the ABI: every record a multiple of 8 bytes that holds
// its header, tensor references, reserved and register fields; opcodes
// unique and ascending (so a missing or doubled row shows).
constexpr bool table_consistent() {
  std::uint32_t last = 0;
  bool first = true;
  for (const OpDesc& d : kOps) {
    if (!first && d.opcode <= last) return false;
    first = false;
    last = d.opcode;
    if (d.size % 8 != 0 || d.size < sizeof(hix_vgpu_op_header) || d.tref_count > 6) return false;
    for (std::uint8_t i = 0; i < d.tref_count; ++i) {
      if (d.trefs[i] < sizeof(hix_vgpu_op_header) || d.trefs[i] + sizeof(hix_vgpu_tref) > d.size) {
        return false;
      }
    }
    if (d.optional >> d.tref_count != 0) return false;
    for (const Zero& z : d.zero) {
      if (z.size != 0 && (z.offset < sizeof(hix_vgpu_op_header) || z.offset + z.size > d.size)) {
        return false;
      }
    }
    if (d.reg.size != 0 && (d.reg.size != 1 && d.reg.size != 4)) return false;
    if (d.reg.size != 0 && d.reg.offset + d.reg.size > d.size) return false;
  }
  return true;
}
static_assert(table_consistent(), "the op table disagrees with vgpu_cmd.h");
static_assert(kOps.size() == 24, "every tensor-ISA op of spec hix-gpu §6.4 has a row");
static_assert(sizeof(hix_vgpu_cmdbuf_header) == 16 && sizeof(hix_vgpu_tref) == 24);
static_assert(offsetof(hix_vgpu_op_dma_crypt, key_slot) == 56);
static_assert(sizeof(hix_vgpu_op_attention) == 184 && sizeof(hix_vgpu_op_matmul) == 120);

const OpDesc* find_op(std::uint16_t opcode) {
  for (const OpDesc& d : kOps) {
    if (d.opcode == opcode) return &d;
  }
  return nullptr;
}

bool dma_allowed(Dma dma, Mode mode) {
  switch (dma) {
    case Dma::none:
      return true;
    case Dma::in_plain:
    case Dma::out_plain:
      return mode == Mode::plain;
    case Dma::in_decrypt:
    case Dma::out_encrypt:
      return mode == Mode::protected_mode;
  }
  return false;
}

template <class T>
T load(std::span<const std::uint8_t> bytes, std::size_t offset) {
  T v{};
  std::memcpy(&v, bytes.data() + offset, sizeof v);
  return v;
}

bool all_zero(std::span<const std::uint8_t> bytes) {
  std::uint8_t any = 0;
  for (const std::uint8_t b : bytes) any = static_cast<std::uint8_t>(any | b);
  return any == 0;
}

std::uint64_t element_size(std::uint8_t dtype) {
  return hix_vgpu_dtype_bytes(dtype);
}

// One tensor reference (§7): HANDLE or TREF, or none.
Reason check_tref(const hix_vgpu_tref& t, bool optional, const Session& s) {
  if (t.handle == 0) {
    if (!optional) return Reason::handle;
    const bool absent = t.dtype == 0 && t.index_reg == 0 && t.reserved == 0 && t.offset == 0 &&
                        t.index_stride == 0 && t.reserved2 == 0;
    return absent ? Reason::none : Reason::tref;
  }
  const Buffer* b = s.find_buffer(t.handle);
  if (b == nullptr) return Reason::handle;
  if (t.dtype < HIX_VGPU_DT_F32 || t.dtype > HIX_VGPU_DT_I32) return Reason::tref;
  if (t.reserved != 0 || t.reserved2 != 0) return Reason::tref;
  const bool indexed = t.index_reg != HIX_VGPU_REG_NONE;
  if (indexed && t.index_reg >= HIX_VGPU_NUM_SCALAR_REGS) return Reason::tref;
  if (!indexed && t.index_stride != 0) return Reason::tref;
  const std::uint64_t es = element_size(t.dtype);
  if (t.offset % es != 0 || t.index_stride % es != 0) return Reason::tref;
  // The device checks the exact extent of every operand in the context; the
  // enclave knows only the buffer's size.
  if (!indexed && t.offset >= b->size) return Reason::tref;
  return Reason::none;
}

// The DMA fields of a record (§7): DMA_RANGE, KEY_SLOT or TENSOR_ID.
Reason check_dma(Dma kind, std::span<const std::uint8_t> rec, const Session& s,
                 std::uint64_t& highest_input) {
  if (kind == Dma::in_plain || kind == Dma::out_plain) {
    const auto r = load<hix_vgpu_op_dma>(rec, 0);
    return s.extent_holding(r.gpa, r.bytes) != nullptr ? Reason::none : Reason::dma_range;
  }
  const auto r = load<hix_vgpu_op_dma_crypt>(rec, 0);
  const std::uint64_t sealed = sealed_bytes(r.bytes);
  if (sealed == 0 || s.extent_holding(r.gpa, sealed) == nullptr) return Reason::dma_range;
  const bool device_id = (r.tensor_id & HIX_VGPU_TENSOR_ID_DEVICE) != 0;
  if (kind == Dma::out_encrypt) {
    // Outputs are sealed only under the session's own key.
    if (r.key_slot != HIX_SESSION_TENSOR_SLOT) return Reason::key_slot;
    return device_id ? Reason::none : Reason::tensor_id;
  }
  if (!s.slot_installed(r.key_slot)) return Reason::key_slot;
  if (device_id) return Reason::tensor_id;
  if (r.key_slot == HIX_SESSION_TENSOR_SLOT) {
    // An old sealed prompt cannot be fed again: ids under K_t only rise.
    if (r.tensor_id <= highest_input) return Reason::tensor_id;
    highest_input = r.tensor_id;
  }
  return Reason::none;
}

}  // namespace

std::uint64_t sealed_bytes(std::uint64_t bytes) {
  if (bytes == 0 || bytes > HIX_VGPU_TENSOR_MAX_BYTES) return 0;
  const std::uint64_t chunks = (bytes + HIX_VGPU_CHUNK_BYTES - 1) / HIX_VGPU_CHUNK_BYTES;
  return bytes + chunks * (HIX_VGPU_CHUNK_HEADER_BYTES + HIX_VGPU_CHUNK_TAG_BYTES);
}

Validation validate_cmdbuf(std::span<const std::uint8_t> cmdbuf, const Session& s, Mode mode) {
  Validation v;
  const auto fail = [&v](Reason r, std::uint32_t op) {
    v.reason = r;
    v.op_index = op;
    v.highest_input_id = 0;
    return v;
  };

  // Header.
  if (cmdbuf.size() < sizeof(hix_vgpu_cmdbuf_header) || cmdbuf.size() > HIX_VGPU_CMDBUF_MAX ||
      cmdbuf.size() % 8 != 0) {
    return fail(Reason::header, 0);
  }
  const auto hdr = load<hix_vgpu_cmdbuf_header>(cmdbuf, 0);
  if (hdr.magic != HIX_VGPU_CMDBUF_MAGIC || hdr.version != HIX_VGPU_CMDBUF_VERSION ||
      hdr.flags != 0 || hdr.op_count == 0 || hdr.op_count > HIX_VGPU_MAX_OPS ||
      hdr.total_len != cmdbuf.size()) {
    return fail(Reason::header, 0);
  }

  std::uint64_t highest_input = s.highest_input_id;
  std::size_t off = sizeof(hix_vgpu_cmdbuf_header);
  std::uint32_t body_end = 0;  // ops with an index below this are inside the current loop body
  for (std::uint32_t i = 0; i < hdr.op_count; ++i) {
    // The record: a whitelisted opcode, its size, inside the buffer.
    if (cmdbuf.size() - off < sizeof(hix_vgpu_op_header)) return fail(Reason::record, i);
    const auto oh = load<hix_vgpu_op_header>(cmdbuf, off);
    const OpDesc* d = find_op(oh.opcode);
    if (d == nullptr || !dma_allowed(d->dma, mode)) return fail(Reason::opcode, i);
    if (oh.size != d->size || cmdbuf.size() - off < d->size) return fail(Reason::record, i);
    const std::span<const std::uint8_t> rec = cmdbuf.subspan(off, d->size);
    if ((oh.flags & ~d->flags) != 0) return fail(Reason::record, i);
    for (const Zero& z : d->zero) {
      if (z.size != 0 && !all_zero(rec.subspan(z.offset, z.size))) return fail(Reason::record, i);
    }

    // Scalar registers.
    if (d->reg.size == 4 && load<std::uint32_t>(rec, d->reg.offset) >= HIX_VGPU_NUM_SCALAR_REGS) {
      return fail(Reason::loop, i);
    }
    if (d->reg.size == 1) {
      const std::uint8_t r = rec[d->reg.offset];
      if (r != HIX_VGPU_REG_NONE && r >= HIX_VGPU_NUM_SCALAR_REGS) return fail(Reason::loop, i);
    }

    // Tensor references.
    for (std::uint8_t t = 0; t < d->tref_count; ++t) {
      const auto ref = load<hix_vgpu_tref>(rec, d->trefs[t]);
      const Reason r = check_tref(ref, ((d->optional >> t) & 1u) != 0, s);
      if (r != Reason::none) return fail(r, i);
    }

    // Loop structure: bodies inside the buffer, no nesting, BREAK_IF_EQ only in a body.
    const bool in_body = i < body_end;
    if (oh.opcode == HIX_VGPU_OP_LOOP) {
      const auto l = load<hix_vgpu_op_loop>(rec, 0);
      if (in_body || l.count == 0 || l.count > HIX_VGPU_LOOP_MAX || l.body_ops == 0 ||
          l.body_ops > hdr.op_count - i - 1) {
        return fail(Reason::loop, i);
      }
      body_end = i + 1 + l.body_ops;
    } else if (oh.opcode == HIX_VGPU_OP_BREAK_IF_EQ && !in_body) {
      return fail(Reason::loop, i);
    }

    // DMA: the window, key slots, tensor ids.
    if (d->dma != Dma::none) {
      const Reason r = check_dma(d->dma, rec, s, highest_input);
      if (r != Reason::none) return fail(r, i);
    }
    off += d->size;
  }
  // Bytes after the last record: op_count and total_len disagree.
  if (off != cmdbuf.size()) return fail(Reason::header, 0);
  v.highest_input_id = highest_input > s.highest_input_id ? highest_input : 0;
  return v;
}

}  // namespace hix::session
