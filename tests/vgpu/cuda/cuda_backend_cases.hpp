// The cuda backend's op cases against the cpu reference (spec §6.4-§6.6)
// that more than one test file of hix-cuda-backend-test runs: each case
// writes identical random inputs at identical VRAM offsets, runs the op on
// every backend and compares within the tolerance stated here per op (exact
// where the spec makes the result exact). Also the helpers the cases share
// and the names the cases get in test names.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "backend_pair.hpp"

namespace hix::vgpu::cuda::test {

using Pair = BackendPair;

inline constexpr DType F32 = DType::f32;
inline constexpr DType BF16 = DType::bf16;
inline constexpr DType I32 = DType::i32;

inline std::uint64_t cnt(std::uint64_t a, std::uint64_t b = 1, std::uint64_t c = 1) {
  return a * b * c;
}

float max_abs(std::span<const float> v);
std::uint32_t f32_bits(float f);
float bits_f32(std::uint32_t b);

// Elementwise fp32 compute rounded once to the output's type: one unit in
// the last place of the output type, relative to the value.
Tol ulp_tol(DType out);

// fp32 compute of transcendental or reduced values (sum order, expf/tanhf
// differ by a few ulp): `rel` for an f32 output, one bf16 ulp more for bf16.
Tol float_tol(DType out, double atol, double rel);

// "plus3": a misalignment (elements past a 256-byte boundary) in test names.
std::string plus(std::uint64_t misalign);

// The switches that store the defaults' bits, flipped (variants()'s
// "cuda/flipped-switches"), store the bits the defaults ("cuda") store: `t`
// as both left it must be equal byte for byte (a failure where the pair
// has GPUs but not both configurations).
void expect_flipped_bits_equal(Pair& p, const TensorArg& t, const char* what);

struct MatmulCase {
  std::uint32_t m, n, k;
  DType a_dt, b_dt, out_dt, bias_dt;
  bool trans_b, bias, accumulate;
  std::uint64_t mis;
};
std::string matmul_name(const MatmulCase& c);
void matmul_case(Pair& p, const MatmulCase& c);

struct NormCase {
  bool layer;
  std::uint32_t rows, cols;
  DType x_dt, g_dt, out_dt;
  std::uint64_t mis;
  bool in_place;
};
std::string norm_name(const NormCase& c);
void norm_case(Pair& p, const NormCase& c);

struct UnaryCase {
  UnaryOp op;
  std::uint64_t n;
  DType x_dt, out_dt;
  std::uint64_t mis;
  bool in_place;
};
std::string unary_name(const UnaryCase& c);
void unary_case(Pair& p, const UnaryCase& c);

struct SoftmaxCase {
  std::uint32_t rows, cols;
  DType x_dt, out_dt;
  std::uint64_t mis;
  bool in_place;
};
std::string softmax_name(const SoftmaxCase& c);
void softmax_case(Pair& p, const SoftmaxCase& c);

struct RopeCase {
  std::uint32_t tokens, heads, head_dim, rot_dim;
  std::uint64_t pos;
  DType x_dt, out_dt;
  std::uint64_t mis;
  bool in_place;
};
std::string rope_name(const RopeCase& c);
void rope_case(Pair& p, const RopeCase& c);
// ROPE_LLAMA3: the same shapes with Llama 3's frequency scaling, its bands
// placed so that every one of them holds some pairs.
void rope_llama3_case(Pair& p, const RopeCase& c);

// ATTENTION on the tensor-core kernel (attention_plan.hpp; spec §6.4: bf16
// q and caches): each unnormalised weight p_j is rounded to bf16 (relative
// error at most u = 2^-9) before it multiplies v, the normaliser l sums the
// f32 weights, so the output differs from the f32 reference by at most
// |sum_j (p^_j - p_j) v_j| / l <= u * sum_j p_j |v_j| / l <= u * max|v| —
// plus the f32 terms of every attention case (dots in another order, exp2
// for exp: 2e-5 + 1e-5 relative), plus one bf16 ulp for a bf16 output.
// `v_max`: the largest |v| among the cache rows read.
Tol tc_attention_tol(DType out, double v_max);

struct AttnCfg {
  std::uint32_t q_heads, kv_heads, head_dim;
  DType qkv_dt, cache_dt, out_dt;
  float scale;
  bool out_is_q;
  bool rope = false;  // ROPE (llama3-scaled) of q and of k in place before each attention
  // Nonzero: the cache's first `history` rows as an earlier prefill left
  // them, then two decode steps (one token at history, then at history + 1).
  std::uint32_t history = 0;
};
std::string attention_name(const AttnCfg& c);
// Prefill of 17 tokens at position 0, decode of one token at 17 and at 18,
// then a chunk that fills the cache to max_seq exactly (with `history`: the
// two decode steps after it, their keys split across blocks from 129 on),
// each a step of the running test; with `rope`, each step's q and k roped
// first (the run the cuda backend may launch with the cache stores, or
// inside the attention's launch, rope_fusion.hpp). Each step also checks
// that the flipped switches store the defaults' bits.
void attention_sequence(Pair& p, const AttnCfg& c);

}  // namespace hix::vgpu::cuda::test
