// Which kernel runs an ATTENTION op (spec §6.4, 0x1A) on the cuda backend,
// and the launch shape of the tensor-core one (tensor_kernels.cu,
// k_attention_tc_d*): the rule and the tile plan as plain host code over the
// operands the executor hands the backend, so the host unit tests check
// every condition without a GPU (docs/decisions.md, "Prefill attention on
// tensor cores").
#pragma once

#include <cstdint>
#include <optional>

#include "backend.hpp"

namespace hix::vgpu::cuda {

// Query tokens from which a prefill chunk goes to the tensor-core kernel.
// Below it, one query row per warp with the keys split across blocks
// (k_attention) keeps every SM busy; the tensor-core kernel's blocks of 64
// query rows would leave most of them idle.
inline constexpr std::uint32_t kTcAttentionMinTokens = 16;

enum class AttentionKernel : std::uint8_t {
  cuda_cores,    // k_attention (+ k_attention_combine): f32 arithmetic, any operands
  tensor_cores,  // k_attention_tc_d64 / _d128: bf16 q·k and bf16 weights·v
};

// The tensor-core kernel takes a prefill chunk of bf16 q over bf16 caches
// (out f32 or bf16), at a position the host knows (no pos_reg), of at least
// kTcAttentionMinTokens tokens, with head_dim 64 or 128. Everything else
// (f32 operands, the reference mode; decode; other head sizes) stays on
// k_attention, whose arithmetic is f32 throughout.
[[nodiscard]] AttentionKernel attention_kernel(const AttentionArgs& a);

// The tensor-core launch: blocks of kTcRows query rows of one kv head (a
// row is a (token, q head of the group) pair, GQA heads sharing the K/V
// tiles), grid x the row tiles, grid y the kv heads.
struct TcAttentionPlan {
  std::uint32_t row_tiles = 0;  // grid x
  std::uint32_t kv_heads = 0;   // grid y
  std::uint32_t threads = 0;    // per block
  // Whether every K/V row of the caches starts 16-byte aligned, so tiles
  // are staged with 16-byte loads (else 2-byte loads; q is read in pairs).
  bool vector_loads = false;
};

// The plan for `a` with k_cache and v_cache at these device addresses;
// nullopt when the grid does not fit a launch (the cuda-core kernel runs).
[[nodiscard]] std::optional<TcAttentionPlan> plan_tc_attention(const AttentionArgs& a,
                                                               std::uint64_t k_address,
                                                               std::uint64_t v_address);

}  // namespace hix::vgpu::cuda
