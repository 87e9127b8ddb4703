// ROPE of q, ROPE of k, then the ATTENTION over them: a Llama decode step
// (user_runtime/libhix/model/program.cpp) emits them in that order, and the
// cuda backend runs the two ROPEs and the attention's K and V cache stores
// as one launch (tensor_kernels.cu, k_rope_store) when that leaves VRAM
// exactly as the ops one by one would. The backend holds a ROPE that may be
// the first of such a run, and a second that joins it; any other call
// launches them as they are. Every rule is here, over the resolved
// operands, with no CUDA types, so the host unit tests check each condition
// without a GPU.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "backend.hpp"

namespace hix::vgpu::cuda {

// One or two ROPEs held back: q's, then k's.
struct RopeHold {
  std::array<RopeArgs, 2> r{};
  std::size_t count = 0;
};

// Whether a ROPE may be held: in place (out is exactly x), a float dtype,
// no moving operand, not BATCH.
bool rope_holdable(const RopeArgs& a);

// A second ROPE joins a held one when it too may be held, turns the same
// angles (tokens, head_dim, rot_dim, pos, pos_reg, theta and the llama3
// scaling) and shares no byte with the first's tensor.
bool join(RopeHold& h, const RopeArgs& next);

// Whether the held pair may run with `a`'s cache stores in one launch: `a`
// is not BATCH, reads exactly the first ROPE's tensor as q and the second's
// as k, and its v shares no byte with either (one by one, v is read after
// both are rewritten). The backend adds its own conditions on the stores
// (nothing staged, the two stores allowed as one launch).
bool rope_store_fusable(const RopeHold& h, const AttentionArgs& a);

// Whether the held pair, its cache stores and `a` may run as one attention
// launch (CudaBackendOptions::rope_in_attention, k_attention_roped), where
// rope_store_fusable holds and the backend stages nothing: one token at the
// attention's own position (the same pos and pos_reg), the ROPEs' heads and
// head_dim the attention's, at most `max_group` query heads a kv head (one
// block's rows: the block that writes k's row is the only one that reads
// it), and out sharing no byte with k or v (the launch's last blocks write
// out while others may still read them).
bool rope_attention_fusable(const RopeHold& h, const AttentionArgs& a, std::uint32_t max_group);

}  // namespace hix::vgpu::cuda
