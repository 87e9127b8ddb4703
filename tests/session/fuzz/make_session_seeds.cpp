// Seeds for the session fuzz targets: valid sealed messages for the fixed
// world of fuzz_world.hpp (deterministic keys, so they authenticate on
// every run) and valid command buffers for its synthetic session.
//   make_session_seeds MESSAGE_DIR VALIDATOR_DIR
// The same files are committed under tests/session/fuzz/seeds/.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz_world.hpp"
#include "hix/vgpu/cmdbuf_builder.hpp"

using namespace hix::session;
using namespace hix::session::fuzz;
using hix::vgpu::CmdbufBuilder;
using hix::vgpu::tref;

namespace {

void write(const std::string& path, const Bytes& b) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr || std::fwrite(b.data(), 1, b.size(), f) != b.size()) {
    std::perror(path.c_str());
    std::exit(1);
  }
  std::fclose(f);
}

Bytes bytes(const std::vector<std::byte>& v) {
  Bytes b(v.size());
  std::memcpy(b.data(), v.data(), v.size());
  return b;
}

template <class T>
void put(Bytes& b, const T& v) {
  const auto* p = reinterpret_cast<const std::uint8_t*>(&v);
  b.insert(b.end(), p, p + sizeof v);
}

// A record of fuzz_message's input: kind, length, payload.
void record(Bytes& out, std::uint8_t kind, const Bytes& payload) {
  out.push_back(kind);
  put(out, static_cast<std::uint16_t>(payload.size()));
  out.insert(out.end(), payload.begin(), payload.end());
}

// A plaintext record the harness seals with the expected counter.
void plain_record(Bytes& out, std::uint16_t type, const Bytes& body) {
  Bytes p;
  put(p, type);
  p.insert(p.end(), body.begin(), body.end());
  record(out, 1 | (1 << 1), p);
}

Bytes alloc_body(std::initializer_list<std::uint64_t> sizes) {
  Bytes b;
  put(b, hix_msg_alloc{static_cast<std::uint32_t>(sizes.size()), 0});
  for (const std::uint64_t s : sizes) put(b, s);
  return b;
}

// The handles a fresh world's first ALLOC of two buffers returns.
std::array<std::uint32_t, 2> first_handles() {
  World w;
  if (!w.start()) std::exit(1);
  const Bytes msg = w.seal(HIX_MSG_ALLOC, alloc_body({4096, 4096}), 1);
  Bytes buf(call_buffer_bytes(static_cast<std::uint32_t>(msg.size())));
  gpu_enclave_call c{w.sid, 0, static_cast<std::uint32_t>(msg.size()), 0};
  std::memcpy(buf.data(), &c, sizeof c);
  std::memcpy(buf.data() + sizeof c, msg.data(), msg.size());
  if (w.service->call(buf) != CallBuffer::ok) std::exit(1);
  std::memcpy(&c, buf.data(), sizeof c);
  Bytes resp(buf.begin() + sizeof c, buf.begin() + sizeof c + c.length);
  hix_msg_header h{};
  if (parse_header(resp, HIX_MSG_TO_CLIENT, h) != Status::ok || !open_in_place(resp, h, w.k_e2c)) {
    std::exit(1);
  }
  std::array<std::uint32_t, 2> out{};
  std::memcpy(out.data(), resp.data() + kMsgHeaderBytes + sizeof(hix_msg_status), 8);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: make_session_seeds MESSAGE_DIR VALIDATOR_DIR\n");
    return 2;
  }
  const std::string msg_dir = argv[1];
  const std::string val_dir = argv[2];

  // ---- message ----
  {
    World w;
    if (!w.start()) return 1;
    Bytes raw;
    record(raw, 0, w.seal(HIX_MSG_ALLOC, alloc_body({4096, 4096}), 1));
    record(raw, 0, w.seal(HIX_MSG_CLOSE, {}, 2));
    write(msg_dir + "/raw_alloc_close", raw);
  }
  const auto h = first_handles();
  {
    Bytes seq;
    plain_record(seq, HIX_MSG_ALLOC, alloc_body({4096, 4096}));
    CmdbufBuilder b;
    b.dma_crypt(HIX_VGPU_OP_DMA_IN_DECRYPT, tref(h[0], HIX_VGPU_DT_F32),
                {.gpa = World::kWindow, .bytes = 256}, {.tensor_id = 1, .key_slot = 0});
    b.copy(tref(h[1], HIX_VGPU_DT_F32), tref(h[0], HIX_VGPU_DT_F32), 64);
    b.dma_crypt(HIX_VGPU_OP_DMA_OUT_ENCRYPT, tref(h[1], HIX_VGPU_DT_F32),
                {.gpa = World::kWindow + World::kExtent, .bytes = 256},
                {.tensor_id = HIX_VGPU_TENSOR_ID_DEVICE | 1, .key_slot = 0});
    plain_record(seq, HIX_MSG_SUBMIT, bytes(b.finish()));
    Bytes fr;
    put(fr, hix_msg_free{1, 0});
    put(fr, h[0]);
    plain_record(seq, HIX_MSG_FREE, fr);
    plain_record(seq, HIX_MSG_CLOSE, {});
    write(msg_dir + "/alloc_submit_free_close", seq);
  }
  {
    Bytes seq;
    hix_msg_model_key mk{};
    mk.slot = 3;
    std::memset(mk.key, 0x33, sizeof mk.key);
    Bytes body;
    put(body, mk);
    plain_record(seq, HIX_MSG_MODEL_KEY, body);
    plain_record(seq, HIX_MSG_MODEL_KEY, body);  // twice: refused
    plain_record(seq, HIX_MSG_ALLOC, alloc_body({64}));
    CmdbufBuilder b;
    b.fill(tref(h[0], HIX_VGPU_DT_F32), 16, 0x3f800000)
        .loop({.count = 4, .body_ops = 1})
        .add_reg(0, 1);
    plain_record(seq, HIX_MSG_SUBMIT, bytes(b.finish()));
    write(msg_dir + "/model_key_loop", seq);
  }

  // ---- validator ----
  const auto seed = [&](const std::string& name, Mode mode, const CmdbufBuilder& b) {
    Bytes out{static_cast<std::uint8_t>(mode == Mode::plain ? 1 : 0)};
    const Bytes cmd = bytes(b.finish());
    out.insert(out.end(), cmd.begin(), cmd.end());
    write(val_dir + "/" + name, out);
  };
  {
    CmdbufBuilder b;
    b.dma_crypt(HIX_VGPU_OP_DMA_IN_DECRYPT, tref(kBufA, HIX_VGPU_DT_F32),
                {.gpa = kExtent0, .bytes = 4096}, {.tensor_id = 11, .key_slot = 0});
    b.dma_crypt(HIX_VGPU_OP_DMA_IN_DECRYPT, tref(kBufB, HIX_VGPU_DT_BF16),
                {.gpa = kExtent0 + kExtentBytes, .bytes = 2048}, {.tensor_id = 5, .key_slot = 2});
    b.copy(tref(kBufB, HIX_VGPU_DT_F32), tref(kBufA, HIX_VGPU_DT_F32), 1024);
    b.dma_crypt(HIX_VGPU_OP_DMA_OUT_ENCRYPT, tref(kBufB, HIX_VGPU_DT_F32),
                {.gpa = kExtent0 + 8192, .bytes = 4096},
                {.tensor_id = HIX_VGPU_TENSOR_ID_DEVICE | 1, .key_slot = 0});
    seed("decrypt_copy_encrypt", Mode::protected_mode, b);
  }
  {
    CmdbufBuilder b;
    hix_vgpu_op_matmul mm{};
    mm.out = mm.a = mm.b = tref(kBufA, HIX_VGPU_DT_F32);
    mm.m = mm.n = mm.k = 4;
    b.add(HIX_VGPU_OP_MATMUL, mm);
    hix_vgpu_op_rope rope{};
    rope.out = rope.x = tref(kBufB, HIX_VGPU_DT_F32);
    rope.tokens = rope.heads = 1;
    rope.head_dim = rope.rot_dim = 4;
    rope.pos_reg = 1;
    rope.theta = 10000.0f;
    hix_vgpu_op_break_if_eq br{};
    br.x = hix::vgpu::tref_indexed(kBufA, HIX_VGPU_DT_I32, 0, 0, 4);
    b.set_reg(0, 0)
        .loop({.count = 8, .body_ops = 3})
        .add(HIX_VGPU_OP_ROPE, rope)
        .add_reg(0, 1)
        .add(HIX_VGPU_OP_BREAK_IF_EQ, br);
    seed("matmul_loop_rope", Mode::protected_mode, b);
  }
  {
    CmdbufBuilder b;
    hix_vgpu_op_rope_llama3 rope{};
    rope.out = rope.x = tref(kBufB, HIX_VGPU_DT_F32);
    rope.tokens = rope.heads = 1;
    rope.head_dim = rope.rot_dim = 4;
    rope.pos_reg = 1;
    rope.theta = 500000.0f;
    rope.factor = 32.0f;
    rope.low_freq_factor = 1.0f;
    rope.high_freq_factor = 4.0f;
    rope.original_max_pos = 8192;
    b.set_reg(1, 3).add(HIX_VGPU_OP_ROPE_LLAMA3, rope);
    seed("rope_llama3", Mode::protected_mode, b);
  }
  {
    CmdbufBuilder b;
    b.dma(HIX_VGPU_OP_DMA_IN, tref(kBufA, HIX_VGPU_DT_F32), {.gpa = kExtent0, .bytes = 4096});
    b.fill(tref(kBufB, HIX_VGPU_DT_I32), 16, 7);
    b.dma(HIX_VGPU_OP_DMA_OUT, tref(kBufB, HIX_VGPU_DT_I32),
          {.gpa = kExtent0 + kExtentBytes, .bytes = 64});
    seed("plain_dma", Mode::plain, b);
  }
  {
    CmdbufBuilder b;
    b.dma_peer(HIX_VGPU_OP_DMA_IN_DECRYPT_PEER, tref(kBufA, HIX_VGPU_DT_BF16),
               {.disk = 0, .offset = 0, .bytes = 4096}, {.tensor_id = 3, .key_slot = 2});
    b.dma_peer(HIX_VGPU_OP_DMA_IN_DECRYPT_PEER, tref(kBufB, HIX_VGPU_DT_F32),
               {.disk = 1, .offset = 8192, .bytes = 1024}, {.tensor_id = 12, .key_slot = 0});
    seed("peer_decrypt", Mode::protected_mode, b);
  }
  {
    CmdbufBuilder b;
    b.dma_peer(HIX_VGPU_OP_DMA_IN_PEER, tref(kBufA, HIX_VGPU_DT_F32),
               {.disk = 1, .offset = 4096, .bytes = 4096}, {});
    seed("peer_plain", Mode::plain, b);
  }
  return 0;
}
