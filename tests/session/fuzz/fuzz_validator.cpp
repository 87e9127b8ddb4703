// libFuzzer target: arbitrary command buffers against a fixed session
// table (docs/specs/hix-session.md §7). Byte 0 picks the mode (bit 0: plain),
// the rest is the command buffer.
//
// Invariants for every buffer the validator accepts (a violation traps),
// checked independently of its descriptor table: the device's own parser
// accepts it (or refuses only a float parameter, which the enclave leaves to
// the device); every tensor reference names one of the session's buffers
// (handle 0 only as MATMUL's absent bias) with an offset inside it when it
// has no index register; every DMA lies inside one extent of the window; the
// mode's DMA kinds only; key slots installed, outputs under slot 0 with
// device ids, inputs with host ids rising above the session's highest under
// slot 0. A refusal names a reason of §8.1 and an op that exists.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>

#include "cmdbuf.hpp"
#include "fuzz_world.hpp"
#include "hix/session/validator.hpp"

using namespace hix::session;
using namespace hix::session::fuzz;

namespace {

#define CHECK(cond)                \
  do {                             \
    if (!(cond)) __builtin_trap(); \
  } while (0)

template <class T>
T rec(std::span<const std::uint8_t> b, std::size_t off) {
  T v{};
  std::memcpy(&v, b.data() + off, sizeof v);
  return v;
}

void check_tref(const Session& s, const hix_vgpu_tref& t, bool may_be_absent) {
  if (t.handle == 0) {
    CHECK(may_be_absent);
    return;
  }
  const Buffer* b = s.find_buffer(t.handle);
  CHECK(b != nullptr);
  CHECK(t.dtype >= 1 && t.dtype <= 3);
  if (t.index_reg == HIX_VGPU_REG_NONE) CHECK(t.offset < b->size);
}

bool in_one_extent(const Session& s, std::uint64_t gpa, std::uint64_t len) {
  for (const Extent& e : s.window()) {
    if (gpa >= e.gpa.value && len <= e.bytes && gpa - e.gpa.value <= e.bytes - len) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const Mode mode = (data[0] & 1) != 0 ? Mode::plain : Mode::protected_mode;
  const std::span<const std::uint8_t> cmd(data + 1, size - 1);
  const Session s = synthetic_session();
  const Validation v = validate_cmdbuf(cmd, s, mode);
  if (!v.ok()) {
    const auto r = static_cast<std::uint32_t>(v.reason);
    CHECK(r >= HIX_VALID_HEADER && r <= HIX_VALID_TENSOR_ID);
    CHECK(v.highest_input_id == 0);
    if (cmd.size() >= 16) {
      std::uint32_t ops = 0;
      std::memcpy(&ops, cmd.data() + 8, 4);
      CHECK(v.op_index == 0 || v.op_index < ops);
    }
    return 0;
  }

  const auto parsed = hix::vgpu::parse_cmdbuf(std::as_bytes(std::span(cmd.data(), cmd.size())));
  CHECK(parsed.status == hix::vgpu::Status::ok || parsed.status == hix::vgpu::Status::invalid_arg);
  if (parsed.status != hix::vgpu::Status::ok) return 0;  // a float parameter: the device's call

  std::uint64_t highest = s.highest_input_id;
  for (const auto& op : parsed.program.ops) {
    const auto b = cmd.subspan(op.offset);
    const auto trefs = [&](std::initializer_list<std::size_t> offs) {
      for (const std::size_t o : offs) check_tref(s, rec<hix_vgpu_tref>(b, o), false);
    };
    switch (op.desc->opcode) {
      case HIX_VGPU_OP_FILL:
        trefs({offsetof(hix_vgpu_op_fill, dst)});
        break;
      case HIX_VGPU_OP_COPY:
        trefs({offsetof(hix_vgpu_op_copy, dst), offsetof(hix_vgpu_op_copy, src)});
        break;
      case HIX_VGPU_OP_DMA_IN:
      case HIX_VGPU_OP_DMA_OUT: {
        CHECK(mode == Mode::plain);
        const auto r = rec<hix_vgpu_op_dma>(b, 0);
        check_tref(s, r.buf, false);
        CHECK(in_one_extent(s, r.gpa, r.bytes));
        break;
      }
      case HIX_VGPU_OP_DMA_IN_DECRYPT:
      case HIX_VGPU_OP_DMA_OUT_ENCRYPT: {
        CHECK(mode == Mode::protected_mode);
        const auto r = rec<hix_vgpu_op_dma_crypt>(b, 0);
        check_tref(s, r.buf, false);
        CHECK(r.bytes != 0 && in_one_extent(s, r.gpa, sealed_bytes(r.bytes)));
        CHECK(s.slot_installed(r.key_slot));
        if (op.desc->opcode == HIX_VGPU_OP_DMA_OUT_ENCRYPT) {
          CHECK(r.key_slot == 0 && (r.tensor_id >> 63) == 1);
        } else {
          CHECK((r.tensor_id >> 63) == 0);
          if (r.key_slot == 0) {
            CHECK(r.tensor_id > highest);
            highest = r.tensor_id;
          }
        }
        break;
      }
      case HIX_VGPU_OP_DMA_IN_PEER: {
        CHECK(mode == Mode::plain);  // the device checks the disk and the range
        check_tref(s, rec<hix_vgpu_op_dma_peer>(b, 0).buf, false);
        break;
      }
      case HIX_VGPU_OP_DMA_IN_DECRYPT_PEER: {
        CHECK(mode == Mode::protected_mode);
        const auto r = rec<hix_vgpu_op_dma_peer>(b, 0);
        check_tref(s, r.buf, false);
        CHECK(sealed_bytes(r.bytes) != 0);
        CHECK(s.slot_installed(r.key_slot));
        CHECK((r.tensor_id >> 63) == 0);
        if (r.key_slot == 0) {
          CHECK(r.tensor_id > highest);
          highest = r.tensor_id;
        }
        break;
      }
      case HIX_VGPU_OP_EMBEDDING:
        trefs({offsetof(hix_vgpu_op_embedding, out), offsetof(hix_vgpu_op_embedding, table),
               offsetof(hix_vgpu_op_embedding, ids)});
        break;
      case HIX_VGPU_OP_MATMUL:
        trefs({offsetof(hix_vgpu_op_matmul, out), offsetof(hix_vgpu_op_matmul, a),
               offsetof(hix_vgpu_op_matmul, b)});
        check_tref(s, rec<hix_vgpu_tref>(b, offsetof(hix_vgpu_op_matmul, bias)), true);
        break;
      case HIX_VGPU_OP_ADD:
      case HIX_VGPU_OP_MUL:
        trefs({offsetof(hix_vgpu_op_binary, out), offsetof(hix_vgpu_op_binary, a),
               offsetof(hix_vgpu_op_binary, b)});
        break;
      case HIX_VGPU_OP_LAYERNORM:
        trefs({offsetof(hix_vgpu_op_layernorm, out), offsetof(hix_vgpu_op_layernorm, x),
               offsetof(hix_vgpu_op_layernorm, gamma), offsetof(hix_vgpu_op_layernorm, beta)});
        break;
      case HIX_VGPU_OP_RMSNORM:
        trefs({offsetof(hix_vgpu_op_rmsnorm, out), offsetof(hix_vgpu_op_rmsnorm, x),
               offsetof(hix_vgpu_op_rmsnorm, gamma)});
        break;
      case HIX_VGPU_OP_GELU:
      case HIX_VGPU_OP_SILU:
        trefs({offsetof(hix_vgpu_op_unary, out), offsetof(hix_vgpu_op_unary, x)});
        break;
      case HIX_VGPU_OP_SOFTMAX:
      case HIX_VGPU_OP_ARGMAX:
        trefs({offsetof(hix_vgpu_op_rows, out), offsetof(hix_vgpu_op_rows, x)});
        break;
      case HIX_VGPU_OP_ROPE:
        trefs({offsetof(hix_vgpu_op_rope, out), offsetof(hix_vgpu_op_rope, x)});
        break;
      case HIX_VGPU_OP_ROPE_LLAMA3:
        trefs({offsetof(hix_vgpu_op_rope_llama3, out), offsetof(hix_vgpu_op_rope_llama3, x)});
        break;
      case HIX_VGPU_OP_ATTENTION:
        trefs({offsetof(hix_vgpu_op_attention, out), offsetof(hix_vgpu_op_attention, q),
               offsetof(hix_vgpu_op_attention, k), offsetof(hix_vgpu_op_attention, v),
               offsetof(hix_vgpu_op_attention, k_cache), offsetof(hix_vgpu_op_attention, v_cache)});
        break;
      case HIX_VGPU_OP_SAMPLE:
        trefs({offsetof(hix_vgpu_op_sample, out), offsetof(hix_vgpu_op_sample, x)});
        break;
      case HIX_VGPU_OP_BREAK_IF_EQ:
        trefs({offsetof(hix_vgpu_op_break_if_eq, x)});
        break;
      case HIX_VGPU_OP_NOP:
      case HIX_VGPU_OP_SET_REG:
      case HIX_VGPU_OP_ADD_REG:
      case HIX_VGPU_OP_LOOP:
        break;
      default:
        CHECK(false);  // the device parser knows no other opcode
    }
  }
  CHECK(v.highest_input_id == (highest > s.highest_input_id ? highest : 0));
  return 0;
}
