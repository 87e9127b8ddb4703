// The command processor's executor (spec §6): resolves every operand in the
// entry's context, checks dtypes and shapes, and drives the backend. A
// validation pass (scalar registers at 0, no side effects) runs over the
// whole command buffer before anything executes.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>

#include "backend.hpp"
#include "cmdbuf.hpp"
#include "context.hpp"
#include "crypto_engine.hpp"
#include "dma.hpp"

namespace hix::vgpu {

struct ExecEnv {
  Backend& backend;
  DmaEngine& dma;
  CryptoEngine& crypto;
  Context& ctx;
  bool protected_mode;
  std::uint64_t op_budget;  // ops a command buffer may execute, loops included
};

struct ExecResult {
  Status status;
  std::uint32_t op_index;
};

class Executor {
 public:
  explicit Executor(const ExecEnv& env) : env_(env) {}
  [[nodiscard]] ExecResult validate(const Program& prog, std::span<const std::byte> bytes);
  [[nodiscard]] ExecResult run(const Program& prog, std::span<const std::byte> bytes);

 private:
  enum class Mode : std::uint8_t { validate, run };
  [[nodiscard]] Status op(Mode mode, const DecodedOp& op, std::span<const std::byte> bytes);
  [[nodiscard]] Result<TensorArg> operand(const hix_vgpu_tref& t, std::uint64_t count) const;
  [[nodiscard]] Result<std::uint64_t> position(std::uint32_t pos, std::uint8_t reg) const;

  Status fill(Mode m, const hix_vgpu_op_fill& r);
  Status copy(Mode m, const hix_vgpu_op_copy& r);
  Status dma(Mode m, std::uint16_t opcode, const hix_vgpu_op_dma& r);
  Status dma_crypt(Mode m, std::uint16_t opcode, const hix_vgpu_op_dma_crypt& r);
  Status embedding(Mode m, const hix_vgpu_op_embedding& r);
  Status matmul(Mode m, const hix_vgpu_op_matmul& r);
  Status binary(Mode m, std::uint16_t opcode, const hix_vgpu_op_binary& r);
  Status layernorm(Mode m, const hix_vgpu_op_layernorm& r);
  Status rmsnorm(Mode m, const hix_vgpu_op_rmsnorm& r);
  Status unary(Mode m, std::uint16_t opcode, const hix_vgpu_op_unary& r);
  Status rows(Mode m, std::uint16_t opcode, const hix_vgpu_op_rows& r);
  Status rope(Mode m, const hix_vgpu_op_rope& r);
  Status attention(Mode m, const hix_vgpu_op_attention& r);
  Status sample(Mode m, const hix_vgpu_op_sample& r);
  Status reg(Mode m, std::uint16_t opcode, const hix_vgpu_op_reg& r);
  Status break_if_eq(Mode m, const hix_vgpu_op_break_if_eq& r);

  ExecEnv env_;
  std::array<std::int32_t, HIX_VGPU_NUM_SCALAR_REGS> regs_{};
  std::uint64_t draws_ = 0;  // rows sampled so far (spec §6.5)
  bool break_ = false;
};

}  // namespace hix::vgpu
