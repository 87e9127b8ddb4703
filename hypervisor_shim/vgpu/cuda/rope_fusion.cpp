// ROPE pairs and their attention's cache stores as one launch: the rules
// (rope_fusion.hpp).
#include "rope_fusion.hpp"

#include "gemv_fusion.hpp"

namespace hix::vgpu::cuda {

bool rope_holdable(const RopeArgs& a) {
  return !a.batch && is_float(a.x.dtype) && same_tensor(a.out, a.x);
}

bool join(RopeHold& h, const RopeArgs& next) {
  if (h.count != 1 || !rope_holdable(next)) return false;
  const RopeArgs& first = h.r[0];
  const bool same_angles = next.tokens == first.tokens && next.head_dim == first.head_dim &&
                           next.rot_dim == first.rot_dim && next.pos == first.pos &&
                           next.pos_reg == first.pos_reg && next.theta == first.theta &&
                           next.llama3.factor == first.llama3.factor &&
                           next.llama3.low_freq_factor == first.llama3.low_freq_factor &&
                           next.llama3.high_freq_factor == first.llama3.high_freq_factor &&
                           next.llama3.original_max_pos == first.llama3.original_max_pos;
  if (!same_angles || operands_overlap(next.x, first.x)) return false;
  h.r[h.count++] = next;
  return true;
}

bool rope_store_fusable(const RopeHold& h, const AttentionArgs& a) {
  if (h.count != 2 || a.batch) return false;
  const RopeArgs& q = h.r[0];
  const RopeArgs& k = h.r[1];
  return same_tensor(q.x, a.q) && same_tensor(k.x, a.k) && !operands_overlap(a.v, a.q) &&
         !operands_overlap(a.v, a.k);
}

bool rope_attention_fusable(const RopeHold& h, const AttentionArgs& a, std::uint32_t max_group) {
  if (!rope_store_fusable(h, a) || a.tokens != 1 || a.kv_heads == 0) return false;
  const RopeArgs& q = h.r[0];
  const RopeArgs& k = h.r[1];
  return q.tokens == 1 && q.pos == a.pos && q.pos_reg == a.pos_reg && q.heads == a.q_heads &&
         k.heads == a.kv_heads && q.head_dim == a.head_dim && a.q_heads / a.kv_heads <= max_group &&
         !operands_overlap(a.out, a.k) && !operands_overlap(a.out, a.v);
}

}  // namespace hix::vgpu::cuda
