// Which kernel runs an ATTENTION op on the cuda backend (attention_plan.hpp).
#include "attention_plan.hpp"

#include <climits>

#include "kernel_shapes.hpp"

namespace hix::vgpu::cuda {

AttentionKernel attention_kernel(const AttentionArgs& a) {
  const bool bf16 =
      a.q.dtype == DType::bf16 && a.k_cache.dtype == DType::bf16 && a.v_cache.dtype == DType::bf16;
  const bool out_float = a.out.dtype == DType::f32 || a.out.dtype == DType::bf16;
  const bool head_dim = a.head_dim == 64 || a.head_dim == 128;
  const bool prefill = !a.pos_reg.has_value() && a.tokens >= kTcAttentionMinTokens;
  return bf16 && out_float && head_dim && prefill ? AttentionKernel::tensor_cores
                                                  : AttentionKernel::cuda_cores;
}

std::optional<TcAttentionPlan> plan_tc_attention(const AttentionArgs& a, std::uint64_t k_address,
                                                 std::uint64_t v_address) {
  if (a.kv_heads == 0 || a.q_heads % a.kv_heads != 0) return std::nullopt;
  const std::uint64_t rows = std::uint64_t{a.tokens} * (a.q_heads / a.kv_heads);
  const std::uint64_t tiles = (rows + shapes::kTcRows - 1) / shapes::kTcRows;
  // CUDA's grid limits: x up to 2^31 - 1, y up to 65535.
  if (tiles == 0 || tiles > INT_MAX || a.kv_heads > 65535) return std::nullopt;
  // A K/V row is kv_heads * head_dim bf16 from the cache's start and a head
  // head_dim from its row's; with head_dim 64 or 128 both are multiples of
  // 16 bytes, so the base addresses decide.
  const bool aligned_rows = (std::uint64_t{a.head_dim} * 2) % 16 == 0;
  const bool aligned = aligned_rows && k_address % 16 == 0 && v_address % 16 == 0;
  return TcAttentionPlan{.row_tiles = static_cast<std::uint32_t>(tiles),
                         .kv_heads = a.kv_heads,
                         .threads = shapes::kTcWarps * 32,
                         .vector_loads = aligned};
}

}  // namespace hix::vgpu::cuda
