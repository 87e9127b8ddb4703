// The enclave's command-buffer check (docs/specs/hix-session.md §7, §8.1).
//
// Policy is a table (STYLE §3): the tensor ISA's op descriptors
// (include/hix/vgpu/op_table.hpp, the same rows the device's parser and
// executor read) give each op's record size, allowed flag bits, reserved
// fields, tensor references (and which may be absent), scalar-register
// fields and DMA kind. An opcode without a row is refused.
#include "hix/session/validator.hpp"

#include <cstddef>
#include <cstring>

#include "hix/abi/vgpu_chunk.h"
#include "hix/abi/vgpu_cmd.h"
#include "hix/vgpu/op_table.hpp"

namespace hix::session {
namespace {

using vgpu::Dma;
using vgpu::OpDesc;
using vgpu::Operand;
using vgpu::OperandKind;

static_assert(sizeof(hix_vgpu_cmdbuf_header) == 16 && sizeof(hix_vgpu_tref) == 24);
static_assert(offsetof(hix_vgpu_op_dma_crypt, key_slot) == 56);
static_assert(offsetof(hix_vgpu_op_dma_peer, key_slot) == 56);

bool dma_allowed(Dma dma, Mode mode) {
  switch (dma) {
    case Dma::none:
      return true;
    case Dma::in_plain:
    case Dma::out_plain:
    case Dma::in_peer_plain:
      return mode == Mode::plain;
    case Dma::in_decrypt:
    case Dma::out_encrypt:
    case Dma::in_peer_decrypt:
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
  const std::uint64_t es = hix_vgpu_dtype_bytes(t.dtype);
  if (es == 0) return Reason::tref;
  if (t.reserved != 0 || t.reserved2 != 0) return Reason::tref;
  const bool indexed = t.index_reg != HIX_VGPU_REG_NONE;
  if (indexed && t.index_reg >= HIX_VGPU_NUM_SCALAR_REGS) return Reason::tref;
  if (!indexed && t.index_stride != 0) return Reason::tref;
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
  if (kind == Dma::in_peer_plain) return Reason::none;  // a peer disk: the device checks it
  hix_vgpu_op_dma_crypt r{};
  if (kind == Dma::in_peer_decrypt) {
    // No window: the sealed bytes come from a peer disk (hix-gpu §7.4).
    const auto p = load<hix_vgpu_op_dma_peer>(rec, 0);
    r.bytes = p.bytes;
    r.tensor_id = p.tensor_id;
    r.key_slot = p.key_slot;
    if (sealed_bytes(r.bytes) == 0) return Reason::dma_range;
  } else {
    r = load<hix_vgpu_op_dma_crypt>(rec, 0);
    const std::uint64_t sealed = sealed_bytes(r.bytes);
    if (sealed == 0 || s.extent_holding(r.gpa, sealed) == nullptr) return Reason::dma_range;
  }
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
    const OpDesc* d = vgpu::find_op(oh.opcode);
    if (d == nullptr || !dma_allowed(d->dma, mode)) return fail(Reason::opcode, i);
    if (oh.size != d->size || cmdbuf.size() - off < d->size) return fail(Reason::record, i);
    const std::span<const std::uint8_t> rec = cmdbuf.subspan(off, d->size);
    if ((oh.flags & ~d->allowed_flags) != 0) return fail(Reason::record, i);
    for (const vgpu::Field& z : d->reserved) {
      if (z.size != 0 && !all_zero(rec.subspan(z.offset, z.size))) return fail(Reason::record, i);
    }
    const std::span<const Operand> operands(d->operands.data(), d->operand_count());

    // Scalar registers.
    for (const Operand& o : operands) {
      if (o.kind != OperandKind::reg) continue;
      if (o.field.size == 4 &&
          load<std::uint32_t>(rec, o.field.offset) >= HIX_VGPU_NUM_SCALAR_REGS) {
        return fail(Reason::loop, i);
      }
      if (o.field.size == 1) {
        const std::uint8_t r = rec[o.field.offset];
        if (r != HIX_VGPU_REG_NONE && r >= HIX_VGPU_NUM_SCALAR_REGS) return fail(Reason::loop, i);
      }
    }

    // Tensor references.
    for (const Operand& o : operands) {
      if (!o.is_tensor()) continue;
      const auto ref = load<hix_vgpu_tref>(rec, o.field.offset);
      const Reason r = check_tref(ref, o.optional, s);
      if (r != Reason::none) return fail(r, i);
    }

    // Loop structure: bodies inside the buffer, no nesting, BREAK_IF_EQ only in a body.
    const bool in_body = i < body_end;
    if ((d->traits & vgpu::kOpensLoop) != 0) {
      const auto l = load<hix_vgpu_op_loop>(rec, 0);
      if (in_body || l.count == 0 || l.count > HIX_VGPU_LOOP_MAX || l.body_ops == 0 ||
          l.body_ops > hdr.op_count - i - 1) {
        return fail(Reason::loop, i);
      }
      body_end = i + 1 + l.body_ops;
    } else if ((d->traits & vgpu::kLoopBodyOnly) != 0 && !in_body) {
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
