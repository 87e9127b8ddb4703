// The compute-backend seam (docs/architecture.md §5.2): device memory plus the
// tensor ISA's kernels. `cpu` is the reference; a `cuda` backend fills the same
// interface. The executor has checked every operand (handles, bounds, dtypes,
// shapes) before a backend sees it; a backend reports only what depends on
// data (an embedding id out of range) or on itself (INTERNAL).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "addr.hpp"
#include "hix/abi/vgpu_cmd.h"
#include "rope_frequency.hpp"
#include "sealed_chunk.hpp"
#include "status.hpp"

namespace hix::vgpu {

enum class DType : std::uint8_t {
  f32 = HIX_VGPU_DT_F32,
  bf16 = HIX_VGPU_DT_BF16,
  i32 = HIX_VGPU_DT_I32,
};

inline bool valid_dtype(std::uint8_t d) {
  return hix_vgpu_dtype_bytes(d) != 0;
}
inline std::uint64_t dtype_size(DType d) {
  return hix_vgpu_dtype_bytes(static_cast<std::uint8_t>(d));
}
constexpr bool is_float(DType d) {
  return d == DType::f32 || d == DType::bf16;
}

// While a loop body is recorded once for all its iterations (spec §6.7), an
// operand whose place moves with a scalar register: its elements start at
// `offset` + R[reg] * stride bytes, R read on the device when the op runs.
// The executor has checked every iteration's place; [lo, lo + span) is the
// buffer it stays within (for a backend's overlap tests).
struct MovingIndex {
  std::uint8_t reg;
  std::uint64_t stride;
  VramOffset lo;
  std::uint64_t span;
};

// A resolved, bounds-checked operand: `count` elements at `offset`.
struct TensorArg {
  VramOffset offset;
  DType dtype;
  std::uint64_t count;
  std::optional<MovingIndex> moving{};  // only inside an iteration recording
};

struct EmbeddingArgs {
  TensorArg out, table, ids;
  std::uint32_t rows, dim, vocab;
};

struct MatmulArgs {
  TensorArg out, a, b;
  std::optional<TensorArg> bias;
  std::uint32_t m, n, k;
  bool trans_b, accumulate;
};

enum class BinaryOp : std::uint8_t { add, mul };
// out[i] = a[i] op b[i % b.count], i < a.count.
struct BinaryArgs {
  BinaryOp op;
  TensorArg out, a, b;
};

// LAYERNORM (with beta) and RMSNORM (without).
struct NormArgs {
  TensorArg out, x, gamma;
  std::optional<TensorArg> beta;
  std::uint32_t rows, cols;
  float eps;
};

enum class UnaryOp : std::uint8_t { gelu, silu };
struct UnaryArgs {
  UnaryOp op;
  TensorArg out, x;
};

// SOFTMAX and ARGMAX.
struct RowsArgs {
  TensorArg out, x;
  std::uint32_t rows, cols;
};

// ROPE, and ROPE_LLAMA3 with `llama3` (its factor 0 for ROPE).
// `pos_reg` (only inside an iteration recording): the position is pos +
// R[pos_reg], the register read on the device.
struct RopeArgs {
  TensorArg out, x;
  std::uint32_t tokens, heads, head_dim, rot_dim;
  std::uint64_t pos;
  float theta;
  Llama3Rope llama3{};
  std::optional<std::uint8_t> pos_reg{};
  // HIX_VGPU_BATCH (spec §6.4.1): every row at pos, `tokens` counting
  // sequences.
  bool batch = false;
};

struct AttentionArgs {
  TensorArg out, q, k, v, k_cache, v_cache;
  std::uint32_t tokens, q_heads, kv_heads, head_dim, max_seq;
  std::uint64_t pos;
  float scale;
  std::optional<std::uint8_t> pos_reg{};
  // HIX_VGPU_BATCH (spec §6.4.1): `tokens` sequences, one query row each,
  // all at pos; the caches hold `tokens` caches of max_seq rows back to back.
  bool batch = false;
};

struct SampleArgs {
  TensorArg out, x;
  std::uint32_t rows, cols;
  float temperature;
  std::uint32_t top_k;
  std::uint64_t seed;
  std::uint64_t first_draw;  // rows sampled earlier in this command buffer
  // Inside an iteration recording: first_draw counts from the iteration's
  // start, and the device adds the rows sampled before it.
  bool draws_on_device = false;
};

// In-device crypto (spec §7.2, §7.3): a backend with a crypto engine of its
// own opens and seals tensors where the plaintext lives, so plaintext never
// crosses into host memory. The CryptoEngine has mapped and checked the
// guest range; the sealed bytes are still guest-writable, so an
// implementation copies them into device memory before it verifies them.
class DeviceCrypto {
 public:
  virtual ~DeviceCrypto() = default;
  // DMA_IN_DECRYPT: `sealed` (sealed_size(bytes) bytes of guest memory) into
  // VRAM [dst, dst+bytes). auth_failed leaves that range as it was or zeroed
  // (the engine's open mode); the CryptoEngine then zeroes it.
  [[nodiscard]] virtual Status open(VramOffset dst, std::uint64_t bytes,
                                    std::span<const std::byte> sealed, SealParams params,
                                    std::span<const std::uint8_t, kKeyBytes> key) = 0;
  // DMA_OUT_ENCRYPT: VRAM [src, src+bytes) sealed into `sealed` (guest
  // memory, exactly sealed_size(bytes) bytes).
  [[nodiscard]] virtual Status seal(std::span<std::byte> sealed, VramOffset src,
                                    std::uint64_t bytes, SealParams params,
                                    std::span<const std::uint8_t, kKeyBytes> key) = 0;
  // Zeroes the engine's staging memory (scrub).
  [[nodiscard]] virtual Status wipe() = 0;

  // One tensor of a run of DMA_IN_DECRYPT ops (spec §7.2.1).
  struct OpenItem {
    VramOffset dst;
    std::uint64_t bytes;
    std::span<const std::byte> sealed;  // sealed_size(bytes) bytes of guest memory
    SealParams params;
    std::span<const std::uint8_t, kKeyBytes> key;
  };
  struct RunOutcome {
    std::size_t opened;  // the leading tensors written
    Status status;       // ok: all of them; else tensor `opened`'s status
  };
  // A run as one call: nothing of a tensor is written before every chunk of
  // it and of every earlier tensor has verified, and nothing after the first
  // tensor that fails. That tensor's range is left as it was or zeroed; the
  // CryptoEngine zeroes it. The destinations do not overlap (the executor
  // ends a run before one that would). By default, one open() per tensor.
  [[nodiscard]] virtual RunOutcome open_run(std::span<const OpenItem> run) {
    for (std::size_t i = 0; i < run.size(); ++i) {
      const OpenItem& t = run[i];
      if (const Status s = open(t.dst, t.bytes, t.sealed, t.params, t.key); s != Status::ok) {
        return {i, s};
      }
    }
    return {run.size(), Status::ok};
  }
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string_view name() const = 0;
  virtual std::uint64_t vram_size() const = 0;

  // Device memory; ranges are inside [0, vram_size()).
  [[nodiscard]] virtual Status write_bytes(VramOffset dst, std::span<const std::byte> src) = 0;
  [[nodiscard]] virtual Status read_bytes(VramOffset src, std::span<std::byte> dst) = 0;
  [[nodiscard]] virtual Status zero(VramOffset dst, std::uint64_t bytes) = 0;

  // The tensor ISA (spec §6.4). Every op reads all inputs before writing.
  [[nodiscard]] virtual Status fill(const TensorArg& dst, std::uint32_t bits) = 0;
  [[nodiscard]] virtual Status copy(const TensorArg& dst, const TensorArg& src) = 0;
  [[nodiscard]] virtual Status embedding(const EmbeddingArgs& a) = 0;
  [[nodiscard]] virtual Status matmul(const MatmulArgs& a) = 0;
  [[nodiscard]] virtual Status binary(const BinaryArgs& a) = 0;
  [[nodiscard]] virtual Status layernorm(const NormArgs& a) = 0;
  [[nodiscard]] virtual Status rmsnorm(const NormArgs& a) = 0;
  [[nodiscard]] virtual Status unary(const UnaryArgs& a) = 0;
  [[nodiscard]] virtual Status softmax(const RowsArgs& a) = 0;
  [[nodiscard]] virtual Status rope(const RopeArgs& a) = 0;
  [[nodiscard]] virtual Status attention(const AttentionArgs& a) = 0;
  [[nodiscard]] virtual Status argmax(const RowsArgs& a) = 0;
  [[nodiscard]] virtual Status sample(const SampleArgs& a) = 0;

  // ---- Asynchronous backends (spec §6.7) ----
  // The cpu backend finishes every op before it returns and keeps these
  // defaults. An asynchronous backend (cuda) queues ops and reports an
  // error that depends on data (an embedding id out of range) at the next
  // finish(), which waits for every op issued so far.
  [[nodiscard]] virtual Status finish() { return Status::ok; }

  // Host memory that DMA will read and write (guest RAM): a backend may pin
  // it so copies run at full speed. Must stay valid until unpinned.
  [[nodiscard]] virtual Status pin_host(std::span<std::byte> /*range*/) { return Status::ok; }
  virtual void unpin_host(std::span<std::byte> /*range*/) {}

  // Loop recording (spec §6.7): a backend that can record the ops of a
  // LOOP once and replay them (a CUDA graph). Between begin_recording() and
  // end_recording(), every op call is recorded rather than run; its status
  // reports only its arguments. Recordings hold VRAM offsets: the device
  // drops them all whenever a buffer is freed or VRAM is scrubbed.
  virtual bool can_record() const { return false; }
  [[nodiscard]] virtual Status begin_recording() { return Status::internal; }
  // While recording: BREAK_IF_EQ on the device. On replay, when the i32 at
  // x equals `value`, every op recorded after this one does nothing and the
  // replay reports `break_id`.
  [[nodiscard]] virtual Status record_break_if_eq(const TensorArg& /*x*/, std::int32_t /*value*/,
                                                  std::uint32_t /*break_id*/) {
    return Status::internal;
  }
  // Ends recording and keeps it under `key` (replacing any with that key).
  [[nodiscard]] virtual Status end_recording(std::uint64_t /*key*/) { return Status::internal; }
  // Ends a recording in progress without keeping it.
  virtual void abort_recording() {}
  // Runs the recording kept under `key` and waits for it. The break_id of
  // the recorded break that fired, if one did; invalid_arg when no
  // recording has that key.
  [[nodiscard]] virtual Result<std::optional<std::uint32_t>> replay(std::uint64_t /*key*/) {
    return Status::invalid_arg;
  }
  virtual void drop_recordings() {}

  // Iteration recordings (spec §6.7): a backend that can record one loop
  // iteration whose moving operands and positions (TensorArg::moving,
  // pos_reg, draws_on_device) read the scalar registers and the sample
  // count on the device, and replay it once per iteration.
  virtual bool can_record_iterations() const { return false; }
  // While recording: SET_REG (set) or ADD_REG on the device's registers.
  [[nodiscard]] virtual Status record_reg(std::uint8_t /*reg*/, std::int32_t /*value*/,
                                          bool /*set*/) {
    return Status::internal;
  }
  // While recording, last: the iteration ends; `draws` rows were sampled
  // in it.
  [[nodiscard]] virtual Status record_iteration_end(std::uint64_t /*draws*/) {
    return Status::internal;
  }
  struct IterationStart {
    std::array<std::int32_t, HIX_VGPU_NUM_SCALAR_REGS> regs{};
    std::uint64_t draws = 0;
    std::uint32_t count = 0;  // iterations
  };
  struct IterationBreak {
    std::uint32_t break_id;
    std::uint32_t iteration;  // 0-based
  };
  // Sets the device's registers and sample count, runs the iteration
  // recording kept under `key` `count` times and waits. The recorded break
  // that fired and in which iteration, if one did; invalid_arg when no
  // recording has that key.
  [[nodiscard]] virtual Result<std::optional<IterationBreak>> replay_iterations(
      std::uint64_t /*key*/, const IterationStart& /*start*/) {
    return Status::invalid_arg;
  }

  // The backend's own crypto engine, or nullptr: the CryptoEngine then
  // opens and seals on the CPU and moves plaintext with write_bytes and
  // read_bytes.
  virtual DeviceCrypto* device_crypto() { return nullptr; }
};

// SplitMix64's finaliser, the sampling RNG of spec §6.5.
constexpr std::uint64_t splitmix64_mix(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// The uniform draw u_n in [0, 1) of spec §6.5.
constexpr double sample_uniform(std::uint64_t seed, std::uint64_t n) {
  const std::uint64_t z = splitmix64_mix(seed + (n + 1) * 0x9E3779B97F4A7C15ull);
  return static_cast<double>(z >> 40) / 16777216.0;
}

}  // namespace hix::vgpu
