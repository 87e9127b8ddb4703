// Writes seed inputs for the fuzz targets: one valid command buffer per op
// (naming the buffers fuzz_device.hpp creates), a generation-style loop, and
// ring entries carrying them. Usage: make_fuzz_seeds CMDBUF_DIR RING_DIR
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "hix/abi/vgpu_ring.h"
#include "hix/vgpu/cmdbuf_builder.hpp"

using namespace hix::vgpu;

namespace {

// fuzz_device.hpp's context and buffers (first of each: generation 1).
constexpr std::uint32_t kCtx = 0x10001;
constexpr std::uint32_t kB256 = 0x10001, kB1k = 0x10002, kB4k = 0x10003, kB16k = 0x10004;
constexpr std::uint8_t F = HIX_VGPU_DT_F32, H = HIX_VGPU_DT_BF16, I = HIX_VGPU_DT_I32;

bool write_file(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return false;
  const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  return std::fclose(f) == 0 && ok;
}

std::vector<CmdbufBuilder> programs() {
  std::vector<CmdbufBuilder> out;
  auto one = [&out](auto&& fn) {
    CmdbufBuilder b;
    fn(b);
    out.push_back(b);
  };
  one([](CmdbufBuilder& b) { b.fill(tref(kB1k, F), 16, 0x3F800000u); });
  one([](CmdbufBuilder& b) { b.copy(tref(kB1k, H), tref(kB4k, F), 64); });
  one([](CmdbufBuilder& b) {
    b.dma(HIX_VGPU_OP_DMA_IN, tref(kB1k, F), {.gpa = 0x140000, .bytes = 64});
  });
  one([](CmdbufBuilder& b) {
    b.dma(HIX_VGPU_OP_DMA_OUT, tref(kB1k, F), {.gpa = 0x140000, .bytes = 64});
  });
  one([](CmdbufBuilder& b) {
    b.dma_crypt(HIX_VGPU_OP_DMA_IN_DECRYPT, tref(kB1k, F), {.gpa = 0x140000, .bytes = 64},
                {.tensor_id = 1, .key_slot = 0});
  });
  one([](CmdbufBuilder& b) {
    b.dma_crypt(HIX_VGPU_OP_DMA_OUT_ENCRYPT, tref(kB1k, F), {.gpa = 0x140000, .bytes = 64},
                {.tensor_id = 1ull << 63 | 1, .key_slot = 0});
  });
  one([](CmdbufBuilder& b) {
    hix_vgpu_op_embedding r{};
    r.out = tref(kB1k, F);
    r.table = tref(kB4k, F);
    r.ids = tref(kB256, I);
    r.rows = 2;
    r.dim = 8;
    r.vocab = 16;
    b.add(HIX_VGPU_OP_EMBEDDING, r);
  });
  one([](CmdbufBuilder& b) {
    hix_vgpu_op_matmul r{};
    r.h.flags = HIX_VGPU_MATMUL_TRANS_B;
    r.out = tref(kB1k, F);
    r.a = tref(kB4k, F);
    r.b = tref(kB16k, H);
    r.bias = tref(kB256, F);
    r.m = 4;
    r.n = 8;
    r.k = 16;
    b.add(HIX_VGPU_OP_MATMUL, r);
  });
  for (const std::uint16_t op : {HIX_VGPU_OP_ADD, HIX_VGPU_OP_MUL}) {
    one([op](CmdbufBuilder& b) {
      hix_vgpu_op_binary r{};
      r.out = r.a = tref(kB1k, F);
      r.b = tref(kB256, F);
      r.n = 64;
      r.nb = 8;
      b.add(op, r);
    });
  }
  one([](CmdbufBuilder& b) {
    hix_vgpu_op_layernorm r{};
    r.out = r.x = tref(kB1k, F);
    r.gamma = r.beta = tref(kB256, F);
    r.rows = 4;
    r.cols = 16;
    r.eps = 1e-5f;
    b.add(HIX_VGPU_OP_LAYERNORM, r);
  });
  one([](CmdbufBuilder& b) {
    hix_vgpu_op_rmsnorm r{};
    r.out = r.x = tref(kB1k, F);
    r.gamma = tref(kB256, H);
    r.rows = 4;
    r.cols = 16;
    r.eps = 1e-6f;
    b.add(HIX_VGPU_OP_RMSNORM, r);
  });
  for (const std::uint16_t op : {HIX_VGPU_OP_GELU, HIX_VGPU_OP_SILU}) {
    one([op](CmdbufBuilder& b) {
      hix_vgpu_op_unary r{};
      r.out = r.x = tref(kB1k, F);
      r.count = 64;
      b.add(op, r);
    });
  }
  one([](CmdbufBuilder& b) {
    hix_vgpu_op_rows r{};
    r.out = r.x = tref(kB1k, F);
    r.rows = 4;
    r.cols = 16;
    b.add(HIX_VGPU_OP_SOFTMAX, r);
    r.out = tref(kB256, I);
    b.add(HIX_VGPU_OP_ARGMAX, r);
  });
  one([](CmdbufBuilder& b) {
    hix_vgpu_op_rope r{};
    r.out = r.x = tref(kB1k, F);
    r.tokens = 2;
    r.heads = 2;
    r.head_dim = 8;
    r.rot_dim = 8;
    r.pos_reg = 1;
    r.theta = 10000.0f;
    b.add(HIX_VGPU_OP_ROPE, r);
  });
  one([](CmdbufBuilder& b) {
    hix_vgpu_op_rope_llama3 r{};
    r.out = r.x = tref(kB1k, F);
    r.tokens = 2;
    r.heads = 2;
    r.head_dim = 8;
    r.rot_dim = 8;
    r.pos_reg = 1;
    r.theta = 500000.0f;
    r.factor = 32.0f;
    r.low_freq_factor = 1.0f;
    r.high_freq_factor = 4.0f;
    r.original_max_pos = 16;
    b.add(HIX_VGPU_OP_ROPE_LLAMA3, r);
  });
  one([](CmdbufBuilder& b) {
    hix_vgpu_op_attention r{};
    r.out = r.q = tref(kB1k, F);
    r.k = r.v = tref(kB256, F);
    r.k_cache = r.v_cache = tref(kB4k, F);
    r.tokens = 2;
    r.q_heads = 4;
    r.kv_heads = 2;
    r.head_dim = 8;
    r.max_seq = 32;
    r.pos_reg = 1;
    r.scale = 0.35f;
    b.add(HIX_VGPU_OP_ATTENTION, r);
  });
  one([](CmdbufBuilder& b) {
    hix_vgpu_op_sample r{};
    r.out = tref(kB256, I);
    r.x = tref(kB1k, F);
    r.rows = 2;
    r.cols = 16;
    r.temperature = 0.8f;
    r.top_k = 4;
    r.seed = 7;
    b.add(HIX_VGPU_OP_SAMPLE, r);
  });
  one([](CmdbufBuilder& b) {  // a batched decode step (spec §6.4.1) in a loop
    b.set_reg(1, 2);
    b.loop({.count = 3, .body_ops = 3});
    hix_vgpu_op_rope r{};
    r.h.flags = HIX_VGPU_BATCH;
    r.out = r.x = tref(kB1k, F);
    r.tokens = 2;
    r.heads = 4;
    r.head_dim = 8;
    r.rot_dim = 8;
    r.pos_reg = 1;
    r.theta = 10000.0f;
    b.add(HIX_VGPU_OP_ROPE, r);
    hix_vgpu_op_attention a{};
    a.h.flags = HIX_VGPU_BATCH;
    a.out = a.q = tref(kB1k, F);
    a.k = a.v = tref(kB256, F);
    a.k_cache = a.v_cache = tref(kB4k, F);
    a.tokens = 2;  // sequences: two caches of 8 rows
    a.q_heads = 4;
    a.kv_heads = 2;
    a.head_dim = 8;
    a.max_seq = 8;
    a.pos_reg = 1;
    a.scale = 0.35f;
    b.add(HIX_VGPU_OP_ATTENTION, a);
    b.add_reg(1, 1);
  });
  one([](CmdbufBuilder& b) {  // a decode-style loop
    b.set_reg(0, 0).set_reg(1, 3);
    b.loop({.count = 4, .body_ops = 3});
    b.fill(tref_indexed(kB256, I, 0, 0, 4), 1, 5);
    b.add_reg(0, 1);
    hix_vgpu_op_break_if_eq br{};
    br.x = tref_indexed(kB256, I, 0, 0, 4);
    br.value = 9;
    b.add(HIX_VGPU_OP_BREAK_IF_EQ, br);
  });
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: make_fuzz_seeds CMDBUF_DIR RING_DIR\n");
    return 2;
  }
  int n = 0;
  for (const auto& p : programs()) {
    const auto cmd = p.finish();
    std::vector<std::uint8_t> seed{0x01};  // fuzz_cmdbuf: repair the header
    for (const auto b : cmd) seed.push_back(static_cast<std::uint8_t>(b));
    // fuzz_ring_entry: mode 2 (sealed by the harness), pointed at the
    // command buffer, with the expected sequence number (0x40).
    hix_vgpu_ring_entry e{};
    e.ctx = kCtx;
    std::vector<std::uint8_t> ring{0xC2};
    ring.resize(1 + sizeof e);
    std::memcpy(ring.data() + 1, &e, sizeof e);
    for (const auto b : cmd) ring.push_back(static_cast<std::uint8_t>(b));
    const std::string name = "/seed-" + std::to_string(n++);
    if (!write_file(argv[1] + name, seed) || !write_file(argv[2] + name, ring)) {
      std::fprintf(stderr, "make_fuzz_seeds: cannot write seeds\n");
      return 1;
    }
  }
  return 0;
}
