// The command processor's executor (spec §6): resolves every operand in the
// entry's context, checks dtypes and shapes, and drives the backend. A
// validation pass (scalar registers at 0, no side effects) runs over the
// whole command buffer before anything executes. Operands, dtypes and shape
// rules come from the op's row in include/hix/vgpu/op_table.hpp; per-op code
// is only what an op adds to them and its backend call.
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
    // An iteration recording (one iteration, replayed once per iteration):
    // by break id, the body ops an iteration executes up to that break.
    bool iterations = false;
    std::vector<std::uint64_t> ops_to_break{};
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
  const PeerDisks* peers = nullptr;      // nullptr: no peer disks (spec §7.4)
  // Runs of DMA_IN_DECRYPT ops as one crypto-engine call (spec §7.2.1); the
  // default runs every op on its own.
  DecryptRunLimits decrypt_runs{.max_tensors = 1};
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
  // An op's tensor operands, resolved, by operand index in its row (an
  // absent optional operand stays nullopt).
  using Operands = std::array<std::optional<TensorArg>, kMaxOperands>;
  // The per-layout part of an op (OpDesc::record): checks beyond the row's
  // and, when running, the backend call.
  using Handler = Status (Executor::*)(Mode, const OpDesc&, std::span<const std::byte> rec,
                                       const Operands&);

  [[nodiscard]] Status op(Mode mode, const DecodedOp& op, std::span<const std::byte> bytes);
  [[nodiscard]] Status resolve(const OpDesc& d, std::span<const std::byte> rec, Operands& t) const;
  [[nodiscard]] Result<TensorArg> operand(const hix_vgpu_tref& t, std::uint64_t count) const;
  [[nodiscard]] Result<std::uint64_t> position(std::uint32_t pos, std::uint8_t reg) const;
  // Whether a position with this register goes to the backend as moving.
  bool moves(std::uint8_t reg) const { return iterating_ && reg != HIX_VGPU_REG_NONE; }

  Status nop(Mode m, const OpDesc& d, std::span<const std::byte> rec, const Operands& t);
  Status fill(Mode m, const OpDesc& d, std::span<const std::byte> rec, const Operands& t);
  Status copy(Mode m, const OpDesc& d, std::span<const std::byte> rec, const Operands& t);
  Status dma(Mode m, const OpDesc& d, std::span<const std::byte> rec, const Operands& t);
  Status dma_crypt(Mode m, const OpDesc& d, std::span<const std::byte> rec, const Operands& t);
  Status dma_peer(Mode m, const OpDesc& d, std::span<const std::byte> rec, const Operands& t);
  // The key slot a DMA_IN_DECRYPT / DMA_OUT_ENCRYPT record names, once its
  // slot and tensor id pass the op's checks.
  [[nodiscard]] Result<KeySlot*> crypt_slot(const hix_vgpu_op_dma_crypt& r, bool inbound) const;

  // Runs of DMA_IN_DECRYPT (spec §7.2.1). The run's next op: a
  // DMA_IN_DECRYPT that would pass every check its op makes before the
  // crypto engine opens anything, or nothing.
  [[nodiscard]] std::optional<DecryptItem> decrypt_item(const DecodedOp& o,
                                                        std::span<const std::byte> bytes) const;
  struct DecryptRun {
    std::size_t ops;  // ops the run covered (the failing one included)
    ExecResult result;
  };
  // The run starting at op `first`, through the crypto engine as one call;
  // nullopt when fewer than two ops make a run (op `first` then runs alone).
  [[nodiscard]] std::optional<DecryptRun> run_decrypts(const Program& prog,
                                                       std::span<const std::byte> bytes,
                                                       std::size_t first);
  Status embedding(Mode m, const OpDesc& d, std::span<const std::byte> rec, const Operands& t);
  Status matmul(Mode m, const OpDesc& d, std::span<const std::byte> rec, const Operands& t);
  Status binary(Mode m, const OpDesc& d, std::span<const std::byte> rec, const Operands& t);
  Status layernorm(Mode m, const OpDesc& d, std::span<const std::byte> rec, const Operands& t);
  Status rmsnorm(Mode m, const OpDesc& d, std::span<const std::byte> rec, const Operands& t);
  Status unary(Mode m, const OpDesc& d, std::span<const std::byte> rec, const Operands& t);
  Status rows(Mode m, const OpDesc& d, std::span<const std::byte> rec, const Operands& t);
  Status rope(Mode m, const OpDesc& d, std::span<const std::byte> rec, const Operands& t);
  Status rope_llama3(Mode m, const OpDesc& d, std::span<const std::byte> rec, const Operands& t);
  Status attention(Mode m, const OpDesc& d, std::span<const std::byte> rec, const Operands& t);
  Status sample(Mode m, const OpDesc& d, std::span<const std::byte> rec, const Operands& t);
  Status reg(Mode m, const OpDesc& d, std::span<const std::byte> rec, const Operands& t);
  Status break_if_eq(Mode m, const OpDesc& d, std::span<const std::byte> rec, const Operands& t);

  // A LOOP (ops [first, body_end) with the LOOP at first) through the
  // backend's recordings; false when it cannot be recorded and must run
  // eagerly (state untouched then).
  bool recordable(const Program& prog, std::size_t first, std::size_t body_end) const;
  // ... as one iteration for all (spec §6.7): every register-moved operand
  // is one the backend can move on the device.
  bool iteration_recordable(const Program& prog, std::span<const std::byte> bytes,
                            std::size_t first, std::size_t body_end) const;
  [[nodiscard]] std::optional<ExecResult> run_loop_iterations(const Program& prog,
                                                              std::span<const std::byte> bytes,
                                                              std::size_t first,
                                                              std::size_t body_end);
  bool keep_recording(Status walked, const RunState& entry, std::uint64_t key);
  // Advances the state over body ops [first+1, first+1+ops) without running
  // them: registers, rows sampled, ops executed; register-moved operands
  // and positions are checked as the eager run would check them.
  [[nodiscard]] Status walk(const Program& prog, std::span<const std::byte> bytes,
                            std::size_t first, std::size_t ops);
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
  // While recording one iteration for all: operands and positions that a
  // register moves go to the backend as moving; `iteration_draws_` is the
  // sample count at the iteration's start.
  bool iterating_ = false;
  std::uint64_t iteration_draws_ = 0;
};

}  // namespace hix::vgpu
