// GEMV groups: runs of consecutive tensor ops (spec §6.4) that the cuda
// backend launches as one kernel (tensor_kernels.cu, k_gemv_group_*) when
// that leaves VRAM exactly as the ops one by one would. A decode step emits
// them layer after layer (user_runtime/libhix/model/program.cpp): the q, k
// and v projections read the same normalised row; Llama's gate and up
// projections do too and are followed by SILU of the gate in place and MUL
// of that by up; GPT-2's first MLP projection is followed by GELU in place.
// The norm that writes those rows (RMSNORM, LAYERNORM) may lead the group:
// every block of the launch then normalises the rows itself as it stages
// them, and the first block also stores them where the norm writes.
//
// The backend holds a group back while it can still grow, and launches it
// before any other call. Every rule is here, over the resolved operands the
// executor hands the backend, with no CUDA types, so the host unit tests
// check each condition and each fallback without a GPU.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "backend.hpp"

namespace hix::vgpu::cuda {

// Matmuls in one group: q, k and v.
inline constexpr std::size_t kGemvGroupMax = 3;

// Rows of a (m) the group kernel's register tiles hold.
inline constexpr std::uint32_t kGemvGroupRowsMax = 8;

// What the backend gives the group kernel: m below `max_rows` (and at most
// kGemvGroupRowsMax), the activation rows (m * k as f32) staged in at most
// `max_stage_bytes` of shared memory.
struct GemvLimits {
  std::uint32_t max_rows = kGemvGroupRowsMax;
  std::uint64_t max_stage_bytes = 0;
};

// What the kernel does after the matmuls.
enum class GemvEpilogue : std::uint8_t {
  none,   // each matmul's output as it is
  act,    // out0 = act(out0): a GELU or SILU of the first output in place
  gated,  // then out0 = out0 * out1: a MUL by the second output in place
};

// A norm leading a group: its rows are the group's activation rows.
struct GroupNorm {
  NormArgs args;
  bool layer = false;  // LAYERNORM (with beta); else RMSNORM
};

struct GemvGroup {
  std::optional<GroupNorm> norm;  // the group's rows computed by the kernel
  std::array<MatmulArgs, kGemvGroupMax> mm{};
  std::size_t count = 0;
  GemvEpilogue epilogue = GemvEpilogue::none;
  UnaryOp act = UnaryOp::silu;

  // A group of one matmul.
  static GemvGroup of(const MatmulArgs& a);
  // A group of a norm alone (count 0): launched as the norm's own kernel
  // unless a matmul joins.
  static GemvGroup of(const NormArgs& n, bool layer);
  // Nothing more can join: the backend launches it at once.
  bool complete() const;
};

// The same elements: same place (no register moves it), dtype and count.
bool same_tensor(const TensorArg& x, const TensorArg& y);

// Whether two operands may share a byte; a moving operand may touch any
// byte of its buffer.
bool operands_overlap(const TensorArg& x, const TensorArg& y);

// Whether the group kernel can run `a` (alone or as a group's first).
// Offsets are into VRAM, whose base is 256-byte aligned.
bool gemv_groupable(const MatmulArgs& a, const GemvLimits& limits);

// Whether a norm may be held to lead a group: no moving operand, float
// dtypes, counts that match rows x cols (beta exactly for LAYERNORM), rows
// the kernel stages (as a matmul's m), and its output sharing no byte with
// its inputs (the first block writes it while every block reads them).
bool norm_groupable(const NormArgs& n, bool layer, const GemvLimits& limits);

// How the kernel stages a norm leading a group with
// CudaBackendOptions::async_norm_stage (tensor_kernels.cu, stage_norm), by
// cp.async in 16-byte copies, for rows longer than one round of the
// element-by-element loads (kNormDepth * kNormThreads columns; shorter ones
// are read as before: a GPT-2-small decode, 768 columns, ran 5% slower
// staged, docs/decisions.md): x where it is f32 at a 16-byte aligned
// address and cols is a multiple of 4 (a copy is four columns of a row);
// gamma (and LAYERNORM's beta) where each starts 16-byte aligned and holds
// whole 16-byte chunks, into params_bytes of shared memory after the
// activation rows (gamma, then beta from the next 16-byte boundary; 0:
// they are read from global memory). Addresses are device addresses.
struct NormStaging {
  bool x = false;
  std::uint64_t params_bytes = 0;
};
// The device addresses of a norm's x, gamma and beta (0: none).
struct NormAddresses {
  std::uint64_t x = 0, gamma = 0, beta = 0;
};
NormStaging norm_staging(const NormArgs& n, NormAddresses at);

// Each join returns true when `next` joined `g` (g then includes it), and
// false, with g unchanged, when it cannot: the backend then launches g and
// runs `next` on its own.
//
// A matmul joins a group of matmuls with no epilogue yet when it reads the
// same activation rows (same tensor, m and k), has weights of the same
// dtype as the group's first (the kernel is built per weight dtype), is
// groupable, the group's rows (its n, summed) stay in int range, and no output
// of the group (its own included) shares a byte with another output or with
// any input of the group: one launch reads and writes them all at once.
// A matmul joins a held norm alone when it reads exactly the norm's output
// as its rows (m = rows, k = cols) and its output shares no byte with the
// norm's inputs; every later matmul is held to that too.
bool join(GemvGroup& g, const MatmulArgs& next, const GemvLimits& limits);
// GELU or SILU joins a group of one or two matmuls with no epilogue when it
// rewrites the first output in place (out and x both exactly that tensor).
bool join(GemvGroup& g, const UnaryArgs& next);
// MUL joins a group of two matmuls whose first output was activated in
// place when it writes that output with the product of itself (a) and the
// second output (b), element for element (no broadcast).
bool join(GemvGroup& g, const BinaryArgs& next);

// What the kernel launched last may write, where its launch says so: the
// backend forgets it at every other stream operation (any launch, cuBLAS
// call, copy or fill) and records it after the launches that know their
// writes (a group's, the attention's, an embedding's). With programmatic
// dependent launch a group's kernel starts while that kernel finishes, and
// every kernel before that one has finished with its writes visible (that
// kernel waited for them before it let this one launch); so the group may
// read its weights before it waits where none of them can be among these
// writes.
class LaunchWrites {
 public:
  // A group's outputs and its norm's rows; the roped attention's out, q, k
  // and two cache rows.
  static constexpr std::size_t kMax = 5;
  static_assert(kMax >= kGemvGroupMax + 1);
  // Nothing known: no group reads early.
  void forget() { known_ = false; }
  // The launch writes at most these operands (more than kMax: forgotten).
  void set(std::span<const TensorArg> writes);
  // Whether every weight operand of `g` is known to lie apart from them.
  bool weights_apart(const GemvGroup& g) const;
  // Whether `g` has a norm whose gamma (and beta) are known to lie apart
  // from them, so that the kernel may stage them before it waits.
  bool norm_params_apart(const GemvGroup& g) const;

 private:
  std::array<TensorArg, kMax> t_{};
  std::size_t count_ = 0;
  bool known_ = false;
};
// The operands a group's launch writes: each matmul's output, and the
// norm's output (the rows its first block stores).
void set_group_writes(LaunchWrites& w, const GemvGroup& g);

// Outside a group (the rows of a prefill or of a batch, which cuBLAS
// multiplies): GELU or SILU in place may be held, and the MUL that then
// multiplies its output in place by another tensor of as many elements,
// sharing no byte with it, runs with it as one pass (k_act_mul).
bool act_holdable(const UnaryArgs& a);
bool act_mul_joinable(const UnaryArgs& act, const BinaryArgs& mul);

}  // namespace hix::vgpu::cuda
