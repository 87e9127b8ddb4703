// Command-buffer parser (spec §6).
#include "cmdbuf.hpp"

#include <cmath>

namespace hix::vgpu {
namespace {

bool valid_dtype_code(std::uint8_t d) {
  return hix_vgpu_dtype_bytes(d) != 0;
}

std::uint64_t elem_size(std::uint8_t d) {
  return hix_vgpu_dtype_bytes(d);
}

bool valid_reg(std::uint32_t r) {
  return r < HIX_VGPU_NUM_SCALAR_REGS;
}
bool valid_reg_or_none(std::uint8_t r) {
  return r == HIX_VGPU_REG_NONE || valid_reg(r);
}

// Encoding of one tensor reference; `optional` allows the all-zero "absent".
Status check_tref(const hix_vgpu_tref& t, bool optional = false) {
  if (t.handle == 0) {
    const bool all_zero = t.dtype == 0 && t.index_reg == 0 && t.reserved == 0 && t.offset == 0 &&
                          t.index_stride == 0 && t.reserved2 == 0;
    return optional && all_zero ? Status::ok : Status::bad_format;
  }
  if (!valid_dtype_code(t.dtype)) return Status::bad_dtype;
  if (t.reserved != 0 || t.reserved2 != 0 || !valid_reg_or_none(t.index_reg)) {
    return Status::bad_format;
  }
  if (t.index_reg == HIX_VGPU_REG_NONE && t.index_stride != 0) return Status::bad_format;
  const std::uint64_t es = elem_size(t.dtype);
  if (t.offset % es != 0 || t.index_stride % es != 0) return Status::bad_format;
  return Status::ok;
}

Status check_trefs(std::initializer_list<const hix_vgpu_tref*> refs) {
  for (const auto* r : refs) HIX_TRY(check_tref(*r));
  return Status::ok;
}

bool positive_finite(float f) {
  return std::isfinite(f) && f > 0.0f;
}

template <std::size_t N>
bool zero(const std::uint8_t (&a)[N]) {
  for (auto b : a) {
    if (b != 0) return false;
  }
  return true;
}

// Field checks of one record whose size and opcode are already known good.
Status check_record(std::span<const std::byte> bytes, const DecodedOp& op) {
  const auto hdr = load_record<hix_vgpu_op_header>(bytes, op.offset);
  const std::uint32_t allowed_flags =
      op.opcode == HIX_VGPU_OP_MATMUL ? (HIX_VGPU_MATMUL_TRANS_B | HIX_VGPU_MATMUL_ACCUMULATE) : 0;
  if ((hdr.flags & ~allowed_flags) != 0) return Status::bad_format;
  switch (static_cast<hix_vgpu_opcode>(op.opcode)) {
    case HIX_VGPU_OP_NOP:
      return Status::ok;
    case HIX_VGPU_OP_FILL: {
      const auto r = load_record<hix_vgpu_op_fill>(bytes, op.offset);
      return r.reserved != 0 ? Status::bad_format : check_tref(r.dst);
    }
    case HIX_VGPU_OP_COPY: {
      const auto r = load_record<hix_vgpu_op_copy>(bytes, op.offset);
      return check_trefs({&r.dst, &r.src});
    }
    case HIX_VGPU_OP_DMA_IN:
    case HIX_VGPU_OP_DMA_OUT:
      return check_tref(load_record<hix_vgpu_op_dma>(bytes, op.offset).buf);
    case HIX_VGPU_OP_DMA_IN_DECRYPT:
    case HIX_VGPU_OP_DMA_OUT_ENCRYPT: {
      const auto r = load_record<hix_vgpu_op_dma_crypt>(bytes, op.offset);
      return r.reserved != 0 ? Status::bad_format : check_tref(r.buf);
    }
    case HIX_VGPU_OP_EMBEDDING: {
      const auto r = load_record<hix_vgpu_op_embedding>(bytes, op.offset);
      return r.reserved != 0 ? Status::bad_format : check_trefs({&r.out, &r.table, &r.ids});
    }
    case HIX_VGPU_OP_MATMUL: {
      const auto r = load_record<hix_vgpu_op_matmul>(bytes, op.offset);
      if (r.reserved != 0) return Status::bad_format;
      HIX_TRY(check_tref(r.bias, true));
      return check_trefs({&r.out, &r.a, &r.b});
    }
    case HIX_VGPU_OP_ADD:
    case HIX_VGPU_OP_MUL: {
      const auto r = load_record<hix_vgpu_op_binary>(bytes, op.offset);
      return check_trefs({&r.out, &r.a, &r.b});
    }
    case HIX_VGPU_OP_LAYERNORM: {
      const auto r = load_record<hix_vgpu_op_layernorm>(bytes, op.offset);
      if (r.reserved != 0) return Status::bad_format;
      if (!positive_finite(r.eps)) return Status::invalid_arg;
      return check_trefs({&r.out, &r.x, &r.gamma, &r.beta});
    }
    case HIX_VGPU_OP_RMSNORM: {
      const auto r = load_record<hix_vgpu_op_rmsnorm>(bytes, op.offset);
      if (r.reserved != 0) return Status::bad_format;
      if (!positive_finite(r.eps)) return Status::invalid_arg;
      return check_trefs({&r.out, &r.x, &r.gamma});
    }
    case HIX_VGPU_OP_GELU:
    case HIX_VGPU_OP_SILU: {
      const auto r = load_record<hix_vgpu_op_unary>(bytes, op.offset);
      return check_trefs({&r.out, &r.x});
    }
    case HIX_VGPU_OP_SOFTMAX:
    case HIX_VGPU_OP_ARGMAX: {
      const auto r = load_record<hix_vgpu_op_rows>(bytes, op.offset);
      return check_trefs({&r.out, &r.x});
    }
    case HIX_VGPU_OP_ROPE: {
      const auto r = load_record<hix_vgpu_op_rope>(bytes, op.offset);
      if (!zero(r.reserved) || r.reserved2 != 0 || !valid_reg_or_none(r.pos_reg)) {
        return Status::bad_format;
      }
      if (!positive_finite(r.theta)) return Status::invalid_arg;
      return check_trefs({&r.out, &r.x});
    }
    case HIX_VGPU_OP_ATTENTION: {
      const auto r = load_record<hix_vgpu_op_attention>(bytes, op.offset);
      if (!zero(r.reserved) || !valid_reg_or_none(r.pos_reg)) return Status::bad_format;
      if (!positive_finite(r.scale)) return Status::invalid_arg;
      return check_trefs({&r.out, &r.q, &r.k, &r.v, &r.k_cache, &r.v_cache});
    }
    case HIX_VGPU_OP_SAMPLE: {
      const auto r = load_record<hix_vgpu_op_sample>(bytes, op.offset);
      if (!positive_finite(r.temperature)) return Status::invalid_arg;
      return check_trefs({&r.out, &r.x});
    }
    case HIX_VGPU_OP_SET_REG:
    case HIX_VGPU_OP_ADD_REG:
      return valid_reg(load_record<hix_vgpu_op_reg>(bytes, op.offset).reg) ? Status::ok
                                                                           : Status::invalid_arg;
    case HIX_VGPU_OP_LOOP:
      return Status::ok;  // structure checked by the caller
    case HIX_VGPU_OP_BREAK_IF_EQ: {
      const auto r = load_record<hix_vgpu_op_break_if_eq>(bytes, op.offset);
      return r.reserved != 0 ? Status::bad_format : check_tref(r.x);
    }
  }
  return Status::bad_opcode;
}

}  // namespace

std::uint16_t record_size(std::uint16_t opcode) {
  switch (static_cast<hix_vgpu_opcode>(opcode)) {
    case HIX_VGPU_OP_NOP:
      return sizeof(hix_vgpu_op_nop);
    case HIX_VGPU_OP_FILL:
      return sizeof(hix_vgpu_op_fill);
    case HIX_VGPU_OP_COPY:
      return sizeof(hix_vgpu_op_copy);
    case HIX_VGPU_OP_DMA_IN:
    case HIX_VGPU_OP_DMA_OUT:
      return sizeof(hix_vgpu_op_dma);
    case HIX_VGPU_OP_DMA_IN_DECRYPT:
    case HIX_VGPU_OP_DMA_OUT_ENCRYPT:
      return sizeof(hix_vgpu_op_dma_crypt);
    case HIX_VGPU_OP_EMBEDDING:
      return sizeof(hix_vgpu_op_embedding);
    case HIX_VGPU_OP_MATMUL:
      return sizeof(hix_vgpu_op_matmul);
    case HIX_VGPU_OP_ADD:
    case HIX_VGPU_OP_MUL:
      return sizeof(hix_vgpu_op_binary);
    case HIX_VGPU_OP_LAYERNORM:
      return sizeof(hix_vgpu_op_layernorm);
    case HIX_VGPU_OP_RMSNORM:
      return sizeof(hix_vgpu_op_rmsnorm);
    case HIX_VGPU_OP_GELU:
    case HIX_VGPU_OP_SILU:
      return sizeof(hix_vgpu_op_unary);
    case HIX_VGPU_OP_SOFTMAX:
    case HIX_VGPU_OP_ARGMAX:
      return sizeof(hix_vgpu_op_rows);
    case HIX_VGPU_OP_ROPE:
      return sizeof(hix_vgpu_op_rope);
    case HIX_VGPU_OP_ATTENTION:
      return sizeof(hix_vgpu_op_attention);
    case HIX_VGPU_OP_SAMPLE:
      return sizeof(hix_vgpu_op_sample);
    case HIX_VGPU_OP_SET_REG:
    case HIX_VGPU_OP_ADD_REG:
      return sizeof(hix_vgpu_op_reg);
    case HIX_VGPU_OP_LOOP:
      return sizeof(hix_vgpu_op_loop);
    case HIX_VGPU_OP_BREAK_IF_EQ:
      return sizeof(hix_vgpu_op_break_if_eq);
  }
  return 0;
}

ParseResult parse_cmdbuf(std::span<const std::byte> bytes) {
  ParseResult res{Status::ok, 0, {}};
  const auto fail = [&res](Status s, std::uint32_t op) {
    res.status = s;
    res.op_index = op;
    res.program.ops.clear();
    return std::move(res);
  };
  if (bytes.size() < sizeof(hix_vgpu_cmdbuf_header) || bytes.size() > HIX_VGPU_CMDBUF_MAX) {
    return fail(Status::bad_format, 0);
  }
  const auto hdr = load_record<hix_vgpu_cmdbuf_header>(bytes, 0);
  if (hdr.magic != HIX_VGPU_CMDBUF_MAGIC || hdr.version != HIX_VGPU_CMDBUF_VERSION ||
      hdr.flags != 0 || hdr.total_len != bytes.size() || hdr.op_count == 0 ||
      hdr.op_count > HIX_VGPU_MAX_OPS) {
    return fail(Status::bad_format, 0);
  }
  res.program.ops.reserve(hdr.op_count);
  std::uint32_t off = sizeof(hix_vgpu_cmdbuf_header);
  for (std::uint32_t i = 0; i < hdr.op_count; ++i) {
    if (bytes.size() - off < sizeof(hix_vgpu_op_header)) return fail(Status::bad_format, i);
    const auto oh = load_record<hix_vgpu_op_header>(bytes, off);
    const std::uint16_t want = record_size(oh.opcode);
    if (want == 0) return fail(Status::bad_opcode, i);
    if (oh.size != want || bytes.size() - off < want) return fail(Status::bad_format, i);
    const DecodedOp op{oh.opcode, off};
    const Status s = check_record(bytes, op);
    if (s != Status::ok) return fail(s, i);
    res.program.ops.push_back(op);
    off += want;
  }
  if (off != bytes.size()) return fail(Status::bad_format, hdr.op_count - 1);

  // Loop structure: bodies in range, no nesting, BREAK_IF_EQ only in a body.
  const auto& ops = res.program.ops;
  std::size_t body_end = 0;  // ops before this index are inside the current body
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const auto idx = static_cast<std::uint32_t>(i);
    const bool in_body = i < body_end;
    if (ops[i].opcode == HIX_VGPU_OP_LOOP) {
      const auto r = load_record<hix_vgpu_op_loop>(bytes, ops[i].offset);
      if (in_body || r.count == 0 || r.count > HIX_VGPU_LOOP_MAX || r.body_ops == 0 ||
          r.body_ops > ops.size() - i - 1) {
        return fail(Status::bad_format, idx);
      }
      body_end = i + 1 + r.body_ops;
    } else if (ops[i].opcode == HIX_VGPU_OP_BREAK_IF_EQ && !in_body) {
      return fail(Status::bad_format, idx);
    }
  }
  return res;
}

}  // namespace hix::vgpu
