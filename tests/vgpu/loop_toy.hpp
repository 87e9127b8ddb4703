// The toy generator the loop-recording tests run (spec §6.6, §6.7): the
// shape of a model's decode loop on a few buffers, through a FakeBus over
// any backend, so a recording backend's outcome can be compared with an
// eager one's.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "fake_bus.hpp"

// Shapes are small uint32 constants; their products widen exactly.
// NOLINTBEGIN(bugprone-implicit-widening-of-multiplication-result)
namespace hix::vgpu::test {

constexpr std::uint32_t kVocab = 16, kDim = 8, kSeq = 40;
constexpr std::uint32_t kHeads = 2, kHeadDim = kDim / kHeads;

// What the toy's loop body does besides its core (below).
struct LoopShape {
  std::int32_t start = 0;  // R0 at loop entry: the first token's index
  bool attend = false;     // ROPE and ATTENTION at position R0 before the logits
  bool sample = false;     // SAMPLE instead of ARGMAX
  // With attend: q and k copies of x, each ROPEd in place, then ATTENTION
  // over q, k and v = x (a model's order) instead of one ROPE of x.
  bool rope_pair = false;
};

// A toy generator: tokens[R0+1] = argmax(table[tokens[R0]] . W^T), looped,
// optionally leaving when the new token equals `eos`; after the loop R0 is
// used once more (tokens[R0] copied to `last`), so the registers the loop
// left behind are checked too.
struct Toy {
  FakeBus bus;
  std::uint32_t ctx = 0, table = 0, w = 0, tokens = 0, x = 0, att = 0, kc = 0, vc = 0, logits = 0,
                last = 0, q = 0, k = 0;

  explicit Toy(std::unique_ptr<Backend> backend, DeviceConfig cfg = {})
      : bus(std::move(backend), std::move(cfg)) {
    bus.start_ring();
    ctx = bus.create_context();
    table = bus.alloc(ctx, kVocab * kDim * 4);
    w = bus.alloc(ctx, kVocab * kDim * 4);
    tokens = bus.alloc(ctx, kSeq * 4);
    x = bus.alloc(ctx, kDim * 4);
    att = bus.alloc(ctx, kDim * 4);
    kc = bus.alloc(ctx, kSeq * kDim * 4);
    vc = bus.alloc(ctx, kSeq * kDim * 4);
    logits = bus.alloc(ctx, kVocab * 4);
    last = bus.alloc(ctx, 4);
    q = bus.alloc(ctx, kDim * 4);
    k = bus.alloc(ctx, kDim * 4);
    std::vector<float> t(kVocab * kDim), m(kVocab * kDim);
    for (std::size_t i = 0; i < t.size(); ++i) {
      t[i] = static_cast<float>((i * 37 + 11) % 17) - 8.0f;
      m[i] = static_cast<float>((i * 53 + 5) % 19) - 9.0f;
    }
    bus.upload({.ctx = ctx, .handle = table}, t);
    bus.upload({.ctx = ctx, .handle = w}, m);
  }

  std::vector<std::byte> program(std::uint32_t steps, std::optional<std::int32_t> eos,
                                 std::int32_t first_token, bool bad_index = false,
                                 LoopShape v = {}) const {
    CmdbufBuilder cb;
    cb.fill(tref(tokens, HIX_VGPU_DT_I32), kSeq, 0);
    cb.fill(tref(tokens, HIX_VGPU_DT_I32, static_cast<std::uint64_t>(v.start) * 4), 1,
            static_cast<std::uint32_t>(first_token));
    cb.set_reg(0, v.start);
    CmdbufBuilder body;
    hix_vgpu_op_embedding e{};
    e.out = tref(x, HIX_VGPU_DT_F32);
    e.table = tref(table, HIX_VGPU_DT_F32);
    e.ids = tref_indexed(tokens, HIX_VGPU_DT_I32, 0, 0, 4);
    e.rows = 1;
    e.dim = kDim;
    e.vocab = kVocab;
    body.add(HIX_VGPU_OP_EMBEDDING, e);
    if (v.attend) {
      const auto rope = [&](std::uint32_t buf) {
        hix_vgpu_op_rope r{};
        r.out = r.x = tref(buf, HIX_VGPU_DT_F32);
        r.tokens = 1;
        r.heads = kHeads;
        r.head_dim = r.rot_dim = kHeadDim;
        r.pos_reg = 0;
        r.theta = 10000.0f;
        body.add(HIX_VGPU_OP_ROPE, r);
      };
      if (v.rope_pair) {
        body.copy(tref(q, HIX_VGPU_DT_F32), tref(x, HIX_VGPU_DT_F32), kDim);
        body.copy(tref(k, HIX_VGPU_DT_F32), tref(x, HIX_VGPU_DT_F32), kDim);
        rope(q);
        rope(k);
      } else {
        rope(x);
      }
      hix_vgpu_op_attention a{};
      a.out = tref(att, HIX_VGPU_DT_F32);
      a.q = tref(v.rope_pair ? q : x, HIX_VGPU_DT_F32);
      a.k = tref(v.rope_pair ? k : x, HIX_VGPU_DT_F32);
      a.v = tref(x, HIX_VGPU_DT_F32);
      a.k_cache = tref(kc, HIX_VGPU_DT_F32);
      a.v_cache = tref(vc, HIX_VGPU_DT_F32);
      a.tokens = 1;
      a.q_heads = a.kv_heads = kHeads;
      a.head_dim = kHeadDim;
      a.max_seq = kSeq;
      a.pos_reg = 0;
      a.scale = 0.5f;
      body.add(HIX_VGPU_OP_ATTENTION, a);
    }
    hix_vgpu_op_matmul mm{};
    mm.h.flags = HIX_VGPU_MATMUL_TRANS_B;
    mm.out = tref(logits, HIX_VGPU_DT_F32);
    mm.a = tref(v.attend ? att : x, HIX_VGPU_DT_F32);
    mm.b = tref(w, HIX_VGPU_DT_F32);
    mm.m = 1;
    mm.n = kVocab;
    mm.k = kDim;
    body.add(HIX_VGPU_OP_MATMUL, mm);
    body.add_reg(0, 1);
    // bad_index: the stride walks off the buffer partway through the loop.
    const hix_vgpu_tref next = tref_indexed(tokens, HIX_VGPU_DT_I32, 0, 0, bad_index ? 16 : 4);
    if (v.sample) {
      hix_vgpu_op_sample sm{};
      sm.out = next;
      sm.x = tref(logits, HIX_VGPU_DT_F32);
      sm.rows = 1;
      sm.cols = kVocab;
      sm.temperature = 4.0f;
      sm.seed = 99;
      body.add(HIX_VGPU_OP_SAMPLE, sm);
    } else {
      hix_vgpu_op_rows am{};
      am.out = next;
      am.x = tref(logits, HIX_VGPU_DT_F32);
      am.rows = 1;
      am.cols = kVocab;
      body.add(HIX_VGPU_OP_ARGMAX, am);
    }
    if (eos) {
      hix_vgpu_op_break_if_eq b{};
      b.x = tref_indexed(tokens, HIX_VGPU_DT_I32, 0, 0, 4);
      b.value = *eos;
      body.add(HIX_VGPU_OP_BREAK_IF_EQ, b);
    }
    cb.loop({.count = steps, .body_ops = body.op_count()}).append(body);
    cb.copy(tref(last, HIX_VGPU_DT_I32), tref_indexed(tokens, HIX_VGPU_DT_I32, 0, 0, 4), 1);
    return cb.finish();
  }

  struct Outcome {
    Status status;
    std::vector<std::int32_t> tokens;
    std::int32_t last;
    bool operator==(const Outcome&) const = default;
  };
  Outcome run(const std::vector<std::byte>& prog) {
    const Status s = bus.submit(ctx, prog);
    return {s, bus.download_i32({.ctx = ctx, .handle = tokens}, kSeq),
            bus.download_i32({.ctx = ctx, .handle = last}, 1)[0]};
  }
};

}  // namespace hix::vgpu::test
// NOLINTEND(bugprone-implicit-widening-of-multiplication-result)
