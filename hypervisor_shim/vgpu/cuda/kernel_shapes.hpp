// The launch shapes the tensor kernels (tensor_kernels.cu, nvcc) are written
// for and the backend (cuda_backend.cpp, host compiler) launches them with:
// one definition for both sides.
#pragma once

namespace hix::vgpu::cuda::shapes {

inline constexpr unsigned kGemvWarps = 8;          // warps per GEMV block, one row each
inline constexpr unsigned kGemvNtCols = 32;        // output columns per transposed-GEMV block
inline constexpr unsigned kGemvNtSlices = 16;      // K slices per transposed-GEMV block
inline constexpr unsigned kGemmTile = 64;          // output tile edge of the tiled GEMM
inline constexpr unsigned kGemmK = 16;             // K step of the tiled GEMM
inline constexpr unsigned kAttWarps = 8;           // warps per attention block
inline constexpr unsigned kAttKeys = 32;           // keys per attention tile
inline constexpr unsigned kAttMaxDimsPerLane = 8;  // head dims per lane: head_dim <= 32 * this
inline constexpr unsigned kAttTileLoads = 2;       // 16-byte K (and V) loads in flight a thread
inline constexpr unsigned kTcWarps = 4;            // warps per tensor-core attention block
inline constexpr unsigned kTcRows = 64;  // query rows per tensor-core attention block (16 a warp)
inline constexpr unsigned kTcKeys = 64;  // keys per tensor-core attention tile
inline constexpr unsigned kTcPad = 8;    // bf16 elements past each staged row (bank spread)
inline constexpr unsigned kSampleThreads = 1024;      // threads of the sampling block
inline constexpr unsigned kSampleSortMax = 1024;      // top-k candidates sorted in shared memory
inline constexpr unsigned kArgmaxThreads = 1024;      // threads of an ARGMAX row's block
inline constexpr unsigned kArgmaxDepth = 8;           // 16-byte loads in flight an ARGMAX thread
inline constexpr unsigned kArgmaxSplitThreads = 256;  // threads of a split ARGMAX block
inline constexpr unsigned kArgmaxSplitSpan = 4096;    // columns of a split ARGMAX block

inline constexpr unsigned kGemvGroupWarps = 8;  // warps per GEMV-group block

// The GEMV-group kernel's parameters (gemv_fusion.hpp), passed by value:
// up to three matmuls over the same activation rows, device addresses.
struct GemvGroupPart {
  unsigned long long out, b, bias;  // bias 0: none
  unsigned n;
  int out_dt, bias_dt, accumulate;
};
inline constexpr unsigned kGemvGroupParts = 3;
inline constexpr int kGemvEpilogueNone = 0;
inline constexpr int kGemvEpilogueAct = 1;    // part 0's output activated in place
inline constexpr int kGemvEpilogueGated = 2;  // then times part 1's output
inline constexpr int kGemvNormNone = 0;
inline constexpr int kGemvNormRms = 1;    // a = RMSNORM(x) as k_rmsnorm computes it
inline constexpr int kGemvNormLayer = 2;  // a = LAYERNORM(x) as k_layernorm computes it
// The norm that leads a group: x [m, k] normalised into a (written by block
// 0 only; every block stages the same values).
struct GemvGroupNorm {
  unsigned long long x, gamma, beta;  // beta: LAYERNORM only
  int kind, x_dt, gamma_dt, beta_dt;
  float eps;
};
struct GemvGroupParams {
  GemvGroupPart part[kGemvGroupParts];
  GemvGroupNorm norm;  // kind kGemvNormNone: a is read as it is
  unsigned long long a;
  int a_dt;
  unsigned parts, k, rows;  // rows: the parts' n, summed
  int epilogue, act;        // act: 0 GELU, 1 SILU (k_unary's codes)
  // 1: no part's weights are written by the kernel launched before this one,
  // so they may be read before griddepcontrol.wait (programmatic dependent
  // launch); 0: after it, as every other read.
  int early_weights;
  // A leading norm's operands staged with cp.async (CudaBackendOptions::
  // async_norm_stage); 0: read element by element, as before.
  // stage_x: x (f32, 16-byte aligned, k a multiple of 4) copied into the
  // activation slots, every row at once, before the sums.
  // stage_params: gamma (and beta), 16-byte aligned whole 16-byte chunks,
  // copied into shared memory after the activation rows (gamma, then beta
  // from the next 16-byte boundary); 2: before griddepcontrol.wait (the
  // kernel launched before this one writes neither), 1: after it.
  int stage_x, stage_params;
};
// Threads of a GEMV-group block: those of k_rmsnorm's and k_layernorm's
// blocks, so that a norm leading a group sums in their order.
inline constexpr unsigned kNormThreads = 256;
static_assert(kGemvGroupWarps * 32 == kNormThreads);
// Loads in flight a thread where a GEMV group's norm reads x, gamma and beta
// element by element: a row of up to kNormDepth * kNormThreads columns takes
// one round of loads (gemv_fusion.hpp's norm_staging stages only longer ones).
inline constexpr unsigned kNormDepth = 4;

// ROPE of q and k in place and ATTENTION's cache stores in one launch
// (k_rope_store, rope_fusion.hpp), device addresses. k_rows and v_rows are
// the caches' rows for the tokens at the op's position (moved by register
// rows_reg times the strides when it is not -1).
struct RopeStoreParams {
  unsigned long long q, k, v, k_rows, v_rows;
  unsigned long long pos, k_stride, v_stride;
  int q_dt, k_dt, v_dt, kc_dt, vc_dt;
  unsigned tokens, q_heads, kv_heads, head_dim, rot_dim;
  float theta, factor, low_freq_factor, high_freq_factor;
  unsigned original_max_pos;
  int pos_reg, rows_reg;
};

// k_attention_roped's ROPE of q and k (CudaBackendOptions::rope_in_attention):
// the k and v rows of the token (device addresses, [kv_heads, head_dim]),
// their dtypes, and the angles' inputs (the position is the attention's).
struct RopeAttentionParams {
  unsigned long long k, v;
  int k_dt, v_dt;
  unsigned rot_dim;
  float theta, factor, low_freq_factor, high_freq_factor;
  unsigned original_max_pos;
};

// The backend's device words (u32 each), in one allocation; every kernel
// gets their start as `halt`.
inline constexpr unsigned kHaltWord = 0;    // set by a recorded BREAK_IF_EQ
inline constexpr unsigned kHaltIdWord = 1;  // its break_id
inline constexpr unsigned kErrorWord = 2;   // sticky: an embedding id was out of range
inline constexpr unsigned kIterWord = 3;    // iterations of an iteration replay ended
inline constexpr unsigned kRegWord = 4;     // R0..R7 of an iteration replay (spec §6.7)
inline constexpr unsigned kDrawsWord = 12;  // its rows sampled (u64, two words)
inline constexpr unsigned kWordCount = 16;

}  // namespace hix::vgpu::cuda::shapes
