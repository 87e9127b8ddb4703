// The command processor's executor (spec §6): resolves every operand in the
// entry's context, checks dtypes and shapes, and drives the backend. A
// validation pass (scalar registers at 0, no side effects) runs over the
// whole command buffer before anything executes.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "backend.hpp"
#include "cmdbuf.hpp"
#include "context.hpp"
#include "crypto_engine.hpp"
#include "dma.hpp"

namespace hix::vgpu {

// What a command buffer's run has changed besides VRAM: the scalar
// registers, the rows sampled so far (spec §6.5) and the ops executed.
struct RunState {
  std::array<std::int32_t, HIX_VGPU_NUM_SCALAR_REGS> regs{};
  std::uint64_t draws = 0;
  std::uint64_t executed = 0;
};

// Loops recorded on a backend that can replay them (spec §6.7). A recording
// is found again only by an exact match of everything that decides what it
// launched: the context, the loop's records and the state at loop entry.
// Recordings hold VRAM offsets, so the device drops them all whenever a
// buffer is freed, a context destroyed or VRAM scrubbed.
class LoopRecordings {
 public:
  struct Entry {
    std::vector<std::byte> fingerprint;
    std::uint64_t key;
    RunState at_entry;
    std::vector<RunState> at_break;  // indexed by break id
    RunState at_end;
  };
  static constexpr std::size_t kMaxEntries = 16;

  const Entry* find(std::span<const std::byte> fingerprint) const;
  const Entry& add(Entry e);
  std::uint64_t next_key() { return ++last_key_; }
  void forget(std::uint64_t key);
  // Forgets every recording here and on the backend.
  void drop_all(Backend& backend);

 private:
  std::vector<Entry> entries_;  // oldest first
  std::uint64_t last_key_ = 0;
};

struct ExecEnv {
  Backend& backend;
  DmaEngine& dma;
  CryptoEngine& crypto;
  Context& ctx;
  bool protected_mode;
  std::uint64_t op_budget;  // ops a command buffer may execute, loops included
  std::uint32_t ctx_id = 0;
  LoopRecordings* recordings = nullptr;  // nullptr: loops always run eagerly
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

  // A LOOP (ops [first, body_end) with the LOOP at first) through the
  // backend's recordings; false when it cannot be recorded and must run
  // eagerly (state untouched then).
  bool recordable(const Program& prog, std::size_t first, std::size_t body_end) const;
  ExecResult run_loop_eagerly(const Program& prog, std::span<const std::byte> bytes,
                              std::size_t first, std::size_t body_end);
  [[nodiscard]] std::optional<ExecResult> run_loop_recorded(const Program& prog,
                                                            std::span<const std::byte> bytes,
                                                            std::size_t first,
                                                            std::size_t body_end);
  ExecResult step(const Program& prog, std::span<const std::byte> bytes, std::size_t i);

  ExecEnv env_;
  RunState st_;
  bool break_ = false;
  // While recording: the state at each recorded BREAK_IF_EQ, by break id.
  std::vector<RunState>* breaks_ = nullptr;
};

}  // namespace hix::vgpu
