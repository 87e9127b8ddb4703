// The cuda compute backend (docs/architecture.md §5.2, docs/specs/hix-gpu.md
// §6.7): VRAM is one device allocation on a CUDA GPU and the tensor ISA runs
// as our own kernels (tensor_kernels.cu, built by nvcc into a fatbin that this
// backend loads as a module through the CUDA Driver API) plus cuBLAS for the
// GEMMs where it wins. Storage is f32 or bf16 per operand; arithmetic is fp32
// (reductions accumulate in fp32). Ops are queued on one stream and finish()
// waits for them; LOOPs can be recorded into CUDA graphs and replayed.
//
// The Driver API is reached through entry points the CUDA runtime hands out
// (cudaGetDriverEntryPointByVersion), so programs that link this backend
// start on a machine without a GPU driver and create() answers unavailable
// there. No CUDA types appear here: the device server includes this header
// with the host compiler alone.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "backend.hpp"

namespace hix::vgpu::cuda {

// The small-m matmul kernel (tensor_kernels.cu): `legacy` is one warp per
// output column with the activations read from L1 for every weight chunk,
// one launch per matmul; the others are the GEMV-group kernel (activations
// staged once per block in shared memory, C weight rows per warp, U 16-byte
// loads per row in flight per lane), which also runs GEMV groups
// (gemv_fusion.hpp) as one launch.
enum class GemvKernel : std::uint8_t { legacy, c2u4, c4u4, c2u8 };

struct CudaBackendOptions {
  int device = 0;
  // GEMMs with at least this many rows (m) go to cuBLAS; fewer rows use the
  // fused GEMV/small-m kernel, which streams the weights once.
  std::uint32_t cublas_min_rows = 8;
  // false: never call cuBLAS (tests compare both paths).
  bool use_cublas = true;
  // GEMMs of a recorded loop (a CUDA graph) go to cuBLAS too, captured with
  // the handle's own workspace (batched decode: the weights read once per
  // step on tensor cores); false: our tiled GEMM while recording, as before
  // (docs/decisions.md, "Batched decode").
  bool cublas_in_recordings = true;
  // c2u4 since it ran on a GPU (H100, 2026-12-07: every shape's decode
  // 10-15% faster than legacy, the same tokens; docs/performance.md,
  // "Decode at batch 1: what changed").
  GemvKernel gemv = GemvKernel::c2u4;
  // Consecutive ops that form a GEMV group run as one launch (not with
  // legacy). The backend then holds such ops back until an op that cannot
  // join arrives, or any other call: a held op's launch failure is reported
  // by the call that launches it.
  bool group_gemvs = true;
  // Three fusions of launches, each with group_gemvs (HIX_CUDA_GROUP_NORMS,
  // _ROPES, _ACT_MUL). On since their cases passed on a GPU and they were
  // timed against the launches they replace (H100, 2026-12-07: decode 6%
  // faster on GPT-2-small, 5% on Llama-1B, 2% on Llama-8B, the same tokens;
  // the Llama-8B 1024-token prefill 6% faster; docs/performance.md, "Issue
  // 14's targets"); the backend test's cuda/unfused configuration runs every
  // case with all three off.
  // - A RMSNORM or LAYERNORM whose rows the next matmuls of a GEMV group read
  //   leads the group (gemv_fusion.hpp): one launch fewer a norm.
  bool group_norms = true;
  // - The ROPEs of q and k run with the ATTENTION's cache stores after them
  //   as one launch (rope_fusion.hpp, k_rope_store).
  bool group_ropes = true;
  // - GELU or SILU in place outside a GEMV group (prefill and batched rows)
  //   and the MUL of its output by another tensor after it run as one pass
  //   (k_act_mul).
  bool group_act_mul = true;
  // Prefill attention over bf16 q and caches on tensor cores where
  // attention_plan.hpp's rule allows (false: always k_attention). On since
  // its cases passed on a GPU (H100, 2026-12-07; docs/performance.md,
  // "Prefill on tensor cores").
  bool tc_attention = true;
  // Programmatic dependent launch (sm_90): each kernel is launched allowed
  // to start while the kernel before it in the stream finishes, and waits
  // on the GPU (griddepcontrol.wait, in tensor_kernels.cu's halted()) for
  // that kernel's writes before its first read of device memory (a GEMV
  // group's first weights excepted where the kernel ahead is known to write
  // elsewhere: gemv_fusion.hpp, LaunchWrites); inside a recording the graph
  // keeps these edges. On since it was timed on a GPU (H100, 2026-12-07,
  // run E: decode 16% faster on GPT-2-small, 6% on Llama-1B, 3% on
  // Llama-8B, the same tokens; docs/performance.md, "Issue 14's targets");
  // ignored where the driver has no cuLaunchKernelEx.
  bool pdl = true;
  // A norm leading a GEMV group stages x and gamma (and beta) by cp.async,
  // gamma before the kernel waits for the one ahead where that one writes
  // elsewhere, rather than in rounds of loads each after the wait; only rows
  // longer than one round (norm_staging in gemv_fusion.hpp). On since its
  // cases passed on a GPU with the same bits as without and it was timed
  // there (H100, 2026-12-07, run G: Llama-1B decode 2% faster, Llama-8B
  // 1.6%; GPT-2-small, whose rows take one round, 5% slower staged, hence
  // the rule; docs/performance.md). HIX_CUDA_ASYNC_NORM_STAGE=0 turns it off.
  bool async_norm_stage = true;
  // Three paths built against run F's trace and timed in run G, off because
  // they were not faster on every shape (docs/decisions.md, "Merges in the
  // last block ..."); each stores the bits of the path it replaces:
  // - ATTENTION over key splits merges them in its own launch, the last
  //   block of a row block to finish merging (k_attention_merged,
  //   last_to_arrive; no k_attention_combine launch;
  //   HIX_CUDA_ATTENTION_MERGE).
  bool attention_merge = false;
  // - The ROPEs of q and k and the cache stores at one token's decode run
  //   inside the attention's launch (k_attention_roped, rope_fusion.hpp's
  //   rope_attention_fusable), which merges its key splits as
  //   attention_merge does (HIX_CUDA_ROPE_IN_ATTENTION).
  bool rope_in_attention = false;
  // - ARGMAX over a long row splits it across blocks, the row's last block
  //   taking the best of their keys (k_argmax_split, kArgmaxSplitSpan
  //   columns a block; HIX_CUDA_SPLIT_ARGMAX).
  bool split_argmax = false;
  // Every launch timed on the GPU (kernel_profile.hpp) and the sums by
  // kernel written to stderr when the backend closes; nothing is recorded
  // (can_record() is false: loops run op by op), so a profiled run shows
  // each op's own time. For diagnosis (HIX_CUDA_PROFILE=1), never a figure.
  bool profile = false;
};

// The options with HIX_CUDA_GEMV (legacy, c2u4, c4u4, c2u8),
// HIX_CUDA_GROUP_GEMVS (0 or 1), HIX_CUDA_GROUP_NORMS (0 or 1),
// HIX_CUDA_GROUP_ROPES (0 or 1), HIX_CUDA_GROUP_ACT_MUL (0 or 1),
// HIX_CUDA_TC_ATTENTION (0 or 1), HIX_CUDA_PDL (0 or 1),
// HIX_CUDA_ATTENTION_MERGE (0 or 1), HIX_CUDA_SPLIT_ARGMAX (0 or 1),
// HIX_CUDA_ASYNC_NORM_STAGE (0 or 1), HIX_CUDA_ROPE_IN_ATTENTION (0 or 1),
// HIX_CUDA_PROFILE (0 or 1),
// HIX_CUDA_CUBLAS_RECORD (0 or 1: cublas_in_recordings) and
// HIX_CUDA_CUBLAS_MIN_ROWS (1..4096) from the
// environment applied over `base`, for benchmark sweeps; unset or unknown
// values leave `base` as it is.
CudaBackendOptions options_from_environment(CudaBackendOptions base = {});

class CudaBackend final : public Backend {
 public:
  // unavailable when there is no driver or no such device, no_memory when
  // VRAM of that size cannot be allocated, internal on other CUDA errors.
  [[nodiscard]] static Result<std::unique_ptr<CudaBackend>> create(
      std::uint64_t vram_bytes, const CudaBackendOptions& options = {});
  ~CudaBackend() override;
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;

  std::string_view name() const override { return "cuda"; }
  std::uint64_t vram_size() const override;

  Status write_bytes(VramOffset dst, std::span<const std::byte> src) override;
  Status read_bytes(VramOffset src, std::span<std::byte> dst) override;
  Status zero(VramOffset dst, std::uint64_t bytes) override;

  Status fill(const TensorArg& dst, std::uint32_t bits) override;
  Status copy(const TensorArg& dst, const TensorArg& src) override;
  Status embedding(const EmbeddingArgs& a) override;
  Status matmul(const MatmulArgs& a) override;
  Status binary(const BinaryArgs& a) override;
  Status layernorm(const NormArgs& a) override;
  Status rmsnorm(const NormArgs& a) override;
  Status unary(const UnaryArgs& a) override;
  Status softmax(const RowsArgs& a) override;
  Status rope(const RopeArgs& a) override;
  Status attention(const AttentionArgs& a) override;
  // ATTENTION with HIX_VGPU_BATCH (spec §6.4.1).
  Status attention_batch(const AttentionArgs& a);
  Status argmax(const RowsArgs& a) override;
  Status sample(const SampleArgs& a) override;

  Status finish() override;
  Status pin_host(std::span<std::byte> range) override;
  void unpin_host(std::span<std::byte> range) override;

  bool can_record() const override;
  Status begin_recording() override;
  Status record_break_if_eq(const TensorArg& x, std::int32_t value,
                            std::uint32_t break_id) override;
  Status end_recording(std::uint64_t key) override;
  void abort_recording() override;
  Result<std::optional<std::uint32_t>> replay(std::uint64_t key) override;
  void drop_recordings() override;
  bool can_record_iterations() const override;
  Status record_reg(std::uint8_t reg, std::int32_t value, bool set) override;
  Status record_iteration_end(std::uint64_t draws) override;
  Result<std::optional<IterationBreak>> replay_iterations(std::uint64_t key,
                                                          const IterationStart& start) override;

  DeviceCrypto* device_crypto() override;

  // The device address of VRAM offset 0 (a CUdeviceptr), for tests and
  // benchmarks that time their own copies against the backend's.
  std::uint64_t device_base() const;
  // The backend's stream, as an opaque CUstream.
  void* stream() const;

 private:
  struct Impl;
  explicit CudaBackend(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace hix::vgpu::cuda
