// Command-buffer parser (spec §6).
#include "cmdbuf.hpp"

#include <cmath>

namespace hix::vgpu {
namespace {

bool valid_reg(std::uint32_t r) {
  return r < HIX_VGPU_NUM_SCALAR_REGS;
}
bool valid_reg_or_none(std::uint8_t r) {
  return r == HIX_VGPU_REG_NONE || valid_reg(r);
}

// Encoding of one tensor reference; `optional` allows the all-zero "absent".
Status check_tref(const hix_vgpu_tref& t, bool optional) {
  if (t.handle == 0) {
    const bool all_zero = t.dtype == 0 && t.index_reg == 0 && t.reserved == 0 && t.offset == 0 &&
                          t.index_stride == 0 && t.reserved2 == 0;
    return optional && all_zero ? Status::ok : Status::bad_format;
  }
  const std::uint64_t es = hix_vgpu_dtype_bytes(t.dtype);
  if (es == 0) return Status::bad_dtype;
  if (t.reserved != 0 || t.reserved2 != 0 || !valid_reg_or_none(t.index_reg)) {
    return Status::bad_format;
  }
  if (t.index_reg == HIX_VGPU_REG_NONE && t.index_stride != 0) return Status::bad_format;
  if (t.offset % es != 0 || t.index_stride % es != 0) return Status::bad_format;
  return Status::ok;
}

bool positive_finite(float f) {
  return std::isfinite(f) && f > 0.0f;
}

// One operand's non-tensor field: a scalar register or a float parameter.
Status check_scalar(std::span<const std::byte> rec, const Operand& o) {
  switch (o.kind) {
    case OperandKind::reg:
      if (o.field.size == 1) {
        const auto r = load_record<std::uint8_t>(rec, o.field.offset);
        return valid_reg_or_none(r) ? Status::ok : Status::bad_format;
      }
      return valid_reg(load_record<std::uint32_t>(rec, o.field.offset)) ? Status::ok
                                                                        : Status::invalid_arg;
    case OperandKind::positive_f32:
      return positive_finite(load_record<float>(rec, o.field.offset)) ? Status::ok
                                                                      : Status::invalid_arg;
    case OperandKind::tensor_in:
    case OperandKind::tensor_out:
    case OperandKind::tensor_inout:
    case OperandKind::scalar:
      break;
  }
  return Status::ok;
}

// Field checks of one record whose size and opcode are already known good,
// in this order: flags and reserved fields, register fields, float
// parameters, then tensor references (optional ones first).
Status check_record(std::span<const std::byte> rec, const OpDesc& d) {
  const auto hdr = load_record<hix_vgpu_op_header>(rec, 0);
  if ((hdr.flags & ~d.allowed_flags) != 0) return Status::bad_format;
  for (const Field& z : d.reserved) {
    for (std::size_t b = 0; b < z.size; ++b) {
      if (rec[z.offset + b] != std::byte{0}) return Status::bad_format;
    }
  }
  const std::span<const Operand> operands(d.operands.data(), d.operand_count());
  for (const OperandKind kind : {OperandKind::reg, OperandKind::positive_f32}) {
    for (const Operand& o : operands) {
      if (o.kind == kind) HIX_TRY(check_scalar(rec, o));
    }
  }
  for (const bool optional : {true, false}) {
    for (const Operand& o : operands) {
      if (o.is_tensor() && o.optional == optional) {
        HIX_TRY(check_tref(load_record<hix_vgpu_tref>(rec, o.field.offset), o.optional));
      }
    }
  }
  return Status::ok;
}

}  // namespace

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
    const OpDesc* desc = find_op(oh.opcode);
    if (desc == nullptr) return fail(Status::bad_opcode, i);
    const std::uint16_t want = desc->size;
    if (oh.size != want || bytes.size() - off < want) return fail(Status::bad_format, i);
    const Status s = check_record(bytes.subspan(off, want), *desc);
    if (s != Status::ok) return fail(s, i);
    res.program.ops.push_back(DecodedOp{desc, off});
    off += want;
  }
  if (off != bytes.size()) return fail(Status::bad_format, hdr.op_count - 1);

  // Loop structure: bodies in range, no nesting, BREAK_IF_EQ only in a body.
  const auto& ops = res.program.ops;
  std::size_t body_end = 0;  // ops before this index are inside the current body
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const auto idx = static_cast<std::uint32_t>(i);
    const bool in_body = i < body_end;
    if ((ops[i].desc->traits & kOpensLoop) != 0) {
      const auto r = load_record<hix_vgpu_op_loop>(bytes, ops[i].offset);
      if (in_body || r.count == 0 || r.count > HIX_VGPU_LOOP_MAX || r.body_ops == 0 ||
          r.body_ops > ops.size() - i - 1) {
        return fail(Status::bad_format, idx);
      }
      body_end = i + 1 + r.body_ops;
    } else if ((ops[i].desc->traits & kLoopBodyOnly) != 0 && !in_body) {
      return fail(Status::bad_format, idx);
    }
  }
  return res;
}

}  // namespace hix::vgpu
